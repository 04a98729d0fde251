"""Frozen, validated settings of training runs (``to_json`` / ``from_json`` like MobileBertConfig), the config
base class they share with distillation and fine-tuning, and ``parse_overrides``, the one reader of the CLI's
``--override KEY=VALUE`` model-config changes (``pretrain``, ``distill``, ``finetune``, ``export``)."""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Iterable, Mapping

from mobilebert_tf.config import ConfigError, MobileBertConfig
from mobilebert_tf.training.optimizer import make_lamb

__all__ = ["check_fields", "JsonConfig", "OptimizerConfig", "PretrainConfig", "parse_overrides"]

_TRUE, _FALSE = ("true", "1"), ("false", "0")


def parse_overrides(items: Iterable[str] | None, num_layers: int | None = None) -> dict[str, Any]:
    """``KEY=VALUE`` strings -> MobileBertConfig field overrides, each value typed by its field.

    bool fields take true/false/1/0 (any case), int and float fields a number, str fields the text as is.

    Args:
        items: the ``--override`` values (None or empty: no overrides).
        num_layers: ``--num-layers``, which sets ``num_hidden_layers`` (None: not given).

    Returns:
        ``{field: typed value}``, for ``MobileBertConfig.from_preset(name, **overrides)`` or ``.replace``.

    Raises:
        ConfigError: an item without ``=``, an unknown field, or a value of the wrong type.

    Example:
        >>> parse_overrides(["num_hidden_layers=4", "hidden_act=gelu", "use_bottleneck=false"])
        {'num_hidden_layers': 4, 'hidden_act': 'gelu', 'use_bottleneck': False}
    """
    types = {f.name: str(f.type) for f in dataclasses.fields(MobileBertConfig)}
    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--override {item!r}: expected KEY=VALUE")
        if key not in types:
            raise ConfigError(f"--override: unknown config key {key!r}; valid keys are: {', '.join(sorted(types))}")
        kind = types[key]
        try:
            if kind == "bool":
                if value.strip().lower() not in _TRUE + _FALSE:
                    raise ValueError
                out[key] = value.strip().lower() in _TRUE
            elif kind == "int":
                out[key] = int(value)
            elif kind == "float":
                out[key] = float(value)
            else:
                out[key] = value
        except ValueError:
            raise ConfigError(f"--override {key}={value!r}: expected a value of type {kind}") from None
    if num_layers is not None:
        out["num_hidden_layers"] = num_layers
    return out


def check_fields(obj, checks: dict[str, tuple[bool, str]]) -> None:
    """Validate a config's fields: the first failing check raises a ConfigError that names the field.

    Args:
        obj: the config (its class name and the field's value go into the message).
        checks: ``{field: (ok, what it must be)}``, in the order to check.

    Raises:
        ConfigError: ``"<Class> field '<name>' must be <what>, got <value>"``.

    Example:
        >>> check_fields(self, {"steps": (self.steps >= 1, "a positive integer")})
    """
    for name, (ok, want) in checks.items():
        if not ok:
            raise ConfigError(f"{type(obj).__name__} field '{name}' must be {want}, got {getattr(obj, name)!r}")


class JsonConfig:
    """Base of the frozen config dataclasses of training, distillation and fine-tuning: ``to_dict`` /
    ``to_json`` / ``from_dict`` / ``from_json`` / ``replace``. Nested configs are fields with a dataclass
    default; unknown keys are ConfigErrors that list the valid ones.

    Example:
        >>> @dataclasses.dataclass(frozen=True)
        ... class RunConfig(JsonConfig):
        ...     steps: int = 10
        >>> RunConfig.from_json(RunConfig(steps=3).to_json()).replace(steps=4)
        RunConfig(steps=4)
    """

    def to_dict(self) -> dict[str, Any]:
        """Returns: the fields as a plain dict (nested configs as dicts)."""
        return dataclasses.asdict(self)

    def replace(self, **changes):
        """A copy with ``changes`` (validated again by ``__post_init__``).

        Args:
            **changes: field values.

        Returns:
            The new config.

        Raises:
            ConfigError: an unknown field, or a value its checks reject.
        """
        self._check_known(changes)
        return dataclasses.replace(self, **changes)

    @classmethod
    def _check_known(cls, values: Mapping[str, Any]) -> None:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ConfigError(f"{cls.__name__}: unknown key(s) {', '.join(map(repr, unknown))}; "
                              f"valid keys are: {', '.join(sorted(names))}")

    def to_json(self) -> str:
        """Returns: the config as indented JSON with sorted keys."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]):
        """The config of ``values`` (nested configs may be dicts). Raises ConfigError on unknown keys."""
        cls._check_known(values)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        kwargs = {}
        for name, value in values.items():
            default = fields[name].default
            if dataclasses.is_dataclass(default) and isinstance(value, Mapping):
                value = type(default).from_dict(value)
            kwargs[name] = value
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str):
        """The config of a ``to_json`` text. Raises ConfigError on invalid JSON or unknown keys."""
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise ConfigError(f"{cls.__name__}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from e


@dataclasses.dataclass(frozen=True)
class OptimizerConfig(JsonConfig):
    """LAMB + warmup/linear-decay settings (docs/training.md: lr 1.5e-3, decay 0.01, clip 1.0).

    Example:
        >>> OptimizerConfig(learning_rate=1e-3).make(model, WarmupLinearDecay(1e-3, total_steps=1000))
    """

    learning_rate: float = 1.5e-3
    weight_decay: float = 0.01
    clip_norm: float = 1.0
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-6
    bias_correction: bool = True

    def __post_init__(self):
        check_fields(self, {
            "learning_rate": (self.learning_rate > 0, "positive"),
            "weight_decay": (self.weight_decay >= 0, "non-negative"),
            "clip_norm": (self.clip_norm > 0, "positive"),
            "beta_1": (0 <= self.beta_1 < 1, "in [0, 1)"),
            "beta_2": (0 <= self.beta_2 < 1, "in [0, 1)"),
            "epsilon": (self.epsilon > 0, "positive")})

    def make(self, model, schedule):
        """Args: model (its norms and biases get no weight decay), schedule (a learning rate or a schedule).
        Returns: the ``LAMB`` optimizer."""
        return make_lamb(model, schedule, weight_decay_rate=self.weight_decay, clip_norm=self.clip_norm,
                         beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon,
                         bias_correction=self.bias_correction)


@dataclasses.dataclass(frozen=True)
class PretrainConfig(JsonConfig):
    """Settings of a pre-training run. ``batch_size`` is global (split over replicas);
    ``warmup_steps=None`` means 10% of ``steps``.

    Example:
        >>> pretrain(model_config, "data/wiki", "runs/teacher", PretrainConfig(steps=100_000, batch_size=256))
    """

    steps: int = 10_000
    batch_size: int = 256
    warmup_steps: int | None = None
    optimizer: OptimizerConfig = OptimizerConfig()
    seed: int = 0
    shuffle: bool = True
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    log_every: int = 10

    def __post_init__(self):
        check_fields(self, {
            "steps": (isinstance(self.steps, int) and self.steps >= 1, "a positive integer"),
            "batch_size": (isinstance(self.batch_size, int) and self.batch_size >= 1, "a positive integer"),
            "warmup_steps": (self.warmup_steps is None or 0 <= self.warmup_steps <= self.steps,
                             f"in [0, steps={self.steps}]"),
            "checkpoint_every": (self.checkpoint_every >= 1, "a positive integer"),
            "keep_checkpoints": (self.keep_checkpoints >= 1, "a positive integer"),
            "log_every": (self.log_every >= 1, "a positive integer")})

    @property
    def warmup(self) -> int:
        """Returns: the warmup steps (``warmup_steps``, or 10% of ``steps`` when None)."""
        return self.steps // 10 if self.warmup_steps is None else self.warmup_steps

    def trajectory(self) -> dict[str, Any]:
        """The settings that determine the weights (checked on resume); not the logging cadence."""
        d = dataclasses.asdict(self)
        for k in ("checkpoint_every", "keep_checkpoints", "log_every"):
            d.pop(k)
        d["warmup_steps"] = self.warmup
        return d
