"""mobilebert-tf: MobileBERT (Sun et al., ACL 2020) in TensorFlow/Keras, from training to a phone."""
import os as _os

# TensorFlow's C++ start-up chatter hides our own messages; users can still override it.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from mobilebert_tf.config import PRESETS, ConfigError, MobileBertConfig  # noqa: E402
from mobilebert_tf.models import (InputError, MobileBertEncoder, MobileBertForPreTraining,  # noqa: E402
                                  MobileBertForQuestionAnswering, MobileBertForSequenceClassification)
from mobilebert_tf.weights import CheckpointError  # noqa: E402
# The loader installs itself behind from_pretrained (models never import checkpoints).
import mobilebert_tf.checkpoints.loader  # noqa: E402,F401

__version__ = "0.1.0"
__all__ = ["MobileBertConfig", "MobileBertEncoder", "MobileBertForPreTraining",
           "MobileBertForSequenceClassification", "MobileBertForQuestionAnswering", "PRESETS",
           "ConfigError", "CheckpointError", "InputError", "__version__"]
