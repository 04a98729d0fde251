"""``mobilebert finetune``: fine-tune a model directory (or a random init) on a GLUE task or SQuAD and keep the
best dev checkpoint as a model directory that ``evaluate``, ``predict`` and ``export`` read on their own."""
from __future__ import annotations

import contextlib
import sys

from mobilebert_tf.argtypes import (int_range, non_negative_float, non_negative_int, positive_float, positive_int,
                                    probability)
from mobilebert_tf.fileio import lock_dir
from mobilebert_tf.training.configs import parse_overrides  # also imported from here by export/cli.py

HELP = "fine-tune on a GLUE task or SQuAD, keeping the best dev checkpoint"


@contextlib.contextmanager
def _op_determinism(enabled: bool):
    """TF's deterministic kernels for the run (GPU reductions; CPU runs are deterministic already), then the
    previous setting back: it is process-wide and makes unseeded random ops raise, which must not leak into
    other work in the same process (``cli.main`` called from Python, tests)."""
    from tensorflow.python.framework import config as tf_config  # disable_op_determinism has no public alias

    was = tf_config.is_op_determinism_enabled()
    if enabled and not was:
        tf_config.enable_op_determinism()
    try:
        yield
    finally:
        if enabled and not was:
            tf_config.disable_op_determinism()


def configure(parser):
    """Flags of ``mobilebert finetune`` (docs/finetuning.md)."""
    from mobilebert_tf.config import PRESETS
    from mobilebert_tf.finetuning.tasks import TASK_NAMES

    parser.add_argument("--task", required=True, help=f"one of: {', '.join(TASK_NAMES)}")
    parser.add_argument("--data", help="GLUE root / task folder / .tsv, or SQuAD folder / .json / .zip "
                                       "(default: the shared data's glue/ or squad/)")
    parser.add_argument("--init", required=True, metavar="MODEL_DIR|random",
                        help="a model directory (pre-trained, distilled, imported or fine-tuned) or 'random'")
    parser.add_argument("--out", required=True, metavar="MODEL_DIR", help="where the best checkpoint goes")
    parser.add_argument("--preset", default="mobilebert", choices=list(PRESETS),
                        help="architecture for --init random (default: %(default)s)")
    parser.add_argument("--override", action="append", metavar="KEY=VALUE",
                        help="config field override, repeatable (e.g. num_hidden_layers=4, "
                             "attention_probs_dropout_prob=0.0)")
    g = parser.add_argument_group("training (defaults: the task's, see docs/finetuning.md)")
    g.add_argument("--epochs", type=positive_int)
    g.add_argument("--lr", type=positive_float, help="peak learning rate")
    g.add_argument("--batch-size", type=positive_int)
    g.add_argument("--seq-len", type=int_range(3), help="default 128 (GLUE), 384 (SQuAD)")
    g.add_argument("--seed", type=non_negative_int, default=0)
    g.add_argument("--warmup", type=probability, default=0.1, help="warmup proportion of the steps (default 0.1)")
    g.add_argument("--weight-decay", type=non_negative_float, default=0.01)
    g.add_argument("--max-steps", type=positive_int, help="stop after this many steps (evaluating there)")
    g.add_argument("--eval-batch-size", type=positive_int, default=64)
    g.add_argument("--no-deterministic", action="store_true",
                   help="allow non-deterministic kernels (faster on GPU; CPU runs are deterministic anyway)")
    d = parser.add_argument_group("data")
    d.add_argument("--train-file", help="train .tsv / .json instead of the one in --data")
    d.add_argument("--dev-file", help="dev .tsv / .json instead of the one in --data")
    d.add_argument("--holdout-articles", type=positive_int, metavar="N",
                   help="SQuAD without a train file: dev = the dev file's first N articles, train = the rest")
    d.add_argument("--max-train-examples", type=positive_int, help="a seeded random sample of the train set")
    d.add_argument("--max-eval-examples", type=positive_int, help="the first N dev examples")
    d.add_argument("--doc-stride", type=positive_int, default=128)
    d.add_argument("--max-query-length", type=positive_int, default=64)
    d.add_argument("--vocab", help="vocab.txt (default: the --init directory's, else the BERT uncased vocab)")
    d.add_argument("--cased", action="store_true", help="do not lower-case (cased vocab)")
    parser.add_argument("--qat", action="store_true",
                        help="quantization-aware training (ReLU models: the mobilebert / mobilebert_qat presets); "
                             "export the result with mobilebert export --quantize qat")
    parser.add_argument("--overwrite", action="store_true", help="replace a model already in --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    """Run ``mobilebert finetune`` (docs/finetuning.md) holding the lock of --out; returns the exit code."""
    with lock_dir(args.out):  # one writer per output directory ("DIR is in use by PID n")
        return _run(args)

def _run(args) -> int:
    from mobilebert_tf.finetuning.pipeline import finetune
    from mobilebert_tf.finetuning.tasks import get_finetune_task
    from mobilebert_tf.finetuning.trainer import FinetuneConfig

    task = get_finetune_task(args.task)
    config = FinetuneConfig.for_task(task, epochs=args.epochs, learning_rate=args.lr, batch_size=args.batch_size,
                                     seq_len=args.seq_len, seed=args.seed, warmup_proportion=args.warmup,
                                     weight_decay=args.weight_decay, max_steps=args.max_steps,
                                     eval_batch_size=args.eval_batch_size, doc_stride=args.doc_stride,
                                     max_query_length=args.max_query_length)
    overrides = parse_overrides(args.override)
    with _op_determinism(not args.no_deterministic):
        result = finetune(task, init=args.init, out_dir=args.out, data=args.data, config=config, preset=args.preset,
                          config_overrides=overrides, vocab=args.vocab, lowercase=False if args.cased else None,
                          train_file=args.train_file, dev_file=args.dev_file, holdout_articles=args.holdout_articles,
                          max_train_examples=args.max_train_examples, max_eval_examples=args.max_eval_examples,
                          overwrite=args.overwrite, qat=args.qat, progress=not args.no_progress)
    best = result.best
    print(f"best: epoch {best['epoch']} (step {best['step']}), dev "
          + ", ".join(f"{k} {v:.4f}" for k, v in best["dev"].items() if k in task.metrics))
    from mobilebert_tf.finetuning.modeling import read_model_info

    export_hint = "export --quantize qat" if read_model_info(result.out_dir).get("qat") else "export"
    print(f"saved {result.out_dir} ({result.total_steps} steps, {result.train_seconds:.0f} s); "
          f"next: mobilebert evaluate --model {result.out_dir} | predict | {export_hint}")
    sys.stdout.flush()
    return 0
