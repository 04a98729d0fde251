"""Run logging: TensorBoard scalars (``tf.summary``) and ``metrics.jsonl`` records (``MetricsLog``, used by
pre-training, distillation and fine-tuning), and a tqdm progress bar with ETA around it (``RunLogger``)."""
from __future__ import annotations

import json
import os
import sys
from typing import Any, Mapping

import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from mobilebert_tf.fileio import atomic_write_text
from mobilebert_tf.training.checkpointing import LOG_DIR

METRICS_FILE = "metrics.jsonl"
# What tf.summary.scalar writes. tf.summary.scalar itself lives in the tensorboard package, which
# TensorFlow 2.21 no longer installs; the event files are the same, TensorBoard shows them as scalars.
_SCALAR_METADATA = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"),
    data_class=summary_pb2.DATA_CLASS_SCALAR)


def write_scalar(name: str, value: float, step: int) -> None:
    """``tf.summary.scalar`` without the tensorboard package, into the default summary writer.

    Args:
        name: the tag, e.g. ``"loss"`` or ``"dev/accuracy"``.
        value: the scalar.
        step: the step it belongs to.

    Example:
        >>> with tf.summary.create_file_writer("runs/x/logs").as_default():
        ...     write_scalar("loss", 0.5, step=10)
    """
    tf.summary.write(name, tf.constant(float(value), tf.float32), step=step, metadata=_SCALAR_METADATA)


def truncate_metrics(path: str, step: int) -> int:
    """Drop the records of ``metrics.jsonl`` after global ``step`` (a run killed after its last checkpoint
    logged steps that the resumed run repeats) and a half-written last line. Returns the records kept.

    Args:
        path: the ``metrics.jsonl`` file (missing: nothing to do).
        step: the last global step to keep.

    Returns:
        The number of records kept.

    Example:
        >>> truncate_metrics("runs/teacher/logs/metrics.jsonl", 2000)
    """
    if not os.path.isfile(path):
        return 0
    kept = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and isinstance(record.get("step"), int) and record["step"] <= step:
                kept.append(line if line.endswith("\n") else line + "\n")
    atomic_write_text(path, "".join(kept))
    return len(kept)


class MetricsLog:
    """The one writer of run logs: TensorBoard scalars and ``metrics.jsonl`` records in one directory.

    Args:
        log_dir: where the event files and ``metrics.jsonl`` go (created).
        keep_until_step: records of ``metrics.jsonl`` after this global step are dropped first (a resumed
            run repeats them; 0: a fresh log).

    Example:
        >>> log = MetricsLog("runs/sst2/logs")
        >>> log.write(10, {"train/loss": 0.61, "train/learning_rate": 2e-5})
        >>> log.close()
    """

    def __init__(self, log_dir: str, keep_until_step: int = 0):
        self.log_dir = str(log_dir)
        os.makedirs(self.log_dir, exist_ok=True)
        self.path = os.path.join(self.log_dir, METRICS_FILE)
        truncate_metrics(self.path, keep_until_step)
        self._writer = tf.summary.create_file_writer(self.log_dir)
        self._jsonl = open(self.path, "a", encoding="utf-8")

    def write(self, step: int, scalars: Mapping[str, float], record: Mapping[str, Any] | None = None) -> None:
        """Log ``scalars`` at ``step``.

        Args:
            step: the global step (the TensorBoard x axis).
            scalars: ``{tag: value}`` for TensorBoard.
            record: the ``metrics.jsonl`` line (default ``{"step": step, **scalars}``).
        """
        with self._writer.as_default():
            for name, value in scalars.items():
                write_scalar(name, value, step)
        self._jsonl.write(json.dumps(dict(record) if record is not None else {"step": step, **scalars}) + "\n")
        self._jsonl.flush()

    def flush(self) -> None:
        """Make the event file current (``metrics.jsonl`` is flushed at every write)."""
        self._writer.flush()

    def close(self) -> None:
        """Flush and close both files."""
        self._writer.flush()
        self._writer.close()
        self._jsonl.close()


class RunLogger:
    """Every ``log_every`` steps (and at the last one) writes the step's scalars to TensorBoard
    (``OUT/logs``) and to ``OUT/logs/metrics.jsonl``; the bar shows the loss and the ETA.

    Non-chief workers log nothing. ``progress=None`` shows the bar only on a terminal.

    Args:
        out_dir: the run directory (logs go to ``out_dir/logs``).
        total_steps: the run's last global step.
        initial_step: the step a resumed run starts after (0: fresh).
        log_every: the logging cadence in steps.
        progress: show the bar (None: only on a terminal).
        enabled: False on non-chief workers.
        description: the bar's label.

    Example:
        >>> logger = RunLogger("runs/teacher", total_steps=1000, log_every=10)
        >>> logger.step(1, {"loss": 10.4, "lr": 1.5e-6})
        >>> logger.close()
    """

    def __init__(self, out_dir: str, total_steps: int, initial_step: int = 0, *, log_every: int = 10,
                 progress: bool | None = None, enabled: bool = True, description: str = "train"):
        from tqdm.auto import tqdm

        self.enabled = enabled
        self.log_every = max(1, log_every)
        self.total_steps = total_steps
        self.history: list[dict] = []
        self.evals: list[dict] = []
        self.log_dir = os.path.join(out_dir, LOG_DIR)
        self._log = None
        if enabled:
            self._log = MetricsLog(self.log_dir, keep_until_step=initial_step)
            if initial_step:
                print(f"{description}: resumed from step {initial_step}", file=sys.stderr)
        show = enabled and (sys.stderr.isatty() if progress is None else progress)
        self._bar = tqdm(total=total_steps, initial=initial_step, unit="step", desc=description,
                         dynamic_ncols=True, disable=not show, file=sys.stderr)

    def step(self, step: int, metrics: dict[str, float], stage: str | None = None) -> None:
        """Record global ``step`` (1-based: the number of steps done) and its ``metrics``."""
        record = {"step": step, **({"stage": stage} if stage else {}), **metrics}
        self.history.append(record)
        self._bar.update(1)
        self._bar.set_postfix({k: f"{v:.4g}" for k, v in metrics.items() if k in ("loss", "lr")}
                              | ({"stage": stage} if stage else {}), refresh=False)
        if not self.enabled or (step % self.log_every and step != self.total_steps):
            return
        self._log.write(step, metrics, record)

    def eval(self, step: int, metrics: dict[str, float]) -> None:
        """Record held-out metrics after global ``step``: TensorBoard ``eval/<name>``, and a
        ``{"step": step, "eval": {...}}`` line in ``metrics.jsonl``."""
        record = {"step": step, "eval": dict(metrics)}
        self.evals.append(record)
        if not self.enabled:
            return
        self.write(f"step {step}: held-out " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()
                                                         if isinstance(v, float)))
        self._log.write(step, {f"eval/{name}": value for name, value in metrics.items()}, record)

    def write(self, message: str) -> None:
        """A line that does not break the progress bar."""
        if self.enabled:
            self._bar.write(message, file=sys.stderr)

    def close(self) -> None:
        """Close the bar and the log files."""
        self._bar.close()
        if self._log is not None:
            self._log.close()
