"""Knowledge distillation of MobileBERT: transfer losses, layer mapping, strategies and the distillation loop."""
from mobilebert_tf.distillation.distill import (DistillConfig, Distiller, check_compatible,  # noqa: F401
                                                copy_teacher_weights, distill)
from mobilebert_tf.distillation.layer_map import resolve_layer_map  # noqa: F401
from mobilebert_tf.distillation.losses import DistillLossConfig  # noqa: F401
from mobilebert_tf.distillation.strategies import STRATEGIES, Stage, make_schedule  # noqa: F401

__all__ = ["DistillConfig", "Distiller", "check_compatible", "copy_teacher_weights", "distill", "resolve_layer_map",
           "DistillLossConfig", "STRATEGIES", "Stage", "make_schedule"]
