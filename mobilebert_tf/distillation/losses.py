"""Knowledge-transfer losses of MobileBERT (the paper's training objectives; Google's ``run_pretraining.py``).

Each layer-wise loss returns one value per example, shape [B], so that
``tf.nn.compute_average_loss(per_example, global_batch_size)`` gives the same loss on one device
and across replicas. Means run over positions (and features / heads) as in Google's release;
with ``mask`` [B, S] only real tokens (query positions for attention) count. Teacher inputs are
wrapped in ``tf.stop_gradient``: the teacher is never trained.

Shapes: B batch, S sequence, H hidden (512 between blocks), N heads, P masked positions, V vocab.
"""
from __future__ import annotations

import dataclasses

import tensorflow as tf

from mobilebert_tf.config import ConfigError
from mobilebert_tf.training.configs import JsonConfig


@dataclasses.dataclass(frozen=True)
class DistillLossConfig(JsonConfig):
    """Factors of the transfer losses (docs/distillation.md) and of pre-training distillation.

    ``mlm_alpha`` is the weight of the one-hot ground truth in the MLM target
    ``alpha * one_hot + (1 - alpha) * softmax(teacher_logits / temperature)``.
    """

    hidden_factor: float = 100.0      # feature-map transfer (MSE after parameter-free layer norm)
    attention_factor: float = 1.0     # attention transfer (KL per head)
    beta_factor: float = 5000.0       # mean matching
    gamma_factor: float = 5.0         # variance matching
    mlm_alpha: float = 0.5
    temperature: float = 1.0
    nsp_factor: float = 1.0
    mask_padding: bool = False        # Google averages over all positions, padding included
    layer_norm_eps: float = 1e-12     # of the parameter-free layer norm (tf.contrib's default, as Google)

    def __post_init__(self):
        for name in ("hidden_factor", "attention_factor", "beta_factor", "gamma_factor", "nsp_factor"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f"DistillLossConfig field '{name}' must be a non-negative number, got {value!r}")
        if not 0.0 <= self.mlm_alpha <= 1.0:
            raise ConfigError(f"DistillLossConfig field 'mlm_alpha' must be in [0, 1], got {self.mlm_alpha!r}")
        if not self.temperature > 0:
            raise ConfigError(f"DistillLossConfig field 'temperature' must be positive, got {self.temperature!r}")
        if not self.layer_norm_eps > 0:
            raise ConfigError(f"DistillLossConfig field 'layer_norm_eps' must be positive, got {self.layer_norm_eps!r}")

    @property
    def uses_attention(self) -> bool:
        return self.attention_factor > 0


def parameter_free_layer_norm(x: tf.Tensor, eps: float = 1e-12) -> tf.Tensor:
    """``(x - mean) / sqrt(var + eps)`` over the last axis, no gamma/beta. [..., H] -> [..., H]."""
    mean, var = tf.nn.moments(x, axes=[-1], keepdims=True)
    return (x - mean) * tf.math.rsqrt(var + eps)


def _mean_over_positions(values: tf.Tensor, mask: tf.Tensor | None) -> tf.Tensor:
    """[B, S] -> [B]: mean over positions, or over real positions when ``mask`` [B, S] is given."""
    if mask is None:
        return tf.reduce_mean(values, axis=-1)
    mask = tf.cast(mask, values.dtype)
    return tf.reduce_sum(values * mask, axis=-1) / tf.maximum(tf.reduce_sum(mask, axis=-1), 1.0)


def feature_map_transfer_loss(teacher_hidden: tf.Tensor, student_hidden: tf.Tensor, mask: tf.Tensor | None = None,
                              eps: float = 1e-12) -> tf.Tensor:
    """MSE between layer-normalized feature maps. [B, S, H] x2 (+ mask [B, S]) -> [B]."""
    t = parameter_free_layer_norm(tf.stop_gradient(tf.cast(teacher_hidden, tf.float32)), eps)
    s = parameter_free_layer_norm(tf.cast(student_hidden, tf.float32), eps)
    return _mean_over_positions(tf.reduce_mean(tf.square(t - s), axis=-1), mask)


def attention_transfer_loss(teacher_scores: tf.Tensor, student_scores: tf.Tensor,
                            mask: tf.Tensor | None = None) -> tf.Tensor:
    """KL(teacher || student) of each head's attention distribution, averaged over heads and query
    positions. Scores are the masked logits before softmax, [B, N, S, S]; ``mask`` [B, S] -> [B].

    KL and Google's cross-entropy have the same gradient; KL is 0 when the maps agree.
    """
    log_t = tf.nn.log_softmax(tf.stop_gradient(tf.cast(teacher_scores, tf.float32)), axis=-1)
    log_s = tf.nn.log_softmax(tf.cast(student_scores, tf.float32), axis=-1)
    kl = tf.reduce_sum(tf.exp(log_t) * (log_t - log_s), axis=-1)  # [B, N, S]
    return _mean_over_positions(tf.reduce_mean(kl, axis=1), mask)


def mean_transfer_loss(teacher_hidden: tf.Tensor, student_hidden: tf.Tensor,
                       mask: tf.Tensor | None = None) -> tf.Tensor:
    """Beta term: squared difference of the per-position feature means. [B, S, H] x2 -> [B]."""
    mt = tf.reduce_mean(tf.stop_gradient(tf.cast(teacher_hidden, tf.float32)), axis=-1)
    ms = tf.reduce_mean(tf.cast(student_hidden, tf.float32), axis=-1)
    return _mean_over_positions(tf.square(mt - ms), mask)


def variance_transfer_loss(teacher_hidden: tf.Tensor, student_hidden: tf.Tensor,
                           mask: tf.Tensor | None = None) -> tf.Tensor:
    """Gamma term: absolute difference of the per-position feature variances (Google: ``|.|``, not
    squared). [B, S, H] x2 -> [B]."""
    _, vt = tf.nn.moments(tf.stop_gradient(tf.cast(teacher_hidden, tf.float32)), axes=[-1])
    _, vs = tf.nn.moments(tf.cast(student_hidden, tf.float32), axes=[-1])
    return _mean_over_positions(tf.abs(vt - vs), mask)


def distillation_targets(teacher_logits: tf.Tensor, labels: tf.Tensor, alpha: float = 0.5,
                         temperature: float = 1.0) -> tf.Tensor:
    """MLM target ``alpha * one_hot(labels) + (1 - alpha) * softmax(teacher_logits / T)``.
    [B, P, V], int [B, P] -> [B, P, V]."""
    teacher_logits = tf.stop_gradient(tf.cast(teacher_logits, tf.float32))
    one_hot = tf.one_hot(tf.cast(labels, tf.int32), tf.shape(teacher_logits)[-1], dtype=tf.float32)
    return alpha * one_hot + (1.0 - alpha) * tf.nn.softmax(teacher_logits / temperature, axis=-1)


def pretraining_distillation_loss(student_logits: tf.Tensor, teacher_logits: tf.Tensor, labels: tf.Tensor,
                                  weights: tf.Tensor, alpha: float = 0.5, temperature: float = 1.0) -> tf.Tensor:
    """Cross-entropy of the student's MLM logits against :func:`distillation_targets`, averaged
    over real predictions (``weights`` [B, P]) of each example. [B, P, V] x2 -> [B].

    The training loop normalizes by the global prediction count instead (BERT's MLM loss);
    this per-example form is the unit under test.
    """
    targets = distillation_targets(teacher_logits, labels, alpha, temperature)
    ce = -tf.reduce_sum(targets * tf.nn.log_softmax(tf.cast(student_logits, tf.float32), axis=-1), axis=-1)
    return _mean_over_positions(ce, weights)


def layer_transfer_losses(teacher_out: dict, student_out: dict, pairs, config: DistillLossConfig,
                          mask: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
    """The four weighted transfer terms, per example [B], averaged over the ``(student_layer,
    teacher_layer)`` ``pairs`` (0-based block indices; hidden state ``i + 1`` is block ``i``'s output).

    ``*_out`` are encoder outputs with ``hidden_states`` (and ``attention_scores`` when
    ``config.attention_factor > 0``). Returns ``feature_map``, ``attention``, ``mean``, ``variance``.
    """
    mask = mask if config.mask_padding else None
    totals = {"feature_map": 0.0, "attention": 0.0, "mean": 0.0, "variance": 0.0}
    for s, t in pairs:
        th, sh = teacher_out["hidden_states"][t + 1], student_out["hidden_states"][s + 1]
        if config.hidden_factor:
            totals["feature_map"] += config.hidden_factor * feature_map_transfer_loss(th, sh, mask,
                                                                                      config.layer_norm_eps)
        if config.beta_factor:
            totals["mean"] += config.beta_factor * mean_transfer_loss(th, sh, mask)
        if config.gamma_factor:
            totals["variance"] += config.gamma_factor * variance_transfer_loss(th, sh, mask)
        if config.attention_factor:
            totals["attention"] += config.attention_factor * attention_transfer_loss(
                teacher_out["attention_scores"][t], student_out["attention_scores"][s], mask)
    n = float(max(len(pairs), 1))
    batch = tf.shape(student_out["hidden_states"][0])[0]
    return {k: (v / n if isinstance(v, tf.Tensor) else tf.zeros([batch], tf.float32)) for k, v in totals.items()}
