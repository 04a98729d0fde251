"""TFLite export pipeline: float / fp16 / dynamic-range / full-integer int8, Task Library metadata and
an accuracy gate. Entry points: ``export.exporter.export_tflite`` and ``mobilebert export``."""
from mobilebert_tf.errors import MobileBertError


class ExportError(MobileBertError, RuntimeError):
    """The model cannot be exported as asked; the message says why (e.g. names the offending ops)."""
