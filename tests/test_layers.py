"""Layer serialization round trips, parameter counts, mask modes and the teacher preset."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from mobilebert_tf import PRESETS, MobileBertConfig, MobileBertEncoder, MobileBertForPreTraining
from mobilebert_tf.flops import count_params
from mobilebert_tf.heads import ClassificationHead, MaskedLMHead, NSPHead, SpanQAHead
from mobilebert_tf.layers import (Bottleneck, FeedForward, FFNStack, MobileBertAttention, MobileBertBlock,
                                  MobileBertEmbedding, NoNorm, OutputBottleneck, Pooler)
from mobilebert_tf.weights import named_weights
from tests.hf_utils import padded_batch

ENCODER_PARAMS = {  # embeddings + transformer layers, no pooler, no heads (docs/architecture.md)
    "mobilebert": 24_581_888,
    "mobilebert_tiny": 15_485_696,
    "mobilebert_no_opt": 24_581_888,
    "mobilebert_qat": 24_581_888,
    "ib_bert_large": 294_205_184,
    "bert_base": 108_891_648,
}


def _encoder_param_count(encoder):
    return sum(int(np.prod(v.shape)) for n, v in named_weights(encoder).items() if not n.startswith("pooler/"))


@pytest.mark.parametrize("preset", list(PRESETS))
def test_encoder_parameter_counts_exact(preset):
    config = MobileBertConfig.from_preset(preset)
    encoder = MobileBertEncoder(config)
    encoder({"input_ids": np.ones((1, 4), np.int32)})
    n = _encoder_param_count(encoder)
    print(f"\n{preset}: {n:,} encoder parameters")
    assert n == ENCODER_PARAMS[preset] == count_params(config)["encoder"]


@pytest.mark.parametrize("preset", ["mobilebert", "mobilebert_tiny", "mobilebert_no_opt"])
def test_parameter_counts_match_hf(preset):
    from transformers import MobileBertModel
    from tests.hf_utils import hf_config

    hf = MobileBertModel(hf_config(MobileBertConfig.from_preset(preset)), add_pooling_layer=False)
    assert sum(p.numel() for p in hf.parameters()) == ENCODER_PARAMS[preset]


def test_bert_base_count_matches_hf():
    from transformers import BertConfig, BertModel

    hf = BertModel(BertConfig(), add_pooling_layer=False)  # HF defaults are BERT_BASE uncased
    assert sum(p.numel() for p in hf.parameters()) == ENCODER_PARAMS["bert_base"]


@pytest.mark.slow
def test_hf_cannot_run_the_teacher_but_we_can():
    """HF's query/key take intra_bottleneck_size inputs, so the IB-BERT config has more parameters there
    (319,371,008) and its forward crashes; ours follows Google's semantics (Q=K=V from the 512-wide input)."""
    import torch
    from transformers import MobileBertModel
    from tests.hf_utils import hf_config

    hf = MobileBertModel(hf_config(MobileBertConfig.from_preset("ib_bert_large")), add_pooling_layer=False)
    assert sum(p.numel() for p in hf.parameters()) == 319_371_008
    with pytest.raises(RuntimeError):
        hf(input_ids=torch.ones((1, 8), dtype=torch.long))


@pytest.mark.parametrize("preset", list(PRESETS))
def test_full_model_param_count_matches_formula(preset):
    config = MobileBertConfig.from_preset(preset, num_hidden_layers=2)
    model = MobileBertForPreTraining(config).build_with_dummy()
    assert model.count_params() == count_params(config)["total"]


# ---------------------------------------------------------------------------- serialization
def _layer_cases(config):
    B, S = 2, 6
    rng = np.random.default_rng(1)
    h = tf.constant(rng.normal(size=(B, S, config.hidden_size)), tf.float32)
    a = tf.constant(rng.normal(size=(B, S, config.true_hidden_size)), tf.float32)
    ids = tf.constant(rng.integers(0, config.vocab_size, (B, S)), tf.int32)
    seg = tf.constant(rng.integers(0, 2, (B, S)), tf.int32)
    mask = tf.constant([[1] * S, [1] * (S - 2) + [0, 0]], tf.int32)
    cases = [
        (NoNorm(name="nn"), (h,)),
        (MobileBertEmbedding(config), (ids, seg)),
        (MobileBertAttention(config), (a, a, a, a, mask)),
        (FeedForward(config, use_dropout=True, is_final=True, name="ffn_x"), (a,)),
        (FFNStack(config), (a,)),
        (MobileBertBlock(config, name="layer_0"), (h, mask)),
        (Pooler(config), (h,)),
        (MaskedLMHead(config), (h, tf.constant(rng.normal(size=(config.vocab_size, config.embedding_size)),
                                               tf.float32))),
        (NSPHead(config), (h[:, 0],)),
        (ClassificationHead(config, num_labels=3), (h[:, 0],)),
        (SpanQAHead(config), (h,)),
    ]
    if config.use_bottleneck:
        cases += [(Bottleneck(config), (h,)), (OutputBottleneck(config), (a, h))]
    return cases


def _flatten(x):
    return [t.numpy() for t in tf.nest.flatten(x)]


@pytest.mark.parametrize("preset", list(PRESETS))
def test_layer_round_trip(preset):
    config = MobileBertConfig.from_preset(preset, num_hidden_layers=2, vocab_size=97)
    for layer, args in _layer_cases(config):
        expected = _flatten(layer(*args))
        clone = keras.layers.deserialize(keras.layers.serialize(layer))
        assert type(clone) is type(layer) and clone.get_config() == layer.get_config()
        clone(*args)
        clone.set_weights(layer.get_weights())
        for got, want in zip(_flatten(clone(*args)), expected):
            np.testing.assert_array_equal(got, want, err_msg=f"{preset}: {type(layer).__name__}")


@pytest.mark.parametrize("preset", list(PRESETS))
def test_model_round_trip(preset):
    config = MobileBertConfig.from_preset(preset, num_hidden_layers=2, vocab_size=97)
    model = MobileBertForPreTraining(config).build_with_dummy()
    batch = padded_batch(batch=2, seq=8, vocab=97)
    expected = model(batch)
    clone = MobileBertForPreTraining.from_config(model.get_config()).build_with_dummy()
    clone.set_weights(model.get_weights())
    got = clone(batch)
    for key in ("sequence_output", "pooled_output", "mlm_logits", "nsp_logits"):
        np.testing.assert_array_equal(got[key].numpy(), expected[key].numpy())
    enc = MobileBertEncoder.from_config(model.encoder.get_config())
    assert enc.config == config


# ---------------------------------------------------------------------------- mask modes
def _encoder(mode, **kw):
    keras.utils.set_random_seed(3)
    config = MobileBertConfig.from_preset("mobilebert", num_hidden_layers=2, attention_mask_mode=mode, **kw)
    return MobileBertEncoder(config)


def test_mask_modes_agree_on_unpadded_inputs():
    google, additive = _encoder("google"), _encoder("additive")
    batch = padded_batch(batch=1, seq=12)
    google(batch)
    additive(batch)
    additive.set_weights(google.get_weights())
    np.testing.assert_allclose(google(batch)["sequence_output"], additive(batch)["sequence_output"], atol=1e-6)


def test_mask_modes_on_padded_inputs():
    google, additive = _encoder("google"), _encoder("additive")
    batch = padded_batch(batch=3, seq=12)
    google(batch)
    additive(batch)
    additive.set_weights(google.get_weights())
    g = google(batch, output_attentions=True)
    a = additive(batch, output_attentions=True)
    pad = batch["input_mask"] == 0  # [B, S] key positions
    for scores, probs in zip(g["attention_scores"], g["attention_probs"]):
        s, p = scores.numpy(), probs.numpy()
        padded_keys = np.broadcast_to(pad[:, None, None, :], s.shape)  # [B, N, S_query, S_key]
        # Google: padded keys get exactly the constant -6 (representable in int8), so they keep a small weight
        np.testing.assert_array_equal(s[padded_keys], -6.0)
        assert p[padded_keys].min() > 0
    for probs in a["attention_probs"]:
        p = probs.numpy()
        # HF-style additive: padded keys get exactly zero probability
        assert p[np.broadcast_to(pad[:, None, None, :], p.shape)].max() == 0.0
        np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-6)
    # the modes differ on padded rows (e^-6 weight on each padded key) and agree on the unpadded row 0
    diff = np.abs(g["attention_probs"][0].numpy() - a["attention_probs"][0].numpy()).max(axis=(1, 2, 3))
    assert diff[0] < 1e-6 and diff[1] > 1e-4 and diff[2] > 1e-4, diff


# ---------------------------------------------------------------------------- teacher
@pytest.mark.slow
def test_teacher_forward_backward():
    config = MobileBertConfig.from_preset("ib_bert_large")
    keras.utils.set_random_seed(0)
    model = MobileBertForPreTraining(config)
    batch = padded_batch(batch=2, seq=16)
    batch["segment_ids"][:, :4] = 0
    labels = tf.constant(batch["input_ids"])
    with tf.GradientTape() as tape:
        out = model(batch, training=True)
        mlm = keras.losses.sparse_categorical_crossentropy(labels, out["mlm_logits"], from_logits=True)
        nsp = keras.losses.sparse_categorical_crossentropy(tf.constant([0, 1]), out["nsp_logits"], from_logits=True)
        loss = tf.reduce_mean(mlm) + tf.reduce_mean(nsp)
    assert out["sequence_output"].shape == (2, 16, 512) and out["mlm_logits"].shape == (2, 16, 30522)
    grads = tape.gradient(loss, model.trainable_variables)
    names = [v.name for v in model.trainable_variables]
    assert len(grads) == len(names) == len(named_weights(model))
    for name, g in zip(names, grads):
        assert g is not None, name
        g = tf.convert_to_tensor(g).numpy()
        assert np.isfinite(g).all(), name
        assert np.abs(g).max() > 0, name
    # Q/K/V project from the 512-wide block input (Google semantics), heads are 1024 / 4 = 256 wide
    assert model.encoder.blocks[0].attention.query.kernel.shape == (512, 1024)


def test_teacher_reduced_depth_forward_matches_design_shapes():
    config = MobileBertConfig.from_preset("ib_bert_large", num_hidden_layers=2)
    out = MobileBertEncoder(config)(padded_batch(batch=1, seq=8), output_attentions=True)
    assert out["attention_probs"][0].shape == (1, 4, 8, 8)
    assert out["sequence_output"].shape == (1, 8, 512)
