"""The ``mobilebert`` console command. Subcommands live in their own modules, imported lazily so that
``mobilebert --help`` does not start TensorFlow."""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from mobilebert_tf.errors import USER_OS_ERRNOS, MobileBertError, path_error

# name -> (module, one-line help). Modules define configure(parser) and run(args) -> exit code.
COMMANDS: dict[str, tuple[str, str]] = {
    "info": ("mobilebert_tf.commands.info", "parameter and FLOP counts of a preset"),
    "demo": ("mobilebert_tf.commands.demo", "the end-to-end demo (README's first command)"),
    "create-vocab": ("mobilebert_tf.commands.create_vocab", "learn a WordPiece vocab from text files"),
    "create-pretraining-data": ("mobilebert_tf.commands.create_pretraining_data",
                                "MLM + NSP TFRecords from a text corpus"),
    "squad-eval": ("mobilebert_tf.commands.squad_eval", "official SQuAD v1.1/v2.0 evaluation of predictions"),
    "import": ("mobilebert_tf.commands.import_model", "import a Google TF1 or HF safetensors checkpoint"),
    "export-hf": ("mobilebert_tf.commands.export_hf", "write a model directory as HF config.json + model.safetensors"),
    "export": ("mobilebert_tf.export.cli", "export a model to TFLite (float/fp16/dynamic/int8/qat) with metadata"),
    "benchmark": ("mobilebert_tf.benchmarks.cli", "latency of .tflite models on the host or an Android phone (adb)"),
    "finetune": ("mobilebert_tf.commands.finetune", "fine-tune on a GLUE task or SQuAD, keeping the best dev checkpoint"),
    "evaluate": ("mobilebert_tf.commands.evaluate", "official dev metrics of a fine-tuned model or a predictions file"),
    "predict": ("mobilebert_tf.commands.predict", "classify text / answer questions with a fine-tuned model"),
    "pretrain": ("mobilebert_tf.commands.pretrain", "pre-train a model on MLM + NSP data with LAMB"),
    "distill": ("mobilebert_tf.commands.distill", "distill a student from a teacher (progressive/joint/auxiliary)"),
    "evaluate-pretraining": ("mobilebert_tf.commands.evaluate_pretraining",
                             "held-out masked-LM loss/accuracy and NSP accuracy of a pre-training model"),
    "web-demo": ("mobilebert_tf.commands.web_demo", "serve the browser demo (LiteRT.js) for exported models"),
}



def build_parser(load: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mobilebert", description="MobileBERT in TensorFlow/Keras: "
                                     "models, data, distillation, TFLite export and benchmarks.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == load:
            importlib.import_module(module).configure(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    command = next((a for a in argv if not a.startswith("-")), None)
    if command is not None and command not in COMMANDS:
        print(f"mobilebert: unknown command {command!r}; choose one of: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    if command is not None:
        try:
            importlib.import_module(COMMANDS[command][0])
        except ModuleNotFoundError as e:
            if e.name == COMMANDS[command][0]:
                print(f"mobilebert: command {command!r} is not available in this version", file=sys.stderr)
                return 2
            raise
    parser = build_parser(load=command)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    module = importlib.import_module(COMMANDS[args.command][0])
    try:
        return int(module.run(args) or 0)
    except MobileBertError as e:  # the user's input or environment: one message, no traceback
        print(f"mobilebert {args.command}: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # a filesystem fault no boundary converted: still the environment's, not our bug
        if e.errno not in USER_OS_ERRNOS and not isinstance(e, FileNotFoundError):
            raise
        print(f"mobilebert {args.command}: error: {e if e.errno is None else path_error(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"mobilebert {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
