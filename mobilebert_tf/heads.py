"""Task heads, separate from the encoder (pre-training MLM + NSP, classification/regression, span QA)."""
from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from mobilebert_tf.layers import PACKAGE, ConfigLayer, dense_layer, get_activation, initializer


@keras.utils.register_keras_serializable(package=PACKAGE)
class MaskedLMHead(ConfigLayer):
    """MLM head: dense H->H + act + *real* LayerNorm (even in no_norm students), then logits against
    ``[word_embeddings (V x E) | extra_output_weights (V x (H - E))]`` + bias.

    Args:
        config: the model config.

    Returns (``call(sequence_output [B, S, H], word_embeddings [V, E])``):
        logits [B, S, V].

    Example:
        >>> MaskedLMHead(config)(tf.zeros([1, 4, 512]), tf.zeros([30522, 128])).shape
        TensorShape([1, 4, 30522])
    """

    def __init__(self, config, **kwargs):
        kwargs.setdefault("name", "mlm")
        super().__init__(config, **kwargs)
        c = self.config
        self.transform = dense_layer(c, c.hidden_size, "transform", activation=get_activation(c.hidden_act))
        self.transform_norm = keras.layers.LayerNormalization(epsilon=c.layer_norm_eps, name="transform_norm")

    def build(self, input_shape):
        c = self.config
        extra = c.hidden_size - c.embedding_size
        self.extra_output_weights = (self.add_weight(name="extra_output_weights", shape=(c.vocab_size, extra),
                                                     initializer=initializer(c)) if extra else None)
        self.output_bias = self.add_weight(name="output_bias", shape=(c.vocab_size,), initializer="zeros")
        super().build(input_shape)

    def call(self, sequence_output, word_embeddings):
        h = self.transform_norm(self.transform(sequence_output))
        matrix = word_embeddings
        if self.extra_output_weights is not None:
            matrix = tf.concat([word_embeddings, self.extra_output_weights], axis=1)  # [V, H]
        return tf.matmul(h, matrix, transpose_b=True) + self.output_bias


@keras.utils.register_keras_serializable(package=PACKAGE)
class NSPHead(ConfigLayer):
    """Next-sentence prediction: pooled [B, H] -> logits [B, 2].

    Example:
        >>> NSPHead(config)(tf.zeros([3, 512])).shape
        TensorShape([3, 2])
    """

    def __init__(self, config, **kwargs):
        kwargs.setdefault("name", "nsp")
        super().__init__(config, **kwargs)
        self.seq_relationship = dense_layer(self.config, 2, "seq_relationship")

    def call(self, pooled_output):
        return self.seq_relationship(pooled_output)


@keras.utils.register_keras_serializable(package=PACKAGE)
class ClassificationHead(ConfigLayer):
    """Dropout 0.1 + dense: pooled [B, H] -> logits [B, num_labels] (num_labels 1 = regression).

    Args:
        config: the model config.
        num_labels: classes (1 = regression).
        dropout: dropout rate before the dense layer.

    Example:
        >>> ClassificationHead(config, 3)(tf.zeros([2, 512])).shape
        TensorShape([2, 3])
    """

    def __init__(self, config, num_labels: int, dropout: float = 0.1, **kwargs):
        kwargs.setdefault("name", "classifier_head")
        super().__init__(config, **kwargs)
        if not isinstance(num_labels, int) or num_labels < 1:
            raise ValueError(f"num_labels must be a positive integer, got {num_labels!r}")
        self.num_labels = num_labels
        self.dropout_rate = dropout
        self.dropout = keras.layers.Dropout(dropout, name="dropout")
        self.classifier = dense_layer(self.config, num_labels, "classifier")

    def call(self, pooled_output, training=False):
        return self.classifier(self.dropout(pooled_output, training=training))

    def get_config(self):
        return {**super().get_config(), "num_labels": self.num_labels, "dropout": self.dropout_rate}


@keras.utils.register_keras_serializable(package=PACKAGE)
class SpanQAHead(ConfigLayer):
    """Per-token dense H -> 2 split into ``(start_logits, end_logits)``, each [B, S].

    Example:
        >>> start, end = SpanQAHead(config)(tf.zeros([2, 16, 512]))
        >>> start.shape
        TensorShape([2, 16])
    """

    def __init__(self, config, **kwargs):
        kwargs.setdefault("name", "qa_head")
        super().__init__(config, **kwargs)
        self.qa_outputs = dense_layer(self.config, 2, "qa_outputs")

    def call(self, sequence_output):
        logits = self.qa_outputs(sequence_output)
        return logits[..., 0], logits[..., 1]
