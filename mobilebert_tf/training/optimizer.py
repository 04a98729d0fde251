"""LAMB (You et al. 2019, "Large Batch Optimization for Deep Learning") as a tf-keras optimizer.

No maintained LAMB fits tf-keras 2.21: tensorflow-addons is discontinued (no TF 2.21 build),
tf-models-official pins its own TensorFlow, and Keras 3's ``Lamb`` is not a tf-keras optimizer.

Per variable ``w`` with gradient ``g`` at step ``t`` (1-based), after global-norm clipping of all
gradients together (``global_clipnorm``, applied by the base class after the cross-replica sum):

    m = b1 m + (1 - b1) g                 v = b2 v + (1 - b2) g^2
    m^ = m / (1 - b1^t)                   v^ = v / (1 - b2^t)         (bias_correction=True)
    u = m^ / (sqrt(v^) + eps) + wd w      (wd only where weight decay applies)
    r = |w| / |u|  (1 if either norm is 0; r = 1 where layer adaptation is excluded)
    w = w - lr * mult(w) * r * u

Google's MobileBERT release uses the same update without bias correction
(``bias_correction=False``). ``mult(w)`` is a per-variable learning-rate multiplier (1 unless set
with ``set_lr_multipliers``), which progressive knowledge transfer uses for the lower layers.
Layer adaptation is skipped for the variables excluded from weight decay unless
``exclude_from_layer_adaptation`` says otherwise (Google's and tensorflow-addons' default).
"""
from __future__ import annotations

import math
import weakref
from typing import Iterable

import tensorflow as tf
import tf_keras as keras

from mobilebert_tf.layers import PACKAGE, NoNorm
from mobilebert_tf.weights import named_weights


@keras.utils.register_keras_serializable(package=PACKAGE)
class LAMB(keras.optimizers.Optimizer):
    """Layer-wise Adaptive Moments optimizer for Batch training (see the module docstring).

    Args:
        learning_rate: a float or a schedule (``WarmupLinearDecay``).
        weight_decay_rate: decoupled decay, not on the variables given to ``exclude_from_weight_decay``.
        beta_1, beta_2, epsilon: Adam's moments.
        bias_correction: Adam's bias correction (False: Google's MobileBERT release).
        global_clipnorm: clip all gradients together to this norm (None: no clipping).
        jit_compile, name, **kwargs: the tf-keras optimizer's.

    Example:
        >>> opt = LAMB(WarmupLinearDecay(1.5e-3, total_steps=10_000, warmup_steps=1000))
        >>> opt.exclude_from_weight_decay(var_list=no_decay_variables(model))
    """

    def __init__(self, learning_rate=1e-3, weight_decay_rate: float = 0.01, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-6, bias_correction: bool = True,
                 global_clipnorm: float | None = 1.0, jit_compile: bool = True, name: str = "LAMB", **kwargs):
        super().__init__(name=name, global_clipnorm=global_clipnorm, jit_compile=jit_compile, **kwargs)
        self._learning_rate = self._build_learning_rate(learning_rate)
        self.weight_decay_rate = float(weight_decay_rate)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.bias_correction = bool(bias_correction)
        for name in ("beta_1", "beta_2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"LAMB {name} must be in [0, 1), got {getattr(self, name)}")
        self._lr_multipliers: dict = {}
        self._scalars = self._no_dependency(weakref.WeakKeyDictionary())  # graph -> {dtype: step scalars}
        self._no_adaptation_keys: list | None = None  # None: same as the weight-decay exclusions

    # ------------------------------------------------------------------ per-variable options
    def exclude_from_layer_adaptation(self, var_list=None):
        """Variables that get no trust ratio (r = 1). Call before ``build``; default: the decay exclusions."""
        if getattr(self, "_built", False):
            raise ValueError("exclude_from_layer_adaptation() must be called before the optimizer is built")
        self._no_adaptation_keys = [self._var_key(v) for v in (var_list or [])]

    def set_lr_multipliers(self, multipliers: Iterable[tuple[tf.Variable, float]]):
        """``(variable, multiplier)`` pairs (default 1). Read when the train step is traced: set them first."""
        self._lr_multipliers = {self._var_key(v): float(m) for v, m in multipliers}

    def lr_multiplier(self, variable) -> float:
        return self._lr_multipliers.get(self._var_key(variable), 1.0)

    def _use_layer_adaptation(self, variable) -> bool:
        if self._no_adaptation_keys is None:
            return self._use_weight_decay(variable)
        return self._var_key(variable) not in self._no_adaptation_keys

    # ------------------------------------------------------------------ keras optimizer API
    def build(self, var_list):
        super().build(var_list)
        if getattr(self, "_built", False):
            return
        self._built = True
        self._momentums = [self.add_variable_from_reference(v, "m") for v in var_list]
        self._velocities = [self.add_variable_from_reference(v, "v") for v in var_list]

    def update_step(self, gradient, variable):
        if isinstance(gradient, tf.IndexedSlices):
            # The trust ratio needs the whole update anyway; embeddings arrive as IndexedSlices.
            gradient = tf.convert_to_tensor(gradient)
        index = self._index_dict[self._var_key(variable)]
        m, v = self._momentums[index], self._velocities[index]
        m_t = self.beta_1 * m + (1.0 - self.beta_1) * gradient
        v_t = self.beta_2 * v + (1.0 - self.beta_2) * tf.square(gradient)
        m.assign(m_t)
        v.assign(v_t)
        lr, inv_c1, inv_c2 = self._step_scalars(variable.dtype)
        if self.bias_correction:
            m_t, v_t = m_t * inv_c1, v_t * inv_c2
        update = m_t / (tf.sqrt(v_t) + self.epsilon)
        if self.weight_decay_rate and self._use_weight_decay(variable):
            update += self.weight_decay_rate * variable
        if self._use_layer_adaptation(variable):
            w_norm, u_norm = tf.norm(variable), tf.norm(update)
            update *= tf.where((w_norm > 0.0) & (u_norm > 0.0), w_norm / u_norm, 1.0)
        variable.assign_sub(lr * self.lr_multiplier(variable) * update)

    def _step_scalars(self, dtype):
        """``(lr, 1 / (1 - b1^t), 1 / (1 - b2^t))`` of the current step. Built once per graph, not once
        per variable: that is a quarter of the update ops, and of the train step's tracing time."""
        graph = None if tf.executing_eagerly() else tf.compat.v1.get_default_graph()
        cached = self._scalars.get(graph, {}).get(dtype) if graph is not None else None
        if cached is not None:
            return cached
        t = tf.cast(self.iterations + 1, dtype)
        # 1 - beta^t as -expm1(t log beta): in float32, 1 - 0.999**t is off by 1.3e-5 relative.
        inv = [1.0 / -tf.math.expm1(t * math.log(b)) if b > 0 else tf.ones_like(t) for b in (self.beta_1, self.beta_2)]
        scalars = (tf.cast(self.learning_rate, dtype), *inv)
        if graph is not None:
            self._scalars.setdefault(graph, {})[dtype] = scalars
        return scalars

    def get_config(self):
        config = super().get_config()
        config.update({"learning_rate": self._serialize_hyperparameter(self._learning_rate),
                       "weight_decay_rate": self.weight_decay_rate, "beta_1": self.beta_1, "beta_2": self.beta_2,
                       "epsilon": self.epsilon, "bias_correction": self.bias_correction})
        return config


NORM_TYPES = (NoNorm, keras.layers.LayerNormalization)


def is_bias(path: str) -> bool:
    """True for a bias by its weight path: own name ``bias`` or ``*_bias`` (the MLM head's ``output_bias``).

    Args:
        path: a weight path from ``named_weights``, e.g. ``"encoder/layer_0/attention/query/bias"``.

    Returns:
        Whether the weight is a bias.

    Example:
        >>> is_bias("mlm/output_bias"), is_bias("encoder/layer_0/attention/query/kernel")
        (True, False)
    """
    own = path.rpartition("/")[2]
    return own == "bias" or own.endswith("_bias")


def no_decay_variables(model: keras.layers.Layer) -> list[tf.Variable]:
    """Variables excluded from weight decay (and LAMB's trust ratio): norm parameters and biases.

    The one no-decay rule of pre-training, distillation and fine-tuning. Google's release excludes names
    matching ``LayerNorm``, ``layer_norm`` and ``bias``; here the layer type decides, so ``NoNorm`` (named
    ``FakeLayerNorm`` there) is excluded as well, also inside a QAT model's quantize wrappers.

    Args:
        model: a built Keras layer or model.

    Returns:
        The variables of every ``NoNorm`` / ``LayerNormalization`` layer and every bias, in
        ``named_weights`` order.

    Example:
        >>> opt.exclude_from_weight_decay(var_list=no_decay_variables(model))
    """
    norm_ids = {id(v) for layer in model._flatten_layers(include_self=True, recursive=True)
                if isinstance(layer, NORM_TYPES) for v in layer.weights}
    return [v for path, v in named_weights(model).items() if id(v) in norm_ids or is_bias(path)]


def make_lamb(model: keras.layers.Layer, learning_rate, *, weight_decay_rate: float = 0.01,
              clip_norm: float | None = 1.0, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-6,
              bias_correction: bool = True) -> LAMB:
    """LAMB with weight decay (and trust ratio) off for ``model``'s norm parameters and biases.

    Args:
        model: the built model (``no_decay_variables`` picks the exclusions).
        learning_rate: a float or a schedule.
        weight_decay_rate, clip_norm, beta_1, beta_2, epsilon, bias_correction: ``LAMB``'s.

    Returns:
        The ``LAMB`` optimizer.

    Example:
        >>> opt = make_lamb(model, WarmupLinearDecay(1.5e-3, total_steps=10_000, warmup_steps=1000))
    """
    opt = LAMB(learning_rate, weight_decay_rate=weight_decay_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
               bias_correction=bias_correction, global_clipnorm=clip_norm)
    opt.exclude_from_weight_decay(var_list=no_decay_variables(model))
    return opt
