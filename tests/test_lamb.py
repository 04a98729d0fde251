"""LAMB against a NumPy reference of the formula (You et al. 2019), step by step: Adam moments with
bias correction, weight decay on some variables only, the layer-wise trust ratio, global-norm
clipping, LR multipliers and schedules, sparse (embedding) gradients."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from mobilebert_tf.config import MobileBertConfig
from mobilebert_tf.models import MobileBertForPreTraining
from mobilebert_tf.training.optimizer import LAMB, make_lamb, no_decay_variables
from mobilebert_tf.training.schedules import WarmupLinearDecay
from mobilebert_tf.weights import named_weights


def lamb_reference(weights, grads_per_step, *, lr, wd=0.01, b1=0.9, b2=0.999, eps=1e-6, no_decay=(), clip=None,
                   bias_correction=True, mults=None):
    """NumPy LAMB in float64: returns the weights after each step."""
    w = {k: np.asarray(v, np.float64).copy() for k, v in weights.items()}
    m = {k: np.zeros_like(v) for k, v in w.items()}
    v = {k: np.zeros_like(x) for k, x in w.items()}
    history = []
    for t, grads in enumerate(grads_per_step, start=1):
        g = {k: np.asarray(x, np.float64) for k, x in grads.items()}
        if clip is not None:
            norm = np.sqrt(sum(np.sum(x ** 2) for x in g.values()))
            g = {k: x * clip / max(norm, clip) for k, x in g.items()}
        rate = lr(t - 1) if callable(lr) else lr
        for k in w:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
            m_hat = m[k] / (1 - b1 ** t) if bias_correction else m[k]
            v_hat = v[k] / (1 - b2 ** t) if bias_correction else v[k]
            u = m_hat / (np.sqrt(v_hat) + eps)
            ratio = 1.0
            if k not in no_decay:
                u = u + wd * w[k]
                w_norm, u_norm = np.linalg.norm(w[k]), np.linalg.norm(u)
                ratio = w_norm / u_norm if w_norm > 0 and u_norm > 0 else 1.0
            w[k] = w[k] - rate * (mults or {}).get(k, 1.0) * ratio * u
        history.append({k: x.copy() for k, x in w.items()})
    return history


def run_tf(optimizer, weights, grads_per_step, no_decay=(), mults=None, sparse=()):
    """Apply the gradients with ``optimizer``; ``sparse`` variables get them as IndexedSlices of rows
    0, 2, 2, 4 (a repeated row, as from an embedding lookup): dense equivalent ``sparse_rows(g)``."""
    variables = {k: tf.Variable(np.asarray(x, np.float32), name=k) for k, x in weights.items()}
    if no_decay:
        optimizer.exclude_from_weight_decay(var_list=[variables[k] for k in no_decay])
    if mults:
        optimizer.set_lr_multipliers([(variables[k], m) for k, m in mults.items()])
    history = []
    for grads in grads_per_step:
        pairs = []
        for k, g in grads.items():
            g = np.asarray(g, np.float32)
            if k in sparse:
                values = np.stack([g[0], g[2] / 2, g[2] / 2, g[4]])
                pairs.append((tf.IndexedSlices(tf.constant(values), tf.constant([0, 2, 2, 4]),
                                               tf.constant(g.shape)), variables[k]))
            else:
                pairs.append((tf.constant(g), variables[k]))
        optimizer.apply_gradients(pairs)
        history.append({k: v.numpy() for k, v in variables.items()})
    return history


def sparse_rows(g):
    out = np.zeros_like(g)
    out[[0, 2, 4]] = g[[0, 2, 4]]
    return out


def problem(seed=0, steps=6, scale=1.0):
    rng = np.random.default_rng(seed)
    weights = {"kernel": rng.normal(size=(4, 3)), "embeddings": rng.normal(size=(5, 3)),
               "bias": rng.normal(size=(3,)) * 0.1, "gamma": np.ones(3), "zeros": np.zeros((2, 2))}
    grads = [{k: rng.normal(size=np.shape(w)) * scale for k, w in weights.items()} for _ in range(steps)]
    return weights, grads


NO_DECAY = ("bias", "gamma")


@pytest.mark.parametrize("bias_correction", [True, False])
def test_lamb_matches_numpy_reference(bias_correction):
    weights, grads = problem()
    opt = LAMB(learning_rate=0.05, weight_decay_rate=0.01, epsilon=1e-6, bias_correction=bias_correction,
               global_clipnorm=None)
    got = run_tf(opt, weights, grads, no_decay=NO_DECAY, sparse=("embeddings",))
    ref = lamb_reference(weights, [dict(g, embeddings=sparse_rows(g["embeddings"])) for g in grads],
                         lr=0.05, no_decay=NO_DECAY, bias_correction=bias_correction)
    diffs = [max(np.abs(g[k] - r[k]).max() for k in weights) for g, r in zip(got, ref)]
    assert max(diffs) < 1e-6, diffs  # float32 vs float64: ~4e-7 on values up to 2.7
    # the trust ratio makes each decayed variable's step exactly lr * |w| (first step)
    step = np.linalg.norm(got[0]["kernel"] - weights["kernel"])
    assert step == pytest.approx(0.05 * np.linalg.norm(weights["kernel"]), rel=1e-5)
    # excluded variables move by lr * |Adam step| (no ratio): 0.05 per element at step 1 with correction
    if bias_correction:
        np.testing.assert_allclose(np.abs(got[0]["bias"] - weights["bias"]), 0.05, rtol=1e-4)
    # an all-zero variable has no norm for the ratio: r = 1, it moves by the plain Adam step
    assert np.abs(got[0]["zeros"]).max() > 0


def test_lamb_clipping_schedule_and_lr_multipliers():
    weights, grads = problem(seed=1, steps=5, scale=3.0)  # global norm ~ 15 > 1: clipped every step
    schedule = WarmupLinearDecay(0.02, total_steps=5, warmup_steps=2)
    mults = {"kernel": 0.1, "bias": 3.0}
    opt = LAMB(learning_rate=schedule, weight_decay_rate=0.01, global_clipnorm=1.0)
    got = run_tf(opt, weights, grads, no_decay=NO_DECAY, mults=mults)
    ref = lamb_reference(weights, grads, lr=schedule.value, no_decay=NO_DECAY, clip=1.0, mults=mults)
    diff = max(np.abs(g[k] - r[k]).max() for g, r in zip(got, ref) for k in weights)
    assert diff < 1e-6
    assert int(opt.iterations.numpy()) == 5
    # without the clip the result differs: clipping was active
    unclipped = lamb_reference(weights, grads, lr=schedule.value, no_decay=NO_DECAY, mults=mults)
    assert max(np.abs(unclipped[-1][k] - ref[-1][k]).max() for k in weights) > 1e-3


def test_schedule_values():
    s = WarmupLinearDecay(1.0, total_steps=10, warmup_steps=4)
    values = [s.value(i) for i in range(10)]
    np.testing.assert_allclose(values, [0.25, 0.5, 0.75, 1.0, 1.0, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6])
    np.testing.assert_allclose([float(s(i)) for i in range(10)], values, rtol=1e-6)
    assert WarmupLinearDecay(2.0, total_steps=3).value(0) == 2.0  # no warmup: starts at the peak
    with pytest.raises(ValueError, match="warmup_steps"):
        WarmupLinearDecay(1.0, total_steps=3, warmup_steps=4)


def test_no_decay_variables_are_norms_and_biases():
    config = MobileBertConfig.from_preset("mobilebert", num_hidden_layers=1, hidden_size=32, embedding_size=16,
                                          intra_bottleneck_size=16, num_attention_heads=2, intermediate_size=32,
                                          num_feedforward_networks=2, vocab_size=50)
    model = MobileBertForPreTraining(config).build_with_dummy()
    by_id = {id(v): p for p, v in named_weights(model).items()}
    excluded = sorted(by_id[id(v)] for v in no_decay_variables(model))
    assert all(p.endswith(("/bias", "/gamma", "/beta", "output_bias")) for p in excluded)
    # every NoNorm (6 per block here + embeddings) and the head's LayerNorm: 2 weights each
    norms = [p for p in excluded if p.endswith(("/gamma", "/beta"))]
    assert len(norms) == 2 * (1 + 6) + 2
    decayed = sorted(set(by_id.values()) - set(excluded))
    assert "encoder/embeddings/word_embeddings" in decayed and "mlm/extra_output_weights" in decayed
    assert all(p.endswith(("kernel", "embeddings", "extra_output_weights")) for p in decayed)
    opt = make_lamb(model, 1e-3)
    variables = model.trainable_variables
    opt.build(variables)
    decays = {by_id[id(v)]: opt._use_weight_decay(v) for v in variables}
    assert sorted(p for p, d in decays.items() if not d) == excluded
