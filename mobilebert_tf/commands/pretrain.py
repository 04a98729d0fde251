"""``mobilebert pretrain``: MLM + NSP pre-training with LAMB (the IB-BERT teacher, or a student baseline).

    mobilebert pretrain --preset ib_bert_large --data data/wiki --out runs/teacher --steps 100000 --batch-size 256
    mobilebert pretrain ... --resume            # continue from the latest checkpoint in runs/teacher/checkpoints
"""
from __future__ import annotations

import os

from mobilebert_tf.argtypes import non_negative_float, non_negative_int, positive_float, positive_int
from mobilebert_tf.fileio import lock_dir

HELP = "pre-train a model on MLM + NSP data with LAMB"


def add_model_args(parser, *, what: str = "model") -> None:
    """``--num-layers`` and repeatable ``--override key=value`` (any MobileBertConfig field).

    ``training.configs.parse_overrides(args.override, args.num_layers)`` turns them into config fields.

    Args:
        parser: argparse.ArgumentParser. The command's parser.
        what: str. Which model the flags change, in their help (``model``, ``student``).

    Returns:
        None.

    Example:
        >>> import argparse
        >>> parser = argparse.ArgumentParser()
        >>> add_model_args(parser, what="student")
        >>> parser.parse_args(["--override", "hidden_dropout_prob=0.0"]).override
        ['hidden_dropout_prob=0.0']
    """
    parser.add_argument("--num-layers", type=positive_int, default=None, help=f"{what}: num_hidden_layers override")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help=f"{what}: set a config field, e.g. --override hidden_dropout_prob=0.0 (repeatable)")


def add_run_args(parser) -> None:
    """Flags shared by ``pretrain`` and ``distill``: batch, optimizer, seed, checkpoints, strategy.

    Also ``--data``, ``--out``, ``--resume``, ``--stop-at``, ``--no-progress`` and the held-out evaluation
    flags (``--eval-data``, ``--eval-every``, ``--eval-examples``); the optimizer defaults are
    ``OptimizerConfig``'s (docs/training.md).

    Args:
        parser: argparse.ArgumentParser. The command's parser.

    Returns:
        None.

    Example:
        >>> import argparse
        >>> parser = argparse.ArgumentParser()
        >>> add_run_args(parser)
        >>> parser.parse_args(["--data", "data/wiki", "--out", "runs/x"]).batch_size
        256
    """
    from mobilebert_tf.training.distribute import STRATEGY_KINDS
    from mobilebert_tf.training.pretrain import OptimizerConfig

    o = OptimizerConfig()
    parser.add_argument("--data", required=True, metavar="DIR", help="create-pretraining-data output directory")
    parser.add_argument("--out", required=True, metavar="MODEL_DIR",
                        help="run directory: checkpoints/, logs/ and, at the end, the model")
    parser.add_argument("--batch-size", type=positive_int, default=256, help="global batch size (default: %(default)s)")
    parser.add_argument("--lr", type=positive_float, default=o.learning_rate,
                        help="peak LAMB learning rate (default: %(default)s)")
    parser.add_argument("--weight-decay", type=non_negative_float, default=o.weight_decay,
                        help="LAMB weight decay, not on norms and biases (default: %(default)s)")
    parser.add_argument("--clip-norm", type=positive_float, default=o.clip_norm,
                        help="global gradient-norm clipping (default: %(default)s)")
    parser.add_argument("--no-bias-correction", action="store_true",
                        help="LAMB without Adam's bias correction, as in Google's release")
    parser.add_argument("--seed", type=non_negative_int, default=0,
                        help="seed of initialization and data order (default: %(default)s)")
    parser.add_argument("--no-shuffle", action="store_true", help="read the examples in the order written")
    parser.add_argument("--checkpoint-every", type=positive_int, default=1000, metavar="N",
                        help="save a checkpoint every N steps (default: %(default)s)")
    parser.add_argument("--keep-checkpoints", type=positive_int, default=3, help="checkpoints kept (default: %(default)s)")
    parser.add_argument("--log-every", type=positive_int, default=10, metavar="N",
                        help="TensorBoard / metrics.jsonl every N steps (default: %(default)s)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the latest checkpoint in --out (starts fresh when there is none)")
    parser.add_argument("--stop-at", type=positive_int, default=None, metavar="STEP",
                        help="save a checkpoint and stop after global step STEP (continue later with --resume)")
    parser.add_argument("--strategy-kind", choices=STRATEGY_KINDS, default="default",
                        help="tf.distribute strategy: default (one device), mirrored (local GPUs), multiworker "
                             "(TF_CONFIG), tpu (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--eval-data", default=None, metavar="DIR",
                        help="held-out create-pretraining-data directory: log held-out MLM loss/accuracy and NSP "
                             "accuracy (TensorBoard eval/*, metrics.jsonl) at the start, every --eval-every steps "
                             "and at the end")
    parser.add_argument("--eval-every", type=positive_int, default=None, metavar="N",
                        help="held-out evaluation every N global steps (default: start and end only)")
    parser.add_argument("--eval-examples", type=positive_int, default=None, metavar="N",
                        help="evaluate on the first N held-out examples (default: all)")


def optimizer_config(args):
    """The LAMB settings of the parsed ``add_run_args`` flags.

    Args:
        args: argparse.Namespace. With ``lr``, ``weight_decay``, ``clip_norm`` and ``no_bias_correction``.

    Returns:
        OptimizerConfig. Learning rate, weight decay, clip norm and bias correction from the flags.

    Example:
        >>> args = parser.parse_args(["--data", "d", "--out", "o", "--lr", "1e-3"])  # parser: see add_run_args
        >>> optimizer_config(args).learning_rate
        0.001
    """
    from mobilebert_tf.training.pretrain import OptimizerConfig

    return OptimizerConfig(learning_rate=args.lr, weight_decay=args.weight_decay, clip_norm=args.clip_norm,
                           bias_correction=not args.no_bias_correction)


def print_summary(result, command: str) -> None:
    """Print the end of a ``pretrain`` / ``distill`` run: the last held-out metrics, if any, then where it stands.

    A finished run prints ``COMMAND: done at step N (last metrics); model saved to OUT``; a run stopped at
    ``--stop-at`` prints where its checkpoint is and to continue with ``--resume``.

    Args:
        result: TrainResult (or the distiller's result): ``history``, ``evals``, ``state``, ``finished``,
            ``out_dir``.
        command: str. The command name that starts each line.

    Returns:
        None.

    Example:
        >>> print_summary(result, "pretrain")  # doctest: +SKIP
        pretrain: done at step 10000 (loss 2.913, ...); model saved to runs/teacher
    """
    last = result.history[-1] if result.history else {}
    shown = ", ".join(f"{k} {v:.4g}" for k, v in last.items() if isinstance(v, float) and k != "lr")
    step = result.state["global_step"]
    if result.evals:
        last_eval = result.evals[-1]
        print(f"{command}: held-out at step {last_eval['step']}: " + ", ".join(
            f"{k} {v:.4g}" for k, v in last_eval["eval"].items() if isinstance(v, float)))
    if result.finished:
        print(f"{command}: done at step {step}{' (' + shown + ')' if shown else ''}; model saved to {result.out_dir}")
    else:
        print(f"{command}: stopped at step {step}{' (' + shown + ')' if shown else ''}; checkpoint in "
              f"{os.path.join(result.out_dir, 'checkpoints')}, continue with --resume")


def configure(parser):
    """Flags of ``mobilebert pretrain`` (docs/training.md): preset or --init, steps, warmup, vocab, and
    ``add_model_args`` / ``add_run_args``."""
    from mobilebert_tf.config import PRESETS

    src = parser.add_mutually_exclusive_group()
    src.add_argument("--preset", default="mobilebert", choices=list(PRESETS),
                     help="model preset (default: %(default)s)")
    src.add_argument("--init", metavar="MODEL_DIR", default=None,
                     help="start from this model directory's weights (and config) instead of random weights")
    add_model_args(parser)
    parser.add_argument("--steps", type=positive_int, default=10_000, help="training steps (default: %(default)s)")
    parser.add_argument("--warmup", type=non_negative_int, default=None, metavar="STEPS",
                        help="linear warmup steps (default: 10%% of --steps)")
    parser.add_argument("--vocab", default=None, help="vocab.txt to store with the model (default: the data's)")
    add_run_args(parser)


def locked_run(args, train) -> int:
    """Make the strategy, then ``train(args, strategy)`` holding the lock of --out on the chief (other workers
    write to scratch folders and must not take it). Shared by ``pretrain`` and ``distill``.

    Args:
        args: argparse.Namespace. The parsed flags (``strategy_kind`` and ``out`` are read here).
        train: callable ``(args, strategy) -> int``. The command's training function.

    Returns:
        int. ``train``'s exit code.

    Raises:
        UsageError: from ``make_strategy`` (an unknown kind, multiworker without ``TF_CONFIG``).
        DirectoryInUseError: another process holds the lock of ``--out``.

    Example:
        >>> locked_run(args, _train)  # doctest: +SKIP
        0
    """
    from mobilebert_tf.training.distribute import make_strategy, worker_info

    strategy = make_strategy(args.strategy_kind)  # first: multi-worker and TPU set-up precede other TF work
    if not worker_info(strategy)[0]:
        return train(args, strategy)
    with lock_dir(args.out):
        return train(args, strategy)


def run(args) -> int:
    """Run ``mobilebert pretrain`` (docs/training.md) through ``locked_run``; returns the exit code."""
    return locked_run(args, _train)


def _train(args, strategy) -> int:
    from mobilebert_tf.config import MobileBertConfig
    from mobilebert_tf.training.configs import parse_overrides
    from mobilebert_tf.training.pretrain import PretrainConfig, data_vocab, pretrain

    overrides = parse_overrides(args.override, args.num_layers)
    if args.init:
        model_config = MobileBertConfig.from_json(os.path.join(args.init, "config.json")).replace(**overrides)
    else:
        _, size = data_vocab(args.data)
        if size is not None and "vocab_size" not in overrides:
            overrides["vocab_size"] = size  # the data's vocab decides unless given
        model_config = MobileBertConfig.from_preset(args.preset, **overrides)
    config = PretrainConfig(steps=args.steps, batch_size=args.batch_size, warmup_steps=args.warmup,
                            optimizer=optimizer_config(args), seed=args.seed, shuffle=not args.no_shuffle,
                            checkpoint_every=args.checkpoint_every, keep_checkpoints=args.keep_checkpoints,
                            log_every=args.log_every)
    result = pretrain(model_config, args.data, args.out, config, resume=args.resume, strategy=strategy,
                      init_from=args.init, vocab_file=args.vocab, stop_at=args.stop_at,
                      progress=False if args.no_progress else None, eval_data=args.eval_data,
                      eval_every=args.eval_every, eval_examples=args.eval_examples)
    print_summary(result, "pretrain")
    return 0
