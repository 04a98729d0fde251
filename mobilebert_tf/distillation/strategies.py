"""Knowledge-transfer strategies of the paper's ablation, each one a list of stages.

* **progressive**: stage ``k`` (one per student layer) trains layer ``k`` on layer ``k``'s
  transfer losses only; the layers below are frozen (paper) or trained at ``lower_lr_mult`` times
  the LR (Google's code); then a pre-training distillation stage trains everything.
* **joint**: one stage with every layer's transfer losses, then pre-training distillation.
* **auxiliary**: one stage, the transfer losses added to the pre-training distillation loss.

During transfer stages the embeddings and heads copied from the teacher stay frozen; embedding
weights that could not be copied (e.g. a NoNorm student's embedding norm under a LayerNorm
teacher) count as layer ``-1`` (trained in the first progressive stage, then as a lower layer).
For equal budgets across strategies, the joint transfer stage runs ``steps_per_stage * L`` steps
and the auxiliary stage ``steps_per_stage * L + final_steps``.
"""
from __future__ import annotations

import dataclasses

from mobilebert_tf.config import ConfigError

LOWER_LAYER_MODES = ("frozen", "lr-mult")
EMBEDDINGS = -1  # "layer" index of trainable (not copied) embedding weights


@dataclasses.dataclass(frozen=True)
class Stage:
    """One stage. ``transfer_layers``: student layers whose transfer losses are on; ``distill``:
    pre-training distillation (MLM soft targets + NSP) on; ``train_layers`` train at the full LR
    (``EMBEDDINGS`` = the not-copied embedding weights), ``lower_layers`` at ``lower_lr_mult``;
    ``train_all``: every student weight trains (the pre-training distillation stage)."""

    name: str
    steps: int
    transfer_layers: tuple[int, ...] = ()
    distill: bool = False
    train_layers: tuple[int, ...] = ()
    lower_layers: tuple[int, ...] = ()
    lower_lr_mult: float = 0.0
    train_all: bool = False

    def lr_multiplier(self, layer: int | None, copied: bool) -> float:
        """Multiplier for a weight of block ``layer`` (``EMBEDDINGS``; None for heads/pooler);
        ``copied``: taken from the teacher. 0 means frozen."""
        if self.train_all:
            return 1.0
        if copied or layer is None:
            return 0.0
        if layer in self.train_layers:
            return 1.0
        return self.lower_lr_mult if layer in self.lower_layers else 0.0


def _check(steps_per_stage: int, final_steps: int, num_layers: int) -> None:
    if num_layers < 1:
        raise ConfigError(f"the student needs at least one layer, got {num_layers}")
    if not isinstance(steps_per_stage, int) or steps_per_stage < 1:
        raise ConfigError(f"--steps-per-stage must be a positive integer, got {steps_per_stage!r}")
    if not isinstance(final_steps, int) or final_steps < 0:
        raise ConfigError(f"--final-steps must be a non-negative integer, got {final_steps!r}")


def _final(final_steps: int) -> list[Stage]:
    return [Stage("pretraining_distillation", final_steps, distill=True, train_all=True)] if final_steps else []


def progressive_schedule(num_layers: int, steps_per_stage: int, final_steps: int, *, lower_layers: str = "frozen",
                         lower_lr_mult: float = 0.1) -> list[Stage]:
    """One transfer stage per layer, then pre-training distillation."""
    _check(steps_per_stage, final_steps, num_layers)
    if lower_layers not in LOWER_LAYER_MODES:
        raise ConfigError(f"--lower-layers must be one of {', '.join(LOWER_LAYER_MODES)}, got {lower_layers!r}")
    if lower_layers == "lr-mult" and not 0 < lower_lr_mult <= 1:
        raise ConfigError(f"--lower-lr-mult must be in (0, 1], got {lower_lr_mult!r}")
    stages = []
    for k in range(num_layers):
        current = (EMBEDDINGS, 0) if k == 0 else (k,)
        below = tuple(range(EMBEDDINGS, k)) if lower_layers == "lr-mult" and k > 0 else ()
        stages.append(Stage(f"transfer_layer_{k}", steps_per_stage, transfer_layers=(k,), train_layers=current,
                            lower_layers=below, lower_lr_mult=lower_lr_mult if below else 0.0))
    return stages + _final(final_steps)


def joint_schedule(num_layers: int, steps_per_stage: int, final_steps: int, **_) -> list[Stage]:
    """All layers' transfer losses at once (``steps_per_stage * L`` steps), then pre-training distillation."""
    _check(steps_per_stage, final_steps, num_layers)
    layers = tuple(range(num_layers))
    return [Stage("joint_transfer", steps_per_stage * num_layers, transfer_layers=layers,
                  train_layers=(EMBEDDINGS, *layers))] + _final(final_steps)


def auxiliary_schedule(num_layers: int, steps_per_stage: int, final_steps: int, **_) -> list[Stage]:
    """One stage: pre-training distillation plus every layer's transfer losses."""
    _check(steps_per_stage, final_steps, num_layers)
    return [Stage("auxiliary", steps_per_stage * num_layers + final_steps, transfer_layers=tuple(range(num_layers)),
                  distill=True, train_all=True)]


STRATEGIES = {"progressive": progressive_schedule, "joint": joint_schedule, "auxiliary": auxiliary_schedule}


def make_schedule(strategy: str, num_layers: int, steps_per_stage: int, final_steps: int, **kwargs) -> list[Stage]:
    if strategy not in STRATEGIES:
        raise ConfigError(f"unknown distillation strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    return STRATEGIES[strategy](num_layers, steps_per_stage, final_steps, **kwargs)
