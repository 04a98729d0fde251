"""Training: LAMB, LR schedules, the checkpointed pre-training loop, tf.distribute helpers, run logging."""
from mobilebert_tf.training.configs import OptimizerConfig, PretrainConfig  # noqa: F401
from mobilebert_tf.training.optimizer import LAMB, make_lamb, no_decay_variables  # noqa: F401
from mobilebert_tf.training.pretrain import TrainResult, pretrain  # noqa: F401
from mobilebert_tf.training.schedules import WarmupLinearDecay  # noqa: F401

__all__ = ["LAMB", "make_lamb", "no_decay_variables", "OptimizerConfig", "PretrainConfig", "TrainResult",
           "pretrain", "WarmupLinearDecay"]
