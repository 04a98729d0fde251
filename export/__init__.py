"""TFLite export pipeline (docs/export.md): float / fp16 / dynamic-range / full-integer int8, Task Library
metadata and an accuracy gate. Entry points: ``mobilebert_tf.export.exporter.export_tflite`` and ``mobilebert export``.

Modules, in import order: ``tflite_io`` (reading and running .tflite files), ``metadata`` (Task Library
metadata), ``task_data`` (calibration and gate inputs), ``serving`` (the signature), ``quantization``
(conversion per ``--quantize`` mode), ``accuracy`` (the gate), ``exporter`` (the pipeline), ``android_assets``
(the demo apps' model manifest), ``cli``.
"""
from mobilebert_tf.errors import MobileBertError


class ExportError(MobileBertError, RuntimeError):
    """The model cannot be exported as asked; the message says why (e.g. names the offending ops).

    Example:
      ``raise ExportError("--seq-len 1 must be in [2, 512] or 'dynamic'")``
    """
