"""The learning-rate schedule of pre-training, distillation (per stage) and fine-tuning."""
from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from mobilebert_tf.errors import UsageError
from mobilebert_tf.layers import PACKAGE


@keras.utils.register_keras_serializable(package=PACKAGE)
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup to ``peak`` then linear decay to ``end``, over ``total_steps`` (0-based ``step``):

        step < warmup:  peak * (step + 1) / warmup
        otherwise:      end + (peak - end) * (total - step) / (total - warmup)

    The ``+ 1`` and the decay ending one step after the last one keep the first and last updates
    non-zero (BERT's ``step / warmup`` spends its first update at LR 0).

    Args:
        peak: the learning rate at the end of warmup.
        total_steps: the optimizer steps of the run (>= 1).
        warmup_steps: in [0, total_steps].
        end: the rate the decay heads to (reached one step after the last).

    Example:
        >>> s = WarmupLinearDecay(1e-3, total_steps=6, warmup_steps=2)
        >>> [round(s.value(t), 6) for t in range(7)]
        [0.0005, 0.001, 0.001, 0.00075, 0.0005, 0.00025, 0.0]
    """

    def __init__(self, peak: float, total_steps: int, warmup_steps: int = 0, end: float = 0.0):
        if total_steps < 1:
            raise UsageError(f"total_steps must be >= 1, got {total_steps}")
        if not 0 <= warmup_steps <= total_steps:
            raise UsageError(f"warmup_steps must be in [0, total_steps={total_steps}], got {warmup_steps}")
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.end = float(end)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warm = self.peak * (step + 1.0) / max(self.warmup_steps, 1)
        span = max(self.total_steps - self.warmup_steps, 1)
        decay = self.end + (self.peak - self.end) * tf.maximum(self.total_steps - step, 0.0) / span
        return tf.where(step < self.warmup_steps, warm, tf.minimum(decay, self.peak))

    def value(self, step: int) -> float:
        """Python float of the rate at ``step`` (for logs)."""
        if step < self.warmup_steps:
            return self.peak * (step + 1) / self.warmup_steps
        span = max(self.total_steps - self.warmup_steps, 1)
        return min(self.peak, self.end + (self.peak - self.end) * max(self.total_steps - step, 0) / span)

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps, "warmup_steps": self.warmup_steps,
                "end": self.end}
