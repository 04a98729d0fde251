"""``mobilebert export``: a model directory or a random-init preset -> .tflite (+ report)."""
from __future__ import annotations

import json
from pathlib import Path

from mobilebert_tf.argtypes import int_range, non_negative_int, positive_int, probability
from mobilebert_tf.fileio import check_output_file, lock_dir

HELP = "export a model to TFLite"


def configure(parser):
    """Add ``mobilebert export``'s flags to ``parser``.

    Args:
      parser: the subcommand's ``argparse.ArgumentParser``.
    Example:
      ``configure(subparsers.add_parser("export", help=HELP))``
    """
    from mobilebert_tf.export.exporter import TASKS
    from mobilebert_tf.export.quantization import QUANTIZE_MODES
    from mobilebert_tf.config import PRESETS
    from mobilebert_tf.paths import default_data_dir

    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="a model directory (save_pretrained / finetune output)")
    src.add_argument("--preset", choices=list(PRESETS), help="a preset, with --random-init (latency work)")
    parser.add_argument("--random-init", action="store_true", help="random weights for --preset")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed of the random init (default: %(default)s)")
    parser.add_argument("--override", action="append", metavar="KEY=VALUE",
                        help="config field for --preset, repeatable (e.g. num_hidden_layers=12)")
    parser.add_argument("--task", choices=TASKS, help="default: the model directory's task (qa for --preset)")
    parser.add_argument("--seq-len", type=_seq_len, help="tokens (at least 3), or 'dynamic' (classifier/encoder: inputs "
                        "[1, -1] run at each text's length, at most the position table less one); default: 128 for "
                        "classifier/encoder, 384 for qa")
    parser.add_argument("--quantize", choices=QUANTIZE_MODES, default="none")
    parser.add_argument("--per-channel", action="store_true",
                        help="dynamic/int8/qat: per-channel weight scales (default per tensor; per channel adds "
                             "about 1 MB (dynamic) or 2 MB (int8) to full-size MobileBERT)")
    parser.add_argument("--out", required=True, help="output .tflite path")
    parser.add_argument("--num-labels", type=positive_int, default=2, help="classifier outputs for --preset (default 2)")
    parser.add_argument("--labels", help="comma-separated class names (default: the model's, else 0..n-1)")
    parser.add_argument("--vocab", help="vocab.txt (default: the model directory's, else the BERT uncased vocab)")
    parser.add_argument("--data", default=str(default_data_dir()), help="shared data folder (default: %(default)s)")
    parser.add_argument("--calibration-data", help="int8 calibration inputs: .txt lines, GLUE .tsv or SQuAD .json "
                                                    "(default: the task's train file)")
    parser.add_argument("--calibration-examples", type=positive_int, default=100)
    parser.add_argument("--gate-data", help="accuracy-gate inputs (default: SST-2 dev, or SQuAD dev for qa)")
    parser.add_argument("--gate-examples", type=positive_int, default=100)
    parser.add_argument("--threshold", type=probability, help="minimum agreement (default 0.99; 0.97 for int8/qat)")
    parser.add_argument("--allow-accuracy-drop", action="store_true", help="write the model even below threshold")
    parser.add_argument("--no-metadata", action="store_true", help="no Task Library metadata / associated files")
    parser.add_argument("--android-assets", metavar="DIR", help="after a successful export, copy the .tflite into DIR "
                        "and update DIR/models.json (the Android demo's manifest, see android_demo/README.md)")
    parser.add_argument("--web-assets", metavar="DIR", help="after a successful export, copy the .tflite into DIR and "
                        "update DIR/models.json (same manifest) for the browser demo: mobilebert web-demo --models DIR")


def _seq_len(text):
    import argparse

    from mobilebert_tf.export.serving import DYNAMIC, parse_seq_len

    try:
        value = parse_seq_len(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return value if value == DYNAMIC else int_range(3)(text)


def load_for_export(args):
    """The model to export, from --model or --preset; sets ``args.glue_task`` to the model directory's
    fine-tuning task (its calibration and gate data) and ``args.seq_len``, when not given, to the length
    it was fine-tuned at.

    Args:
      args: the parsed ``mobilebert export`` flags.
    Returns:
      (model, task, vocab_file, labels, description).
    Example:
      ``model, task, vocab, labels, description = load_for_export(args)``
    """
    import tf_keras as keras

    from mobilebert_tf.export import ExportError
    from mobilebert_tf import MobileBertConfig
    from mobilebert_tf.model_tasks import get_model_task
    from mobilebert_tf.modeldir import ModelDir
    from mobilebert_tf.models import MODEL_CLASSES
    from mobilebert_tf.paths import bert_vocab

    if args.preset:
        if not args.random_init:
            raise ExportError("--preset needs --random-init (or pass --model DIR for trained weights)")
        from mobilebert_tf.export.exporter import MODEL_CLASS_FOR_TASK

        from mobilebert_tf.training.configs import parse_overrides

        task = args.task or "qa"
        keras.utils.set_random_seed(args.seed)
        cls = MODEL_CLASSES[MODEL_CLASS_FOR_TASK[task]]
        config = MobileBertConfig.from_preset(args.preset, **parse_overrides(args.override))
        model = cls(config, num_labels=args.num_labels) if task == "classifier" else cls(config)
        model.build_with_dummy()
        labels = args.labels.split(",") if args.labels else None
        return model, task, args.vocab or str(bert_vocab(args.data)), labels, f"{args.preset} (random init)"
    if args.override:
        raise ExportError("--override applies to --preset --random-init only; a model directory exports with its "
                          "own config.json")
    path = Path(args.model)
    md = ModelDir.read(path)
    saved_task = get_model_task(md.task_type).export_name if md.task_type in ("classification", "qa") else "encoder"
    task = args.task or saved_task
    if task != "encoder" and task != saved_task:
        raise ExportError(f"{path} holds a {md.task_type or 'pre-training/encoder'} model; it cannot be "
                          f"exported as --task {task} (export it as --task {saved_task} or encoder)")
    cls = MODEL_CLASSES.get(md.model_class or "MobileBertForPreTraining", MODEL_CLASSES["MobileBertForPreTraining"])
    model = cls.from_pretrained(path)
    labels = args.labels.split(",") if args.labels else md.labels
    args.glue_task = md.task if isinstance(md.task, str) else None
    if args.seq_len is None and md.seq_len and task == saved_task:
        args.seq_len = int(md.seq_len)  # the length it was fine-tuned at
    vocab = args.vocab or md.vocab_file or str(bert_vocab(args.data))
    return model, task, vocab, labels, f"{path.name} ({md.model_class or 'model'})"


def run(args) -> int:
    """Run ``mobilebert export``: export, print the gate's result, install the demo assets asked for.

    Args:
      args: the parsed flags.
    Returns:
      0 (errors are raised as ``MobileBertError``, which the CLI prints).
    Example:
      ``run(parser.parse_args(["export", "--model", "runs/sst2", "--out", "m.tflite"]))``
    """
    out = check_output_file(args.out)  # a folder, or an unwritable place, fails now, not after the conversion
    with lock_dir(out.parent, lock_name=f".{out.name}.lock", clean=False):  # one writer per output file
        return _run(args)


def _run(args) -> int:
    from mobilebert_tf.export.exporter import ExportOptions, export_tflite
    from mobilebert_tf.tokenization import BertTokenizer

    if args.android_assets or args.web_assets:  # fail before the export when a manifest cannot be updated
        from mobilebert_tf.export import android_assets
        from mobilebert_tf.export.serving import DYNAMIC

        for assets in (args.android_assets, args.web_assets):
            if assets:  # the browser demo reads the same manifest and the vocab/labels packed in the model
                android_assets.check_manifest(assets, with_metadata=not args.no_metadata)
    model, task, vocab, labels, description = load_for_export(args)
    if args.android_assets or args.web_assets:
        android_assets.check_task(task, dynamic=args.seq_len == DYNAMIC)
    tokenizer = BertTokenizer(vocab)
    options = ExportOptions(seq_len=args.seq_len, quantize=args.quantize, per_channel=args.per_channel,
                            tokenizer=tokenizer, vocab_file=vocab, labels=labels, data_dir=args.data,
                            calibration_file=args.calibration_data, calibration_examples=args.calibration_examples,
                            gate_file=args.gate_data, gate_examples=args.gate_examples, threshold=args.threshold,
                            allow_accuracy_drop=args.allow_accuracy_drop, with_metadata=not args.no_metadata,
                            description=description, glue_task=getattr(args, "glue_task", None))
    result = export_tflite(model, task, args.out, options)
    fallback = None
    if (args.android_assets or args.web_assets) and args.seq_len == DYNAMIC:
        # the apps run this fixed-length export where the dynamic one cannot run (LiteRT.js, a failing delegate)
        fallback = export_tflite(model, task, android_assets.fallback_path(args.out), options,
                                 seq_len=android_assets.FALLBACK_SEQ_LEN)
        print(f"wrote {fallback.path} (fixed-length fallback, seq {fallback.seq_len})")
    r = result.report
    length = f"dynamic <= {r['max_seq_len']}" if r["seq_len"] == "dynamic" else result.seq_len
    print(f"wrote {result.path} ({result.size_bytes / 1e6:.1f} MB, {task}, seq {length}, {args.quantize})")
    print(f"accuracy gate on {r['examples']} examples: agreement {r['agreement']:.2%} (threshold "
          f"{r['threshold']:.0%}), max abs diff {json.dumps(r['max_abs_diff'])}")
    if "metric" in r:
        print(f"{r['metric']['name']}: float {json.dumps(r['metric']['float'])}  tflite {json.dumps(r['metric']['tflite'])}")
    print(f"report: {args.out}.report.json")
    if args.android_assets:
        entry = android_assets.install(result, args.android_assets, fallback=fallback)
        print(f"android assets: {entry['file']} ({entry['task']}, seq {entry['seq_len']}) in "
              f"{android_assets.manifest_path(args.android_assets)}")
    if args.web_assets:
        entry = android_assets.install(result, args.web_assets, fallback=fallback)
        print(f"web assets: {entry['file']} in {android_assets.manifest_path(args.web_assets)}; serve them with "
              f"`mobilebert web-demo --models {args.web_assets}`")
    return 0
