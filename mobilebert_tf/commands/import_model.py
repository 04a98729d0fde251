"""``mobilebert import``: a Google TF1 checkpoint or an HF safetensors directory -> our model directory.

    mobilebert import --from tf1 uncased_L-24_H-128_B-512_A-4_F-4_OPT --out models/mobilebert
    mobilebert import --from hf ./mobilebert-uncased --out models/mobilebert --task classifier --num-labels 3
"""
from __future__ import annotations

import json
import os
from mobilebert_tf.argtypes import positive_int
from mobilebert_tf.errors import UsageError
from mobilebert_tf.fileio import lock_dir

HELP = "import a Google TF1 or HF safetensors checkpoint"
#: --task -> our model class
TASKS = {"pretraining": "MobileBertForPreTraining", "classifier": "MobileBertForSequenceClassification",
         "qa": "MobileBertForQuestionAnswering"}
HF_TASKS = {"MobileBertForSequenceClassification": "classifier", "MobileBertForQuestionAnswering": "qa"}


def configure(parser):
    from mobilebert_tf.config import ATTENTION_MASK_MODES

    parser.add_argument("--from", dest="source_format", choices=("tf1", "hf"), required=True,
                        help="tf1: Google's release (bert_config.json + checkpoint); hf: config.json + model.safetensors")
    parser.add_argument("src", help="checkpoint directory, or (tf1) a checkpoint prefix such as DIR/model.ckpt-1000")
    parser.add_argument("--out", required=True, help="our model directory to write")
    parser.add_argument("--task", choices=("auto", *TASKS), default="auto",
                        help="model to build (default: from the checkpoint's heads)")
    parser.add_argument("--num-labels", type=positive_int, default=None,
                        help="classifier labels (default: from the checkpoint's head, else 2)")
    parser.add_argument("--bert-config", default=None, help="tf1: Google config (default: SRC/bert_config.json)")
    parser.add_argument("--attention-mask-mode", choices=ATTENTION_MASK_MODES, default=None,
                        help="store this mask mode in the imported config (default: google, the "
                             "quantization-friendly -6 masking; additive matches HF on padded inputs)")
    parser.add_argument("--overwrite", action="store_true", help="replace a model already in --out")


def detect_task(src: str, fmt: str, bert_config: str | None = None) -> str:
    """``pretraining``, ``classifier`` or ``qa`` from the heads a checkpoint holds."""
    from mobilebert_tf.checkpoints import tf1
    from mobilebert_tf.models import MODEL_INFO_FILE

    if fmt == "tf1":
        prefix, _ = tf1.resolve(src, bert_config)
        return tf1.detect_task(tf1.CheckpointReader(prefix).shapes)
    name = "config.json" if fmt == "hf" else MODEL_INFO_FILE
    try:
        with open(os.path.join(src, name), encoding="utf-8") as f:
            values = json.load(f)
    except (OSError, json.JSONDecodeError):
        return "pretraining"
    if fmt == "hf":
        return next((HF_TASKS[a] for a in values.get("architectures") or [] if a in HF_TASKS), "pretraining")
    by_class = {v: k for k, v in TASKS.items()}
    return by_class.get(values.get("model_class"), "pretraining")


def load_model(src: str, fmt: str | None = None, *, task: str = "auto", num_labels: int | None = None,
               bert_config: str | None = None, **config_overrides):
    """Load any supported checkpoint into the model class of ``task``. Returns ``(model, report)``."""
    from mobilebert_tf.checkpoints import detect_format, tf1
    from mobilebert_tf.models import MODEL_CLASSES

    found = detect_format(src)
    if fmt is not None and found != fmt:
        from mobilebert_tf.weights import CheckpointError

        raise CheckpointError(f"{src}: not a {fmt} checkpoint (it looks like {found})")
    if bert_config is not None and found != "tf1":
        raise UsageError("--bert-config applies to TF1 checkpoints only")
    task = detect_task(src, found, bert_config) if task == "auto" else task
    if task not in TASKS:
        raise UsageError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    if num_labels is not None and task != "classifier":
        raise UsageError(f"--num-labels applies to the classifier task, not {task!r}")
    cls = MODEL_CLASSES[TASKS[task]]
    init = {} if num_labels is None else {"num_labels": num_labels}
    if found == "tf1":
        model, report = tf1.load(cls, src, config_overrides=config_overrides, init_kwargs=init,
                                 bert_config=bert_config)
    else:
        model, report = cls.from_pretrained(src, **config_overrides, **init), {}
    return model, {"format": found, "task": task, **report}


def vocab_next_to(src: str, report: dict) -> str | None:
    folder = os.path.dirname(report["config"]) if "config" in report else (src if os.path.isdir(src) else
                                                                           os.path.dirname(src))
    path = os.path.join(folder or ".", "vocab.txt")
    return path if os.path.isfile(path) else None


def run(args) -> int:
    if os.path.abspath(os.fspath(args.src)) == os.path.abspath(os.fspath(args.out)):
        raise UsageError("--out must differ from the source")
    with lock_dir(args.out):  # one writer per output directory ("DIR is in use by PID n")
        return _run(args)

def _run(args) -> int:
    from mobilebert_tf.models import CONFIG_FILE

    src, out = os.fspath(args.src), os.fspath(args.out)
    if os.path.abspath(src) == os.path.abspath(out):
        raise UsageError("--out must differ from the source")
    if os.path.isfile(os.path.join(out, CONFIG_FILE)) and not args.overwrite:
        raise UsageError(f"{out} already holds a model (config.json); pass --overwrite to replace it")
    overrides = {"attention_mask_mode": args.attention_mask_mode} if args.attention_mask_mode else {}
    model, report = load_model(src, args.source_format, task=args.task, num_labels=args.num_labels,
                               bert_config=args.bert_config, **overrides)
    vocab = vocab_next_to(src, report)
    model.save_pretrained(out, vocab_file=vocab, metadata={"imported_from": {
        "format": report["format"], "source": os.path.abspath(report.get("prefix", src))}})
    print(f"imported {report['format']} checkpoint {report.get('prefix', src)} as {type(model).__name__} "
          f"({model.count_params():,} parameters) into {out}")
    if report.get("skipped"):
        print(f"  skipped {len(report['skipped'])} optimizer/step variable(s)")
    if report.get("unused"):
        print(f"  not used by the {report['task']} model: {len(report['unused'])} variable(s) of other heads")
    if vocab is None:
        print("  note: no vocab.txt next to the checkpoint; copy one into the model directory for tokenization")
    return 0
