"""Data pipelines: pre-training TFRecords, GLUE and SQuAD."""
from mobilebert_tf.errors import MobileBertError


class DataError(MobileBertError, ValueError):
    """Bad input data. The message names the file, the line or field, and the problem."""
