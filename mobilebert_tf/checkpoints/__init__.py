"""Checkpoint formats. ``loader``: detection, reading and the one loading rule; ``hf`` (HF safetensors) and
``tf1`` (Google's TF1 checkpoints): name tables and readers/writers of named arrays, shared by both directions."""
from mobilebert_tf.checkpoints.loader import FORMATS, PICKLE_SUFFIXES, Checkpoint, detect_format, load, read

__all__ = ["FORMATS", "PICKLE_SUFFIXES", "Checkpoint", "detect_format", "load", "read"]
