"""The fine-tuning loop: AdamW with linear warmup and decay, dev evaluation after every epoch, the best
checkpoint kept in the output directory, a tqdm progress bar and TensorBoard summaries.

Output directory layout (``out_dir``)::

    config.json weights.safetensors model.json vocab.txt   the best checkpoint, a normal model directory
    history.json                                           per-epoch loss, dev metrics, time (rewritten each epoch)
    dev_predictions.json                                   the best checkpoint's dev predictions
    logs/                                                  TensorBoard event files (train/*, dev/*)
"""
from __future__ import annotations

import dataclasses
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from mobilebert_tf.config import ConfigError
from mobilebert_tf.data import DataError
from mobilebert_tf.errors import MobileBertError, UsageError
from mobilebert_tf.fileio import atomic_write_json, path_errors
from mobilebert_tf.finetuning.tasks import FinetuneTask, TaskData

__all__ = ["FinetuneConfig", "FinetuneResult", "WarmupLinearDecay", "make_optimizer", "task_loss", "train",
           "save_checkpoint", "MODEL_FILES"]


@dataclass(frozen=True)
class FinetuneConfig:
    """Hyper-parameters of one fine-tuning run. Defaults are Google's BERT/MobileBERT fine-tuning settings
    (DESIGN.md section 2): AdamW, 10% warmup then linear decay to 0, weight decay 0.01 (not on norms and
    biases), gradient clipping at global norm 1.0; SQuAD seq 384, stride 128, query 64, answer 30.

    max_steps caps the run (short demos) below ``epochs`` full passes; the dev set is evaluated after every
    epoch and when the cap stops training mid-epoch.
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
        positive_ints = ("epochs", "batch_size", "seq_len", "eval_batch_size", "doc_stride", "max_query_length",
                         "max_answer_length", "n_best", "log_every")
        for name in positive_ints:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"fine-tuning field '{name}' must be a positive integer, got {value!r}")
        if self.max_steps is not None and (isinstance(self.max_steps, bool) or not isinstance(self.max_steps, int)
                                           or self.max_steps < 1):
            raise ConfigError(f"fine-tuning field 'max_steps' must be a positive integer, got {self.max_steps!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"fine-tuning field 'seed' must be a non-negative integer, got {self.seed!r}")
        checks = (("learning_rate", lambda v: v > 0, "a positive number"),
                  ("warmup_proportion", lambda v: 0 <= v < 1, "in [0, 1)"),
                  ("weight_decay", lambda v: v >= 0, "non-negative"),
                  ("clip_norm", lambda v: v > 0, "a positive number"),
                  ("null_threshold", lambda v: math.isfinite(v), "finite"))
        for name, ok, what in checks:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok(value):
                raise ConfigError(f"fine-tuning field '{name}' must be {what}, got {value!r}")
        if self.seq_len < 8:
            raise ConfigError(f"fine-tuning field 'seq_len' must be at least 8, got {self.seq_len}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def for_task(cls, task: FinetuneTask, **changes) -> "FinetuneConfig":
        """The task's defaults (``task.defaults``) with ``changes``; a change of None keeps the default."""
        values = {**task.defaults, **{k: v for k, v in changes.items() if v is not None}}
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ConfigError(f"unknown fine-tuning field(s) {', '.join(map(repr, unknown))}")
        return cls(**values)

    def replace(self, **changes) -> "FinetuneConfig":
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ConfigError(f"unknown fine-tuning field(s) {', '.join(map(repr, unknown))}")
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class FinetuneResult:
    """history: one dict per evaluation (epoch, step, train_loss, dev metrics, score, seconds, best);
    best: the entry of the kept checkpoint; out_dir: where it is (None when not saving)."""

    history: tuple[dict[str, Any], ...]
    best: dict[str, Any]
    total_steps: int
    train_seconds: float
    out_dir: str | None


def _keras():
    import tf_keras as keras

    return keras


class WarmupLinearDecay:
    """lr for 0-based optimizer step t (s = t + 1): ``peak * s / W`` for s <= W, then ``peak * (T - s + 1) /
    (T - W)``, 0 past T. Starting at s = t + 1 makes the first step useful (lr > 0) and the last one too.

    Built lazily as a Keras LearningRateSchedule (``as_keras()``) so this module imports without TensorFlow.
    """

    def __init__(self, peak: float, warmup_steps: int, total_steps: int):
        if total_steps < 1 or not 0 <= warmup_steps <= total_steps:
            raise UsageError(f"need 0 <= warmup_steps ({warmup_steps}) <= total_steps ({total_steps}), total >= 1")
        self.peak, self.warmup_steps, self.total_steps = float(peak), int(warmup_steps), int(total_steps)

    def value(self, step: int) -> float:
        """Python mirror of the schedule (tests, logs)."""
        s = step + 1
        if s > self.total_steps:
            return 0.0
        if s <= self.warmup_steps:
            return self.peak * s / self.warmup_steps
        return self.peak * (self.total_steps - s + 1) / (self.total_steps - self.warmup_steps)

    def as_keras(self):
        import tensorflow as tf

        keras = _keras()
        outer = self

        class _Schedule(keras.optimizers.schedules.LearningRateSchedule):
            def __call__(self, step):
                s = tf.cast(step, tf.float32) + 1.0
                w, t = float(outer.warmup_steps), float(outer.total_steps)
                warm = outer.peak * s / max(w, 1.0)
                decay = outer.peak * tf.maximum(t - s + 1.0, 0.0) / max(t - w, 1.0)
                return tf.where(s <= w, warm, tf.where(s > t, 0.0, decay))

            def get_config(self):
                return {"peak": outer.peak, "warmup_steps": outer.warmup_steps, "total_steps": outer.total_steps}

        return _Schedule()


# Weight decay skips norms and biases, as in BERT's AdamWeightDecayOptimizer (LayerNorm/NoNorm gamma and beta).
NO_DECAY_NAMES = ("gamma", "beta", "bias")


def make_optimizer(model, config: FinetuneConfig, total_steps: int):
    """AdamW (beta 0.9/0.999, eps 1e-6 as BERT) on the warmup/decay schedule, global-norm clipping,
    weight decay excluded from every variable whose own name is gamma, beta or bias."""
    from mobilebert_tf.weights import named_weights

    keras = _keras()
    warmup = int(round(config.warmup_proportion * total_steps))
    schedule = WarmupLinearDecay(config.learning_rate, warmup, total_steps)
    # jit_compile=False: XLA compiling the update of every variable costs more than it saves on CPU runs.
    opt = keras.optimizers.AdamW(learning_rate=schedule.as_keras(), weight_decay=config.weight_decay, beta_1=0.9,
                                 beta_2=0.999, epsilon=1e-6, global_clipnorm=config.clip_norm, jit_compile=False)
    # Matched by our weight names (the last path element), not Keras' build-order variable names.
    no_decay = [v for name, v in named_weights(model).items() if name.rsplit("/", 1)[-1] in NO_DECAY_NAMES]
    opt.exclude_from_weight_decay(var_list=no_decay)
    return opt, schedule


def task_loss(kind: str, outputs: Mapping, targets: Mapping):
    """Mean loss of a batch. classification: cross-entropy of ``logits`` [B, C] vs ``labels`` [B];
    regression: squared error of ``logits`` [B, 1] vs ``labels`` [B]; span: mean of the start and end
    cross-entropies over [B, S] logits (DESIGN.md, SQuAD head)."""
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
    """The training loss became NaN or infinite (a learning rate too high): the message says so."""


def _sparse_ce(labels, logits):
    import tensorflow as tf

    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(labels, tf.int32), logits=logits)


MODEL_FILES = ("config.json", "vocab.txt", "weights.safetensors", "model.json")  # model.json last: it completes


def save_checkpoint(model, out_dir, *, vocab_file: str | None, metadata: Mapping[str, Any]) -> None:
    """Write the model into ``out_dir`` so that it is never half-written.

    The whole directory is first saved into a staging folder beside the files (a failure there, e.g. a full
    disk, leaves ``out_dir`` untouched); then each file is moved in with an atomic rename, model.json last.
    A reader sees whole files only, and model.json describes complete weights.
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


def _scalar(tag: str, value: float, step: int) -> None:
    """A TensorBoard scalar without the tensorboard package (TF 2.21 no longer depends on it, and
    ``tf.summary.scalar`` raises without it): the same event, tagged for the scalars plugin."""
    import tensorflow as tf
    from tensorflow.core.framework import summary_pb2

    metadata = summary_pb2.SummaryMetadata()
    metadata.plugin_data.plugin_name = "scalars"
    tf.summary.write(tag, tf.constant(float(value), tf.float32), step=step, metadata=metadata)


def _write_json(path: Path, payload) -> None:
    atomic_write_json(path, payload)


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
    """
    import tensorflow as tf
    from tqdm import tqdm

    from mobilebert_tf.finetuning.evaluation import evaluate_task, write_predictions
    from mobilebert_tf.finetuning.tasks import describe

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
    writer = tf.summary.create_file_writer(str(out_path / "logs")) if out_path is not None else None
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
            if writer is not None and (step % config.log_every == 0 or step == total_steps):
                with writer.as_default(step=step):
                    _scalar("train/loss", np.mean(losses[-config.log_every:]), step)
                    _scalar("train/learning_rate", lr, step)
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
        if writer is not None:
            with writer.as_default(step=step):
                for k, v in result.metrics.items():
                    _scalar(f"dev/{k}", v, step)
            writer.flush()
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
            _write_json(out_path / "history.json", history)
    if writer is not None:
        writer.close()
    return FinetuneResult(tuple(history), best, step, round(time.perf_counter() - start_time, 1),
                          str(out_path) if out_path is not None else None)
