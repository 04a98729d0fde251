"""Data pipelines: pre-training TFRecords, GLUE and SQuAD."""


class DataError(ValueError):
    """Bad input data. The message names the file, the line or field, and the problem."""
