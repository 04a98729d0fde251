"""Frozen, validated settings of training runs (``to_json`` / ``from_json`` like MobileBertConfig)."""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Mapping

from mobilebert_tf.config import ConfigError
from mobilebert_tf.training.optimizer import make_lamb


def check_fields(obj, checks: dict[str, tuple[bool, str]]) -> None:
    """``{field: (ok, what it must be)}`` -> ConfigError naming the first bad field."""
    for name, (ok, want) in checks.items():
        if not ok:
            raise ConfigError(f"{type(obj).__name__} field '{name}' must be {want}, got {getattr(obj, name)!r}")


class JsonConfig:
    """``to_dict`` / ``to_json`` / ``from_dict`` / ``from_json`` for frozen dataclasses whose nested
    configs are fields with a dataclass default."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]):
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ConfigError(f"{cls.__name__}: unknown key(s) {', '.join(map(repr, unknown))}; "
                              f"valid keys are: {', '.join(sorted(fields))}")
        kwargs = {}
        for name, value in values.items():
            default = fields[name].default
            if dataclasses.is_dataclass(default) and isinstance(value, Mapping):
                value = type(default).from_dict(value)
            kwargs[name] = value
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str):
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise ConfigError(f"{cls.__name__}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from e


@dataclasses.dataclass(frozen=True)
class OptimizerConfig(JsonConfig):
    """LAMB + warmup/linear-decay settings (DESIGN.md section 2: lr 1.5e-3, decay 0.01, clip 1.0)."""

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
        return make_lamb(model, schedule, weight_decay_rate=self.weight_decay, clip_norm=self.clip_norm,
                         beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon,
                         bias_correction=self.bias_correction)


@dataclasses.dataclass(frozen=True)
class PretrainConfig(JsonConfig):
    """Settings of a pre-training run. ``batch_size`` is global (split over replicas);
    ``warmup_steps=None`` means 10% of ``steps``."""

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
        return self.steps // 10 if self.warmup_steps is None else self.warmup_steps

    def trajectory(self) -> dict[str, Any]:
        """The settings that determine the weights (checked on resume); not the logging cadence."""
        d = dataclasses.asdict(self)
        for k in ("checkpoint_every", "keep_checkpoints", "log_every"):
            d.pop(k)
        d["warmup_steps"] = self.warmup
        return d
