"""Checkpoint formats: detection, HF safetensors (``hf``), Google TF1 (``tf1``). Converters are tables, shared
by both directions."""
from __future__ import annotations

import glob
import os

from mobilebert_tf.weights import CheckpointError

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt.pt")


def detect_format(path: str) -> str:
    """Return ``mobilebert_tf``, ``hf`` or ``tf1`` for a model directory (``tf1`` also for a TF1 checkpoint
    prefix or its .index/.data file); raise CheckpointError otherwise.

    Pickled PyTorch files are refused: loading never unpickles.
    """
    from mobilebert_tf.checkpoints.tf1 import is_tf1_path

    path = os.fspath(path)
    if not os.path.isdir(path) and is_tf1_path(path):
        return "tf1"
    if not os.path.exists(path):
        raise CheckpointError(f"model path not found: {path}")
    if os.path.isfile(path):
        if path.endswith(PICKLE_SUFFIXES):
            raise CheckpointError(f"{path}: refusing to load a pickled PyTorch file (it can run arbitrary code); "
                                  f"save the model with safetensors (HF: save_pretrained(dir, "
                                  f"safe_serialization=True)) and pass the directory")
        raise CheckpointError(f"{path}: expected a model directory (config.json + weights), got a file")
    has = lambda name: os.path.isfile(os.path.join(path, name))  # noqa: E731
    if has("weights.safetensors") and has("config.json"):
        return "mobilebert_tf"
    if has("model.safetensors") and has("config.json"):
        return "hf"
    if has("model.safetensors.index.json"):
        raise CheckpointError(f"{path}: sharded HF checkpoints are not supported; save with a larger "
                              f"max_shard_size so that one model.safetensors is written")
    pickles = [os.path.basename(p) for p in glob.glob(os.path.join(path, "*")) if p.endswith(PICKLE_SUFFIXES)]
    if pickles:
        raise CheckpointError(f"{path}: only pickled PyTorch weights found ({', '.join(sorted(pickles))}); "
                              f"refusing to unpickle. Convert them to safetensors (HF: "
                              f"save_pretrained(dir, safe_serialization=True)) and retry")
    if is_tf1_path(path):
        return "tf1"
    if not has("config.json"):
        raise CheckpointError(f"{path}: no config.json found")
    raise CheckpointError(f"{path}: config.json found but no weights (expected weights.safetensors for "
                          f"mobilebert_tf directories or model.safetensors for HF directories)")
