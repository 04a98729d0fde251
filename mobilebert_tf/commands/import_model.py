"""``mobilebert import``: a Google TF1 checkpoint or an HF safetensors directory -> our model directory.

    mobilebert import --from tf1 uncased_L-24_H-128_B-512_A-4_F-4_OPT --out models/mobilebert
    mobilebert import --from hf ./mobilebert-uncased --out models/mobilebert --task classifier --num-labels 3
"""
from __future__ import annotations

import os

from mobilebert_tf.argtypes import positive_int
from mobilebert_tf.errors import UsageError
from mobilebert_tf.fileio import lock_dir

HELP = "import a Google TF1 or HF safetensors checkpoint"


def configure(parser):
    """Flags of ``mobilebert import`` (docs/checkpoints.md)."""
    from mobilebert_tf.config import ATTENTION_MASK_MODES
    from mobilebert_tf.model_tasks import IMPORT_NAMES

    parser.add_argument("--from", dest="source_format", choices=("tf1", "hf"), required=True,
                        help="tf1: Google's release (bert_config.json + checkpoint); hf: config.json + model.safetensors")
    parser.add_argument("src", help="checkpoint directory, or (tf1) a checkpoint prefix such as DIR/model.ckpt-1000")
    parser.add_argument("--out", required=True, help="our model directory to write")
    parser.add_argument("--task", choices=("auto", *IMPORT_NAMES), default="auto",
                        help="model to build (default: from the checkpoint's heads)")
    parser.add_argument("--num-labels", type=positive_int, default=None,
                        help="classifier labels (default: from the checkpoint's head, else 2)")
    parser.add_argument("--bert-config", default=None, help="tf1: Google config (default: SRC/bert_config.json)")
    parser.add_argument("--attention-mask-mode", choices=ATTENTION_MASK_MODES, default=None,
                        help="store this mask mode in the imported config (default: google, the "
                             "quantization-friendly -6 masking; additive matches HF on padded inputs)")
    parser.add_argument("--overwrite", action="store_true", help="replace a model already in --out")


def load_model(src: str, fmt: str | None = None, *, task: str = "auto", num_labels: int | None = None,
               bert_config: str | None = None, **config_overrides):
    """Load any supported checkpoint into the model class of ``task`` (the checkpoint is read once).

    Args:
        src: a model directory (ours or HF), a TF1 directory, prefix or ``.index`` file.
        fmt: the format ``src`` must have (``tf1``, ``hf``, ``mobilebert_tf``), or None for any.
        task: an import task name (``pretraining``, ``classifier``, ``qa``), or ``auto``: the heads the
            checkpoint holds.
        num_labels: classifier width (default: the checkpoint's head, else 2).
        bert_config: TF1 only: the ``bert_config.json``.
        **config_overrides: config fields to replace.

    Returns:
        ``(model, report)``: the loader's report plus ``format`` and ``task`` (the import name).

    Example:
        >>> model, report = load_model("uncased_L-24_H-128_B-512_A-4_F-4_OPT", "tf1")
        >>> report["task"], type(model).__name__
        ('pretraining', 'MobileBertForPreTraining')
    """
    from mobilebert_tf.checkpoints import loader
    from mobilebert_tf.model_tasks import IMPORT_NAMES, get_model_task

    found = loader.detect_format(src)
    if fmt is not None and found != fmt:
        from mobilebert_tf.weights import CheckpointError

        raise CheckpointError(f"{src}: not a {fmt} checkpoint (it looks like {found})")
    if bert_config is not None and found != "tf1":
        raise UsageError("--bert-config applies to TF1 checkpoints only")
    if task != "auto" and task not in IMPORT_NAMES:
        raise UsageError(f"unknown task {task!r}; choose one of {', '.join(IMPORT_NAMES)}")
    model_task = get_model_task(task if task != "auto" else "pretraining")
    if num_labels is not None and model_task.task_type != "classification" and task != "auto":
        raise UsageError(f"--num-labels applies to the classifier task, not {task!r}")
    ckpt = loader.read(src, bert_config=bert_config)
    if task == "auto":
        model_task = get_model_task(ckpt.model_class or "pretraining")
        if num_labels is not None and model_task.task_type != "classification":
            raise UsageError(f"--num-labels applies to the classifier task, not {model_task.import_name!r}")
    init = {} if num_labels is None else {"num_labels": num_labels}
    model, report = loader.build_from(model_task.model_class, ckpt, **config_overrides, **init)
    return model, {**report, "format": found, "task": model_task.import_name}


def run(args) -> int:
    """Run ``mobilebert import`` (docs/checkpoints.md) holding the lock of --out; returns the exit code."""
    if os.path.abspath(os.fspath(args.src)) == os.path.abspath(os.fspath(args.out)):
        raise UsageError("--out must differ from the source")
    with lock_dir(args.out):  # one writer per output directory ("DIR is in use by PID n")
        return _run(args)


def _run(args) -> int:
    from mobilebert_tf.modeldir import CONFIG_FILE

    src, out = os.fspath(args.src), os.fspath(args.out)
    if os.path.isfile(os.path.join(out, CONFIG_FILE)) and not args.overwrite:
        raise UsageError(f"{out} already holds a model (config.json); pass --overwrite to replace it")
    overrides = {"attention_mask_mode": args.attention_mask_mode} if args.attention_mask_mode else {}
    model, report = load_model(src, args.source_format, task=args.task, num_labels=args.num_labels,
                               bert_config=args.bert_config, **overrides)
    vocab = model.model_dir.vocab_file  # the tokenizer travels with the model
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
