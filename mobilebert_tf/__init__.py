"""mobilebert-tf: MobileBERT (Sun et al., ACL 2020) in TensorFlow/Keras, from training to a phone."""
import os as _os

# TensorFlow's C++ start-up chatter hides our own messages; users can still override it.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The repository keeps export/ and benchmarks/ beside this package (docs/architecture.md); setup.py installs
# them as mobilebert_tf.export and mobilebert_tf.benchmarks. A source checkout (this folder next to setup.py
# and those two) finds them under the same names.
_ROOT = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if all(_os.path.isfile(_os.path.join(_ROOT, *parts)) for parts in
       (("setup.py",), ("export", "__init__.py"), ("benchmarks", "__init__.py"))):
    __path__.append(_ROOT)  # noqa: F821 (a package's __path__)

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
