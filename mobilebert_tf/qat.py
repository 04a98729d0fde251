"""Quantization-aware training with tensorflow-model-optimization (tfmot): the one QAT home.

QAT is declared on the model, ``MobileBertForSequenceClassification(config, num_labels=2, qat=True)`` (or
``from_pretrained(path, qat=True)``); the constructor calls ``apply_qat(model)``, which rewrites an unbuilt
model in place:

- every ``Dense`` becomes ``QuantizeWrapperV2(dense, DenseQuantizeConfig)``: int8 symmetric kernel,
  fake-quantized output *after* the activation (TFLite fuses ReLU/ReLU6 into FULLY_CONNECTED; tfmot's
  default Dense config rejects relu6, hence our own config);
- every ``NoNorm`` / ``LayerNormalization`` becomes ``QuantizeWrapperV2(norm, NormQuantizeConfig)``
  (fake-quantized output; gamma/beta stay float and the converter quantizes them with the MUL/ADD);
- the embedding table and the attention matmuls (masked scores, softmax probabilities, context)
  get tfmot quantizers inside our layers (``enable_fake_quant``), since those are not layers of
  their own.

Only ReLU/ReLU6 models (the ``mobilebert_qat`` preset) are accepted: GELU has no fused int8 kernel.
The result trains like any Keras model and exports with ``mobilebert export --quantize qat``.
This module depends on ``config`` and ``layers`` only; layers receive :class:`FakeQuant` from here
(``enable_fake_quant(FakeQuant)``) and never import it.
"""
from __future__ import annotations

import tensorflow as tf
import tf_keras as keras
import tensorflow_model_optimization as tfmot

from mobilebert_tf.config import QAT_ACTIVATIONS, check_qat_config  # noqa: F401 (re-exported)
from mobilebert_tf.layers import NoNorm

Q = tfmot.quantization.keras


def _weight_quantizer():
    return Q.quantizers.LastValueQuantizer(num_bits=8, per_axis=False, symmetric=True, narrow_range=True)


def activation_quantizer():
    return Q.quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False, narrow_range=False)


@keras.utils.register_keras_serializable(package="mobilebert_tf")
class DenseQuantizeConfig(Q.QuantizeConfig):
    """Kernel: int8 symmetric per-tensor. Output (after the fused activation): int8 moving-average range."""

    def get_weights_and_quantizers(self, layer):
        return [(layer.kernel, _weight_quantizer())]

    def get_activations_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        layer.kernel = quantize_weights[0]

    def set_quantize_activations(self, layer, quantize_activations):
        pass

    def get_output_quantizers(self, layer):
        return [activation_quantizer()]

    def get_config(self):
        return {}


@keras.utils.register_keras_serializable(package="mobilebert_tf")
class NormQuantizeConfig(Q.QuantizeConfig):
    """NoNorm / LayerNorm: output range only."""

    def get_weights_and_quantizers(self, layer):
        return []

    def get_activations_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        pass

    def set_quantize_activations(self, layer, quantize_activations):
        pass

    def get_output_quantizers(self, layer):
        return [activation_quantizer()]

    def get_config(self):
        return {}


class FakeQuant:
    """Named tfmot quantizers owned by a layer, for tensors that are not layer outputs: moving-average
    ranges for activations, last-value ranges for weights (``weights=True``).

    Args:
        layer: the layer that owns the range variables (``<name>_min`` / ``<name>_max``).
        names: one quantizer per name.
        weights: symmetric last-value ranges (weights) instead of moving-average ones (activations).

    Example:
        >>> fq = FakeQuant(attention_layer, ("scores_fq",))
        >>> scores = fq("scores_fq", scores, training)
    """

    def __init__(self, layer: keras.layers.Layer, names: tuple[str, ...], weights: bool = False):
        self.quantizer = _weight_quantizer() if weights else activation_quantizer()
        self.vars = {n: self.quantizer.build(None, n, layer) for n in names}

    def __call__(self, name: str, x: tf.Tensor, training) -> tf.Tensor:
        training = keras.backend.learning_phase() if training is None else training
        return self.quantizer(x, training, self.vars[name])


def _wrap(layer):
    if isinstance(layer, Q.QuantizeWrapperV2):
        return layer
    if isinstance(layer, keras.layers.Dense):
        return Q.QuantizeWrapperV2(layer, DenseQuantizeConfig(), name=layer.name)
    if isinstance(layer, (NoNorm, keras.layers.LayerNormalization)):
        return Q.QuantizeWrapperV2(layer, NormQuantizeConfig(), name=layer.name)
    return None


def _rewrite(layer) -> int:
    count = 0
    for attr, value in list(vars(layer).items()):
        if attr.startswith("_") or not isinstance(value, keras.layers.Layer):
            continue
        wrapped = _wrap(value)
        if wrapped is not None and wrapped is not value:
            setattr(layer, attr, wrapped)
            count += 1
        elif wrapped is None:
            count += _rewrite(value)
    for attr, value in list(vars(layer).items()):
        if not attr.startswith("_") and isinstance(value, (list, tuple)):
            for item in value:
                if isinstance(item, keras.layers.Layer):
                    if _wrap(item) is not None:
                        raise TypeError(f"cannot wrap {item.name} inside the list {attr}")
                    count += _rewrite(item)
    if hasattr(layer, "enable_fake_quant"):
        layer.enable_fake_quant(FakeQuant)
    return count


def apply_qat(model):
    """Insert fake quantization into ``model`` (one of our models, not yet built); sets ``model.qat``.

    The model constructors call this for ``qat=True``; calling it on a float model built without
    ``qat`` does the same.

    Args:
        model: an unbuilt model of ours whose config has a ReLU/ReLU6 ``hidden_act``.

    Returns:
        The same model, rewritten in place.

    Raises:
        ConfigError: the config's activation has no fused int8 kernel (GELU).
        ValueError: the model is already built.

    Example:
        >>> model = apply_qat(MobileBertForSequenceClassification(MobileBertConfig.from_preset("mobilebert_qat")))
        >>> model.qat
        True
    """
    check_qat_config(model.config)
    if model.built:
        raise ValueError("apply_qat needs an unbuilt model: wrap first, then load weights or train")
    _rewrite(model)
    model.qat = True
    return model
