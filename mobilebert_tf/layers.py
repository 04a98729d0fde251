"""Keras layers of the MobileBERT family (tf-keras / Keras 2).

Every layer takes the whole ``MobileBertConfig`` (or its dict) so that ``from_config(get_config())``
rebuilds it exactly, and names its sublayers: checkpoint converters address weights by path
(``encoder/layer_3/attention/query/kernel``), never by position.

Shapes: B batch, S sequence, H ``hidden_size`` (between blocks), I ``intra_bottleneck_size``
(inside blocks), E ``embedding_size``, V ``vocab_size``, N heads.
"""
from __future__ import annotations

import math
from typing import Any

import tensorflow as tf
import tf_keras as keras

from mobilebert_tf.config import MobileBertConfig

PACKAGE = "mobilebert_tf"


def as_config(config: MobileBertConfig | dict) -> MobileBertConfig:
    if isinstance(config, MobileBertConfig):
        return config
    return MobileBertConfig.from_dict(config)


def initializer(config: MobileBertConfig) -> keras.initializers.Initializer:
    return keras.initializers.TruncatedNormal(stddev=config.initializer_range)


def get_activation(name: str):
    """``gelu`` is the exact (erf) GELU as in HF transformers; ``gelu_new`` the tanh approximation."""
    if name == "relu":
        return tf.nn.relu
    if name == "relu6":
        return tf.nn.relu6
    if name == "gelu":
        return lambda x: tf.nn.gelu(x, approximate=False)
    if name == "gelu_new":
        return lambda x: tf.nn.gelu(x, approximate=True)
    if name == "tanh":
        return tf.math.tanh
    raise ValueError(f"unknown activation {name!r}")


class ConfigLayer(keras.layers.Layer):
    """Base of every MobileBERT layer: stores the whole model config and serializes it.

    Args:
        config: a ``MobileBertConfig`` or its dict (``to_dict()``).
        **kwargs: ``keras.layers.Layer`` arguments (``name``, ``dtype``, ...).

    Example:
        >>> class Doubler(ConfigLayer):
        ...     def call(self, x):
        ...         return 2 * x
        >>> Doubler(MobileBertConfig()).get_config()["config"]["hidden_size"]
        512
    """

    def __init__(self, config: MobileBertConfig | dict, **kwargs):
        super().__init__(**kwargs)
        self.config = as_config(config)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "config": self.config.to_dict()}


@keras.utils.register_keras_serializable(package=PACKAGE)
class SequenceDense(keras.layers.Dense):
    """``keras.layers.Dense`` that stays one matrix product when the sequence length is unknown.

    Keras' Dense multiplies a [batch, seq, in] input with ``tf.tensordot``, which flattens it to 2-D with
    shapes computed at run time when ``seq`` is not known while tracing. In a ``--seq-len dynamic`` TFLite
    export every such layer became SHAPE, GATHER x2, REDUCE_PROD x2, CONCATENATION, PACK and RESHAPE x2
    around its FULLY_CONNECTED (and a separate bias ADD). With an unknown ``seq`` this layer calls
    ``tf.matmul`` on the 3-D input instead (the kernel broadcast), which converts to one FULLY_CONNECTED with
    the bias fused, at any length. With known shapes (training, fixed-length exports) it is Keras' Dense
    unchanged. Same weights, same names, same math.

    Example:
        >>> layer = SequenceDense(4)
        >>> layer(tf.zeros([1, 3, 8])).shape
        TensorShape([1, 3, 4])
    """

    def call(self, inputs):
        if inputs.shape.rank != 3 or inputs.shape[1] is not None or isinstance(inputs, tf.SparseTensor):
            return super().call(inputs)
        outputs = tf.matmul(tf.cast(inputs, self.compute_dtype), self.kernel)
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, self.bias)
        return outputs if self.activation is None else self.activation(outputs)


def dense_layer(config: MobileBertConfig, units: int, name: str, activation=None, use_bias: bool = True):
    """A named :class:`SequenceDense` (a ``keras.layers.Dense``) with the config's truncated-normal kernel
    initializer.

    Args:
        config: the model config (its ``initializer_range`` sets the kernel initializer).
        units: output width.
        name: the layer name, one segment of every weight path (``.../query/kernel``).
        activation: optional activation callable (see :func:`get_activation`).
        use_bias: whether the layer has a bias.

    Returns:
        An unbuilt ``SequenceDense``.

    Example:
        >>> dense_layer(MobileBertConfig(), 128, "query").units
        128
    """
    return SequenceDense(units, activation=activation, use_bias=use_bias, kernel_initializer=initializer(config),
                         name=name)


@keras.utils.register_keras_serializable(package=PACKAGE)
class NoNorm(keras.layers.Layer):
    """MobileBERT's replacement for LayerNorm: ``x * gamma + beta`` (no statistics). [..., D] -> [..., D]."""

    def build(self, input_shape):
        dim = int(input_shape[-1])
        self.gamma = self.add_weight(name="gamma", shape=(dim,), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(dim,), initializer="zeros")
        super().build(input_shape)

    def call(self, inputs):
        return inputs * self.gamma + self.beta


# PyTorch's nn.LayerNorm default, which HF uses for two of MobileBERT's norms (see hf_norm_eps_quirk).
TORCH_DEFAULT_EPS = 1e-5


def make_norm(config: MobileBertConfig, name: str, hf_default_eps: bool = False) -> keras.layers.Layer:
    if config.normalization_type == "no_norm":
        return NoNorm(name=name)
    eps = TORCH_DEFAULT_EPS if (hf_default_eps and config.hf_norm_eps_quirk) else config.layer_norm_eps
    return keras.layers.LayerNormalization(epsilon=eps, name=name)


@keras.utils.register_keras_serializable(package=PACKAGE)
class MobileBertEmbedding(ConfigLayer):
    """Word (with trigram input) + position + segment embeddings. ids [B, S] -> [B, S, H]."""

    def __init__(self, config, **kwargs):
        kwargs.setdefault("name", "embeddings")
        super().__init__(config, **kwargs)
        c = self.config
        self.embedding_transformation = (dense_layer(c, c.hidden_size, "embedding_transformation")
                                         if c.uses_embedding_transformation else None)
        self.norm = make_norm(c, "norm", hf_default_eps=True)
        self.dropout = keras.layers.Dropout(c.hidden_dropout_prob, name="dropout")

    def build(self, input_shape):
        c = self.config
        self.word_embeddings = self.add_weight(name="word_embeddings", shape=(c.vocab_size, c.embedding_size),
                                               initializer=initializer(c))
        self.position_embeddings = self.add_weight(name="position_embeddings",
                                                   shape=(c.max_position_embeddings, c.hidden_size),
                                                   initializer=initializer(c))
        self.token_type_embeddings = self.add_weight(name="token_type_embeddings",
                                                     shape=(c.type_vocab_size, c.hidden_size),
                                                     initializer=initializer(c))
        width = c.embedding_size * (3 if c.trigram_input else 1)
        if self.embedding_transformation is not None:
            self.embedding_transformation.build((None, None, width))
        self.norm.build((None, None, c.hidden_size))
        super().build(input_shape)

    def enable_fake_quant(self, fake_quant):
        """QAT (``mobilebert_tf.qat`` calls this): int8 range for the word table, as TFLite's int8 GATHER will
        see it. ``fake_quant``: the ``FakeQuant`` class (passed in, so that layers never import qat)."""
        self.fake_quant = fake_quant(self, ("word_embeddings_fq",), weights=True)

    def call(self, input_ids, segment_ids, training=False, position_ids=None):
        c = self.config
        table = self.word_embeddings
        if getattr(self, "fake_quant", None) is not None:
            table = self.fake_quant("word_embeddings_fq", table, training)
        emb = tf.gather(table, input_ids)  # [B, S, E]
        if c.trigram_input:
            # [next token, this token, previous token], zero-padded at the ends -> [B, S, 3E]
            nxt = tf.pad(emb[:, 1:], [[0, 0], [0, 1], [0, 0]])
            prev = tf.pad(emb[:, :-1], [[0, 0], [1, 0], [0, 0]])
            emb = tf.concat([nxt, emb, prev], axis=-1)
        if self.embedding_transformation is not None:
            emb = self.embedding_transformation(emb)
        if position_ids is None:
            positions = self.position_embeddings[tf.newaxis, :tf.shape(input_ids)[1]]
        else:  # a lookup keeps the whole table a weight (dynamic-range quantization leaves a slice float)
            positions = tf.gather(self.position_embeddings, position_ids)
        emb = emb + positions + tf.gather(self.token_type_embeddings, segment_ids)
        emb = self.norm(emb)
        return self.dropout(emb, training=training)


@keras.utils.register_keras_serializable(package=PACKAGE)
class Bottleneck(ConfigLayer):
    """Input bottleneck of a block: H -> I.

    Returns ``(query_input, key_input, value_input, layer_input)``: with the key/query-shared
    bottleneck Q = K = a second H -> I projection and V = h; with bottleneck attention Q = K = V =
    layer_input; otherwise (the IB-BERT teacher, Google semantics) Q = K = V = h.
    """

    def __init__(self, config, **kwargs):
        kwargs.setdefault("name", "bottleneck")
        super().__init__(config, **kwargs)
        c = self.config
        self.input_dense = dense_layer(c, c.intra_bottleneck_size, "input")
        self.input_norm = make_norm(c, "input_norm")
        if c.key_query_shared_bottleneck:
            self.attention_dense = dense_layer(c, c.intra_bottleneck_size, "attention")
            self.attention_norm = make_norm(c, "attention_norm")
        else:
            self.attention_dense = self.attention_norm = None

    def call(self, hidden_states):
        layer_input = self.input_norm(self.input_dense(hidden_states))
        if self.config.use_bottleneck_attention:
            return layer_input, layer_input, layer_input, layer_input
        if self.attention_dense is not None:
            shared = self.attention_norm(self.attention_dense(hidden_states))
            return shared, shared, hidden_states, layer_input
        return hidden_states, hidden_states, hidden_states, layer_input


@keras.utils.register_keras_serializable(package=PACKAGE)
class MobileBertAttention(ConfigLayer):
    """Multi-head self-attention with output projection and residual norm.

    ``call(query_input, key_input, value_input, residual, mask)`` with inputs [B, S, *], mask [B, S]
    (1 = attend). Returns ``(output [B, S, I], scores [B, N, S, S] masked, before softmax, probs)``.

    Mask modes: ``google`` (quantization friendly) ``scores * m + (1 - m) * google_mask_value``;
    ``additive`` (HF) ``scores + (1 - m) * float32.min``. They agree on unpadded inputs.
    """

    def __init__(self, config, **kwargs):
        kwargs.setdefault("name", "attention")
        super().__init__(config, **kwargs)
        c = self.config
        width = c.num_attention_heads * c.attention_head_size
        self.query = dense_layer(c, width, "query")
        self.key = dense_layer(c, width, "key")
        self.value = dense_layer(c, width, "value")
        self.attention_dropout = keras.layers.Dropout(c.attention_probs_dropout_prob, name="attention_dropout")
        self.output_dense = dense_layer(c, c.true_hidden_size, "output")
        # With bottlenecks the output bottleneck carries the dropout instead (as in the references).
        self.output_dropout = keras.layers.Dropout(0.0 if c.use_bottleneck else c.hidden_dropout_prob,
                                                   name="output_dropout")
        self.norm = make_norm(c, "norm")

    def enable_fake_quant(self, fake_quant):
        """QAT (``mobilebert_tf.qat`` calls this): int8 ranges for the attention matmul outputs, which are no
        layer's. ``fake_quant``: the ``FakeQuant`` class (passed in, so that layers never import qat)."""
        self.fake_quant = fake_quant(self, ("scores_fq", "probs_fq", "context_fq"))

    def _fq(self, name, x, training):
        fq = getattr(self, "fake_quant", None)
        return x if fq is None else fq(name, x, training)

    @staticmethod
    def _batch(x):
        # static where known (1 in an export): a constant reshape target, no SHAPE ops in the TFLite graph;
        # the sequence axis is -1 for the same reason (a dynamic-length export does not know it)
        return x.shape[0] if x.shape[0] is not None else tf.shape(x)[0]

    def _split_heads(self, x):
        c = self.config
        x = tf.reshape(x, [self._batch(x), -1, c.num_attention_heads, c.attention_head_size])
        return tf.transpose(x, [0, 2, 1, 3])  # [B, N, S, d]

    def call(self, query_input, key_input, value_input, residual, mask, training=False):
        c = self.config
        q = self._split_heads(self.query(query_input))
        k = self._split_heads(self.key(key_input))
        v = self._split_heads(self.value(value_input))
        scores = tf.matmul(q, k, transpose_b=True) * (1.0 / math.sqrt(c.attention_head_size))
        # The encoder casts the int mask to float once: TFLite's Cast has no quantized kernel, so
        # the exported graph keeps a single Cast at the input and float mask arithmetic.
        m = mask if mask.dtype == scores.dtype else tf.cast(mask, scores.dtype)
        m = m[:, tf.newaxis, tf.newaxis, :]  # [B, 1, 1, S]
        if c.attention_mask_mode == "google":
            scores = scores * m + (1.0 - m) * c.google_mask_value
        else:
            scores = scores + (1.0 - m) * scores.dtype.min
        scores = self._fq("scores_fq", scores, training)
        probs = self._fq("probs_fq", tf.nn.softmax(scores, axis=-1), training)
        context = tf.matmul(self.attention_dropout(probs, training=training), v)  # [B, N, S, d]
        context = self._fq("context_fq", context, training)
        context = tf.transpose(context, [0, 2, 1, 3])
        context = tf.reshape(context, [self._batch(context), -1, c.num_attention_heads * c.attention_head_size])
        out = self.output_dropout(self.output_dense(context), training=training)
        return self.norm(out + residual), scores, probs


@keras.utils.register_keras_serializable(package=PACKAGE)
class FeedForward(ConfigLayer):
    """One FFN: ``norm(dropout(dense(act(dense(x)))) + x)``. [B, S, I] -> [B, S, I]."""

    def __init__(self, config, use_dropout: bool = False, is_final: bool = False, **kwargs):
        super().__init__(config, **kwargs)
        c = self.config
        self.use_dropout = use_dropout
        self.is_final = is_final
        self.intermediate = dense_layer(c, c.intermediate_size, "intermediate", activation=get_activation(c.hidden_act))
        self.output_dense = dense_layer(c, c.true_hidden_size, "output")
        self.dropout = keras.layers.Dropout(c.hidden_dropout_prob if use_dropout else 0.0, name="dropout")
        self.norm = make_norm(c, "norm", hf_default_eps=is_final)

    def call(self, x, training=False):
        y = self.output_dense(self.intermediate(x))
        return self.norm(self.dropout(y, training=training) + x)

    def get_config(self):
        return {**super().get_config(), "use_dropout": self.use_dropout, "is_final": self.is_final}


@keras.utils.register_keras_serializable(package=PACKAGE)
class FFNStack(ConfigLayer):
    """``num_feedforward_networks`` FFNs in a row: ``ffn_0 .. ffn_{F-2}`` then ``final_ffn``."""

    def __init__(self, config, **kwargs):
        kwargs.setdefault("name", "ffn")
        super().__init__(config, **kwargs)
        c = self.config
        self.stacked = [FeedForward(c, name=f"ffn_{k}") for k in range(c.num_feedforward_networks - 1)]
        # Without bottlenecks (plain BERT) the last FFN has the hidden dropout.
        self.final_ffn = FeedForward(c, use_dropout=not c.use_bottleneck, is_final=True, name="final_ffn")

    def call(self, x, training=False):
        for ffn in self.stacked:
            x = ffn(x, training=training)
        return self.final_ffn(x, training=training)


@keras.utils.register_keras_serializable(package=PACKAGE)
class OutputBottleneck(ConfigLayer):
    """Output bottleneck: ``norm(dropout(dense(a)) + h)``, I -> H."""

    def __init__(self, config, **kwargs):
        kwargs.setdefault("name", "output_bottleneck")
        super().__init__(config, **kwargs)
        c = self.config
        self.dense = dense_layer(c, c.hidden_size, "dense")
        self.dropout = keras.layers.Dropout(c.hidden_dropout_prob, name="dropout")
        self.norm = make_norm(c, "norm")

    def call(self, x, residual, training=False):
        return self.norm(self.dropout(self.dense(x), training=training) + residual)


@keras.utils.register_keras_serializable(package=PACKAGE)
class MobileBertBlock(ConfigLayer):
    """One transformer block. ``call(h [B, S, H], mask [B, S])`` -> ``(h' [B, S, H], scores, probs)``."""

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        c = self.config
        self.bottleneck = Bottleneck(c) if c.use_bottleneck else None
        self.attention = MobileBertAttention(c)
        self.ffn = FFNStack(c)
        self.output_bottleneck = OutputBottleneck(c) if c.use_bottleneck else None

    def call(self, hidden_states, mask, training=False):
        if self.bottleneck is not None:
            q_in, k_in, v_in, layer_input = self.bottleneck(hidden_states)
        else:
            q_in = k_in = v_in = layer_input = hidden_states
        attn, scores, probs = self.attention(q_in, k_in, v_in, layer_input, mask, training=training)
        out = self.ffn(attn, training=training)
        if self.output_bottleneck is not None:
            out = self.output_bottleneck(out, hidden_states, training=training)
        return out, scores, probs


@keras.utils.register_keras_serializable(package=PACKAGE)
class Pooler(ConfigLayer):
    """[CLS] vector; with ``classifier_activation`` followed by dense + tanh (HF default). [B, S, H] -> [B, H]."""

    def __init__(self, config, **kwargs):
        kwargs.setdefault("name", "pooler")
        super().__init__(config, **kwargs)
        c = self.config
        self.dense = dense_layer(c, c.hidden_size, "dense", activation="tanh") if c.classifier_activation else None

    def call(self, sequence_output):
        first = sequence_output[:, 0]
        return self.dense(first) if self.dense is not None else first
