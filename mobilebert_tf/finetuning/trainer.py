"""The fine-tuning loop: AdamW with linear warmup and decay, dev evaluation after every epoch, the best
checkpoint kept in the output directory, a tqdm progress bar and TensorBoard summaries.

The pieces are the training package's (docs/training.md): the schedule is ``training.schedules.WarmupLinearDecay``,
the weights without decay are ``training.optimizer.no_decay_variables``, the logs go through
``training.progress.MetricsLog`` and ``FinetuneConfig`` is a ``training.configs.JsonConfig``.

Output directory layout (``out_dir``)::

    config.json weights.safetensors model.json vocab.txt   the best checkpoint, a normal model directory
    history.json                                           per-epoch loss, dev metrics, time (rewritten each epoch)
    dev_predictions.json                                   the best checkpoint's dev predictions
    logs/                                                  TensorBoard event files (train/*, dev/*), metrics.jsonl
"""
from __future__ import annotations

import math
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from mobilebert_tf.data import DataError
from mobilebert_tf.errors import MobileBertError
from mobilebert_tf.fileio import atomic_write_json, path_errors
from mobilebert_tf.finetuning.tasks import FinetuneTask, TaskData
from mobilebert_tf.training.configs import JsonConfig, check_fields
from mobilebert_tf.training.schedules import WarmupLinearDecay

__all__ = ["FinetuneConfig", "FinetuneResult", "DivergedError", "make_optimizer", "task_loss", "train",
           "save_checkpoint", "MODEL_FILES"]


def _int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class FinetuneConfig(JsonConfig):
    """Hyper-parameters of one fine-tuning run. Defaults are Google's BERT/MobileBERT fine-tuning settings
    (docs/finetuning.md): AdamW, 10% warmup then linear decay to 0, weight decay 0.01 (not on norms and
    biases), gradient clipping at global norm 1.0; SQuAD seq 384, stride 128, query 64, answer 30.

    max_steps caps the run (short demos) below ``epochs`` full passes; the dev set is evaluated after every
    epoch and when the cap stops training mid-epoch. Invalid values are ConfigErrors naming the field.

    Args:
        epochs, learning_rate, batch_size, seq_len, seed: the run (learning_rate is the schedule's peak).
        warmup_proportion: the fraction of the steps spent warming up, in [0, 1).
        weight_decay, clip_norm: AdamW's decay (not on norms and biases) and the global-norm clip.
        max_steps: stop after this many steps (None: ``epochs`` full passes).
        eval_batch_size: the dev batch size.
        doc_stride, max_query_length, max_answer_length, n_best, null_threshold: SQuAD windows and decoding.
        log_every: TensorBoard / metrics.jsonl cadence in steps.

    Example:
        >>> config = FinetuneConfig.for_task(get_finetune_task("mrpc"), learning_rate=5e-5)
        >>> config.replace(epochs=5).to_json()
    """

    epochs: int = 3
    learning_rate: float = 5e-5
    batch_size: int = 32
    seq_len: int = 128
    seed: int = 0
    warmup_proportion: float = 0.1
    weight_decay: float = 0.01
    clip_norm: float = 1.0
    max_steps: int | None = None
    eval_batch_size: int = 64
    doc_stride: int = 128
    max_query_length: int = 64
    max_answer_length: int = 30
    n_best: int = 20
    null_threshold: float = 0.0
    log_every: int = 10

    def __post_init__(self):
        positive = "a positive integer"
        checks = {name: (_int(getattr(self, name)) and getattr(self, name) >= 1, positive)
                  for name in ("epochs", "batch_size", "seq_len", "eval_batch_size", "doc_stride",
                               "max_query_length", "max_answer_length", "n_best", "log_every")}
        checks.update({
            "max_steps": (self.max_steps is None or (_int(self.max_steps) and self.max_steps >= 1), positive),
            "seed": (_int(self.seed) and self.seed >= 0, "a non-negative integer"),
            "learning_rate": (_number(self.learning_rate) and self.learning_rate > 0, "a positive number"),
            "warmup_proportion": (_number(self.warmup_proportion) and 0 <= self.warmup_proportion < 1, "in [0, 1)"),
            "weight_decay": (_number(self.weight_decay) and self.weight_decay >= 0, "non-negative"),
            "clip_norm": (_number(self.clip_norm) and self.clip_norm > 0, "a positive number"),
            "null_threshold": (_number(self.null_threshold) and math.isfinite(self.null_threshold), "finite")})
        check_fields(self, checks)
        check_fields(self, {"seq_len": (self.seq_len >= 8, "at least 8")})

    @classmethod
    def for_task(cls, task: FinetuneTask, **changes) -> "FinetuneConfig":
        """The task's defaults with ``changes``.

        Args:
            task: the task; its ``defaults`` (epochs, learning rate, batch, sequence length) come first.
            **changes: field values; None keeps the task's default (unset CLI flags).

        Returns:
            The config.

        Raises:
            ConfigError: an unknown field or an invalid value.

        Example:
            >>> FinetuneConfig.for_task(get_finetune_task("squad1"), epochs=None, learning_rate=3e-5).seq_len
            384
        """
        values = {**task.defaults, **{k: v for k, v in changes.items() if v is not None}}
        cls._check_known(values)
        return cls(**values)


@dataclass(frozen=True)
class FinetuneResult:
    """What ``train`` returns.

    Args:
        history: one dict per evaluation (epoch, step, train_loss, dev metrics, score, seconds, best).
        best: the entry of the kept checkpoint.
        total_steps: the optimizer steps taken.
        train_seconds: wall time of training and evaluation.
        out_dir: where the best checkpoint is (None when not saving).
    """

    history: tuple[dict[str, Any], ...]
    best: dict[str, Any]
    total_steps: int
    train_seconds: float
    out_dir: str | None


def _keras():
    import tf_keras as keras

    return keras


def make_optimizer(model, config: FinetuneConfig, total_steps: int):
    """AdamW on the training package's warmup/linear-decay schedule, with BERT's settings.

    Adam's beta 0.9/0.999 and eps 1e-6 as BERT, global-norm clipping at ``config.clip_norm``, weight decay
    ``config.weight_decay`` except on ``no_decay_variables(model)`` (norm parameters and biases).

    Args:
        model: the built task model.
        config: the run's settings (learning rate, warmup proportion, weight decay, clip norm).
        total_steps: the optimizer steps of the run (the schedule reaches 0 after the last one).

    Returns:
        ``(optimizer, schedule)``: the tf-keras AdamW and its ``WarmupLinearDecay``.

    Example:
        >>> opt, schedule = make_optimizer(model, FinetuneConfig(), total_steps=1000)
        >>> schedule.value(0)  # 5e-5 * 1 / 100
        5e-07
    """
    from mobilebert_tf.training.optimizer import no_decay_variables

    keras = _keras()
    warmup = int(round(config.warmup_proportion * total_steps))
    schedule = WarmupLinearDecay(config.learning_rate, total_steps=total_steps, warmup_steps=warmup)
    # jit_compile=False: XLA compiling the update of every variable costs more than it saves on CPU runs.
    opt = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=config.weight_decay, beta_1=0.9,
                                 beta_2=0.999, epsilon=1e-6, global_clipnorm=config.clip_norm, jit_compile=False)
    opt.exclude_from_weight_decay(var_list=no_decay_variables(model))
    return opt, schedule


def task_loss(kind: str, outputs: Mapping, targets: Mapping):
    """Mean loss of a batch.

    Args:
        kind: ``"classification"`` (cross-entropy of ``logits`` [B, C] vs ``labels`` [B]), ``"regression"``
            (squared error of ``logits`` [B, 1] vs ``labels`` [B]) or ``"span"`` (mean of the start and end
            cross-entropies over [B, S] ``start_logits`` / ``end_logits`` vs ``start_positions`` /
            ``end_positions``, as BERT's SQuAD head; docs/finetuning.md).
        outputs: the model's outputs.
        targets: the batch's labels.

    Returns:
        A scalar float32 tensor.

    Example:
        >>> task_loss("classification", {"logits": tf.zeros([2, 2])}, {"labels": tf.constant([0, 1])})  # log 2
    """
    import tensorflow as tf

    ce = _sparse_ce
    if kind == "classification":
        return tf.reduce_mean(ce(targets["labels"], outputs["logits"]))
    if kind == "regression":
        return tf.reduce_mean(tf.square(outputs["logits"][:, 0] - tf.cast(targets["labels"], tf.float32)))
    if kind == "span":
        return (tf.reduce_mean(ce(targets["start_positions"], outputs["start_logits"]))
                + tf.reduce_mean(ce(targets["end_positions"], outputs["end_logits"]))) / 2.0
    raise ValueError(f"unknown task kind {kind!r}")


class DivergedError(MobileBertError, FloatingPointError):
    """The training loss became NaN or infinite (a learning rate too high): the message says so and names
    the step, e.g. ``loss became nan at step 12; lower --lr``."""


def _sparse_ce(labels, logits):
    import tensorflow as tf

    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(labels, tf.int32), logits=logits)


MODEL_FILES = ("config.json", "vocab.txt", "weights.safetensors", "model.json")  # model.json last: it completes


def save_checkpoint(model, out_dir, *, vocab_file: str | None, metadata: Mapping[str, Any]) -> None:
    """Write the model into ``out_dir`` so that it is never half-written.

    The whole directory is first saved into a staging folder beside the files (a failure there, e.g. a full
    disk, leaves ``out_dir`` untouched); then each file is moved in with an atomic rename, model.json last.
    A reader sees whole files only, and model.json describes complete weights.

    Args:
        model: the task model (``save_pretrained``).
        out_dir: the model directory (created).
        vocab_file: copied in as vocab.txt (None: none, and an older vocab.txt is removed).
        metadata: model.json's fields (task, labels, seq_len, ...).

    Example:
        >>> save_checkpoint(model, "runs/sst2", vocab_file="vocab.txt", metadata={"task": "sst-2"})
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = out_dir / f".staging-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    try:
        model.save_pretrained(staging, vocab_file=vocab_file, metadata=metadata)
        with path_errors(out_dir):
            for name in MODEL_FILES:
                if (staging / name).exists():
                    os.replace(staging / name, out_dir / name)
                elif (out_dir / name).exists() and name != "model.json":
                    os.remove(out_dir / name)  # an older model's file (e.g. its vocab.txt) must not mix in
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _batches(n: int, batch_size: int, rng: np.random.Generator):
    order = rng.permutation(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


def train(model, task: FinetuneTask, train_data: TaskData, dev_data: TaskData, config: FinetuneConfig, *,
          out_dir=None, vocab_file: str | None = None, metadata: Mapping[str, Any] | None = None,
          lowercase: bool = True, progress: bool = True, log: Callable[[str], None] | None = None) -> FinetuneResult:
    """Fine-tune ``model`` on ``train_data``, evaluating ``dev_data`` after each epoch.

    With ``out_dir`` the best checkpoint (by ``task.main_score``) is saved there with ``metadata`` plus the
    task's labels, seq_len and dev metrics, so ``mobilebert evaluate/predict/export --model out_dir`` need
    nothing else. Deterministic for ``config.seed`` (shuffling from numpy, dropout from the Keras seed).
    TensorBoard gets ``train/loss`` and ``train/learning_rate`` every ``config.log_every`` steps and
    ``dev/<metric>`` per evaluation; ``logs/metrics.jsonl`` the same records.

    Args:
        model: the task model (``init_model``).
        task: the task (loss kind, metrics, main score).
        train_data, dev_data: encoded splits (``load_task_data``).
        config: the run's settings.
        out_dir: where the best checkpoint, history.json, dev predictions and logs/ go (None: keep nothing).
        vocab_file, metadata, lowercase: saved with the checkpoint.
        progress: show a tqdm bar per epoch.
        log: gets the per-epoch lines (default: stderr).

    Returns:
        The ``FinetuneResult``.

    Raises:
        DataError: no training examples or no labels.
        DivergedError: the loss became NaN or infinite.

    Example:
        >>> data = load_task_data(task, tokenizer, "glue", "train", config)
        >>> train(model, task, data, dev, config, out_dir="runs/sst2").best["dev"]
    """
    import tensorflow as tf
    from tqdm import tqdm

    from mobilebert_tf.finetuning.evaluation import evaluate_task, write_predictions
    from mobilebert_tf.finetuning.tasks import describe
    from mobilebert_tf.training.checkpointing import LOG_DIR
    from mobilebert_tf.training.progress import MetricsLog

    keras = _keras()
    log = log or (lambda msg: print(msg, file=sys.stderr))
    n = len(train_data)
    if n == 0:
        raise DataError("no training examples")
    if not train_data.targets:
        raise DataError(f"{train_data.source}: training data has no labels")
    steps_per_epoch = math.ceil(n / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    epochs = math.ceil(total_steps / steps_per_epoch)

    keras.utils.set_random_seed(config.seed)  # dropout masks; numpy's Generator below shuffles
    optimizer, schedule = make_optimizer(model, config, total_steps)
    variables = model.trainable_variables
    seq = train_data.inputs["input_ids"].shape[1]
    input_spec = {k: tf.TensorSpec([None, seq], tf.int32) for k in ("input_ids", "input_mask", "segment_ids")}
    target_spec = {k: tf.TensorSpec([None], tf.float32 if v.dtype.kind == "f" else tf.int32)
                   for k, v in train_data.targets.items()}

    # autograph=False: nothing here branches on tensors, and autograph re-reads the model's source from disk
    # when tracing, so a long run would trace edited code if the checkout changed meanwhile.
    @tf.function(input_signature=[input_spec, target_spec], autograph=False)
    def train_step(inputs, targets):
        with tf.GradientTape() as tape:
            outputs = model(inputs, training=True)
            loss = task_loss(task.kind, outputs, targets)
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(grads, variables))
        return loss

    out_path = Path(out_dir) if out_dir is not None else None
    logs = MetricsLog(str(out_path / LOG_DIR)) if out_path is not None else None
    meta = {**dict(metadata or {}), **describe(task), "seq_len": seq, "lowercase": lowercase,
            "finetune_config": config.to_dict(), "train_examples": len(train_data.examples),
            "train_source": train_data.source, "dev_source": dev_data.source}
    if task.kind == "span":
        meta.update(doc_stride=config.doc_stride, max_query_length=config.max_query_length,
                    max_answer_length=config.max_answer_length, null_threshold=config.null_threshold)

    rng = np.random.default_rng(config.seed)
    history: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    step, start_time = 0, time.perf_counter()
    for epoch in range(1, epochs + 1):
        epoch_steps = min(steps_per_epoch, total_steps - step)
        bar = tqdm(total=epoch_steps, desc=f"{task.name} epoch {epoch}/{epochs}", unit="step", disable=not progress,
                   file=sys.stderr, dynamic_ncols=True)
        losses = []
        for idx in _batches(n, config.batch_size, rng):
            if step >= total_steps:
                break
            inputs = {k: v[idx] for k, v in train_data.inputs.items()}
            targets = {k: v[idx] for k, v in train_data.targets.items()}
            loss = float(train_step(inputs, targets))
            if not math.isfinite(loss):
                raise DivergedError(f"loss became {loss} at step {step + 1}; lower --lr")
            losses.append(loss)
            lr = schedule.value(step)
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}", refresh=False)
            if logs is not None and (step % config.log_every == 0 or step == total_steps):
                recent = float(np.mean(losses[-config.log_every:]))
                logs.write(step, {"train/loss": recent, "train/learning_rate": lr},
                           {"step": step, "epoch": epoch, "loss": recent, "lr": lr})
        bar.close()

        result = evaluate_task(task, model, dev_data, batch_size=config.eval_batch_size, n_best=config.n_best,
                               max_answer_length=config.max_answer_length, null_threshold=config.null_threshold,
                               lowercase=lowercase)
        entry = {"epoch": epoch, "step": step, "train_loss": float(np.mean(losses)), "dev": result.metrics,
                 "score": result.score, "seconds": round(time.perf_counter() - start_time, 1)}
        improved = best is None or result.score > best["score"]
        entry["best"] = improved
        history.append(entry)
        log(f"epoch {epoch}: step {step}, train loss {entry['train_loss']:.4f}, dev "
            + ", ".join(f"{k} {v:.4f}" for k, v in result.metrics.items() if k in task.metrics)
            + (" (best)" if improved else ""))
        if logs is not None:
            logs.write(step, {f"dev/{k}": v for k, v in result.metrics.items()},
                       {"step": step, "epoch": epoch, "dev": result.metrics})
            logs.flush()
        if improved:
            best = entry
            if out_path is not None:
                save_checkpoint(model, out_path, vocab_file=vocab_file,
                                metadata={**meta, "best_epoch": epoch, "best_step": step, "dev_metrics": result.metrics})
                if len(history) == 1:  # an overwritten model's predictions must not pass for this run's
                    for stale in ("dev_predictions.json", "dev_predictions.na_probs.json"):
                        if (out_path / stale).exists():
                            (out_path / stale).unlink()
                write_predictions(result, str(out_path / "dev_predictions.json"))
        if out_path is not None:
            atomic_write_json(out_path / "history.json", history)
    if logs is not None:
        logs.close()
    return FinetuneResult(tuple(history), best, step, round(time.perf_counter() - start_time, 1),
                          str(out_path) if out_path is not None else None)
