"""Knowledge-transfer losses on hand-computed values (mobilebert_tf/distillation/losses.py)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from mobilebert_tf.config import ConfigError
from mobilebert_tf.distillation.losses import (DistillLossConfig, attention_transfer_loss, distillation_targets,
                                               feature_map_transfer_loss, layer_transfer_losses, mean_transfer_loss,
                                               parameter_free_layer_norm, pretraining_distillation_loss,
                                               variance_transfer_loss)

T = [1.0, 2.0, 3.0, 4.0]       # mean 2.5, variance 1.25
S = [4.0, 3.0, 2.0, 1.0]       # layer norm of S = -(layer norm of T)
U = [0.0, 0.0, 0.0, 2.0]       # mean 0.5, variance 0.75


def const(x):
    return tf.constant(x, tf.float32)


def test_parameter_free_layer_norm():
    got = parameter_free_layer_norm(const([T]))[0].numpy()
    np.testing.assert_allclose(got, [-1.5 / math.sqrt(1.25), -0.5 / math.sqrt(1.25), 0.5 / math.sqrt(1.25),
                                     1.5 / math.sqrt(1.25)], rtol=1e-6)


def test_feature_map_transfer_loss():
    # LN(S) = -LN(T): the difference is 2 LN(T), whose squares average 4 * 1 = 4.
    t, s = const([[T, T]]), const([[S, [3 * x + 7 for x in T]]])  # position 1: affine copy, LN equal -> 0
    assert feature_map_transfer_loss(t, s).numpy() == pytest.approx([2.0], rel=1e-5)
    assert feature_map_transfer_loss(t, s, mask=const([[1, 0]])).numpy() == pytest.approx([4.0], rel=1e-5)
    assert feature_map_transfer_loss(t, s, mask=const([[0, 1]])).numpy() == pytest.approx([0.0], abs=1e-6)


def test_attention_transfer_loss_is_kl_per_head():
    # head 0: teacher [0.5, 0.5], student [0.25, 0.75]: KL = 0.5 ln 2 + 0.5 ln(2/3) = 0.5 ln(4/3)
    # head 1: identical maps, KL 0. Mean over heads.
    teacher = const([[[[0.0, 0.0]], [[1.0, 2.0]]]])                     # [B=1, N=2, S=1, S=2]
    student = const([[[[0.0, math.log(3.0)]], [[5.0, 6.0]]]])          # shift-invariant: same as [1, 2]
    got = attention_transfer_loss(teacher, student).numpy()
    assert got == pytest.approx([0.25 * math.log(4.0 / 3.0)], rel=1e-5)
    assert attention_transfer_loss(teacher, teacher).numpy() == pytest.approx([0.0], abs=1e-7)


def test_attention_transfer_loss_masks_query_positions():
    # two query positions; the second disagrees. mask [1, 0] keeps only the first (KL 0).
    teacher = const([[[[0.0, 0.0], [0.0, 0.0]]]])
    student = const([[[[0.0, 0.0], [0.0, math.log(3.0)]]]])
    kl = 0.5 * math.log(4.0 / 3.0)
    assert attention_transfer_loss(teacher, student).numpy() == pytest.approx([kl / 2], rel=1e-5)
    assert attention_transfer_loss(teacher, student, mask=const([[1, 0]])).numpy() == pytest.approx([0.0], abs=1e-7)
    assert attention_transfer_loss(teacher, student, mask=const([[0, 1]])).numpy() == pytest.approx([kl], rel=1e-5)


def test_mean_and_variance_transfer_losses():
    t, s = const([[T]]), const([[U]])
    assert mean_transfer_loss(t, s).numpy() == pytest.approx([(2.5 - 0.5) ** 2], rel=1e-6)
    assert variance_transfer_loss(t, s).numpy() == pytest.approx([abs(1.25 - 0.75)], rel=1e-6)
    # per example: a batch of two gives two values
    both = variance_transfer_loss(const([[T], [U]]), const([[U], [U]])).numpy()
    np.testing.assert_allclose(both, [0.5, 0.0], atol=1e-6)


def test_distillation_targets_mix_one_hot_and_teacher():
    teacher = const([[[0.0, 0.0, math.log(2.0)]]])  # softmax [0.25, 0.25, 0.5]
    labels = tf.constant([[0]])
    np.testing.assert_allclose(distillation_targets(teacher, labels, alpha=0.5)[0, 0].numpy(),
                               [0.625, 0.125, 0.25], rtol=1e-6)
    # temperature 2: softmax([0, 0, ln2 / 2]) = [1, 1, sqrt 2] / (2 + sqrt 2)
    z = 2 + math.sqrt(2)
    np.testing.assert_allclose(distillation_targets(teacher, labels, alpha=0.0, temperature=2.0)[0, 0].numpy(),
                               [1 / z, 1 / z, math.sqrt(2) / z], rtol=1e-6)
    np.testing.assert_allclose(distillation_targets(teacher, labels, alpha=1.0)[0, 0].numpy(), [1, 0, 0])


def test_pretraining_distillation_loss():
    # target [0.625, 0.125, 0.25]; student softmax [0.5, 0.25, 0.25]:
    # CE = 0.625 ln 2 + 0.375 ln 4. The second prediction is padding (weight 0) and must not count.
    teacher = const([[[0.0, 0.0, math.log(2.0)], [9.0, 0.0, 0.0]]])
    student = const([[[math.log(2.0), 0.0, 0.0], [0.0, 9.0, 0.0]]])
    labels, weights = tf.constant([[0, 2]]), const([[1.0, 0.0]])
    got = pretraining_distillation_loss(student, teacher, labels, weights, alpha=0.5).numpy()
    assert got == pytest.approx([0.625 * math.log(2) + 0.375 * math.log(4)], rel=1e-6)


def test_layer_transfer_losses_apply_factors_and_layer_map():
    # student layer 0 (hidden state 1) learns from teacher layer 1 (hidden state 2, attention 1)
    junk = const([[[9.0, -9.0, 0.0, 1.0]]])
    teacher = {"hidden_states": [junk, junk, const([[T]])],
               "attention_scores": [const([[[[5.0, 0.0]]]]), const([[[[0.0, 0.0]]]])]}
    student = {"hidden_states": [junk, const([[S]])], "attention_scores": [const([[[[0.0, math.log(3.0)]]]])]}
    cfg = DistillLossConfig()
    got = {k: float(v.numpy()[0]) for k, v in layer_transfer_losses(teacher, student, [(0, 1)], cfg).items()}
    assert got["feature_map"] == pytest.approx(100 * 4.0, rel=1e-5)
    assert got["attention"] == pytest.approx(1 * 0.5 * math.log(4 / 3), rel=1e-5)
    assert got["mean"] == pytest.approx(0.0, abs=1e-6)         # S and T share the mean 2.5
    assert got["variance"] == pytest.approx(0.0, abs=1e-5)     # ... and the variance
    off = layer_transfer_losses(teacher, student, [(0, 1)], DistillLossConfig(hidden_factor=0, attention_factor=0))
    assert float(off["feature_map"][0]) == 0.0 and float(off["attention"][0]) == 0.0


def test_teacher_gets_no_gradient():
    t, s = tf.Variable([[T]]), tf.Variable([[U]])
    with tf.GradientTape(persistent=True) as tape:
        losses = [feature_map_transfer_loss(t, s), mean_transfer_loss(t, s), variance_transfer_loss(t, s)]
    for loss in losses:
        assert tape.gradient(loss, t) is None
        assert tape.gradient(loss, s) is not None


@pytest.mark.parametrize("field,value", [("hidden_factor", -1.0), ("mlm_alpha", 1.5), ("temperature", 0.0)])
def test_loss_config_validation_names_the_field(field, value):
    with pytest.raises(ConfigError, match=field):
        DistillLossConfig(**{field: value})
    assert DistillLossConfig().hidden_factor == 100 and DistillLossConfig().beta_factor == 5000
