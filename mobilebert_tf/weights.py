"""Weights by path, independent of how Keras happened to name variables at build time.

A weight's name is the chain of sublayer names from the model down, then the weight's own name:
``encoder/layer_0/attention/query/kernel``. Checkpoint converters and our own model directories
(``weights.safetensors``) use these names.
"""
from __future__ import annotations

import os
from typing import Mapping

import numpy as np
import tensorflow as tf
import tf_keras as keras

from mobilebert_tf.errors import MobileBertError
from mobilebert_tf.fileio import atomic_path


class CheckpointError(MobileBertError, ValueError):
    """A checkpoint is unreadable or does not fit the model. The message lists the offending names."""


def _own_name(variable: tf.Variable) -> str:
    return variable.name.split("/")[-1].split(":")[0]


# Variables that only quantization-aware training adds (tfmot quantizer ranges and step counters).
QAT_SUFFIXES = ("_min", "_max", "optimizer_step")


def is_qat_variable(name: str) -> bool:
    return name.endswith(QAT_SUFFIXES)


def _transparent(layer) -> bool:
    """A tfmot QuantizeWrapper named like the layer it wraps adds no path segment, so a QAT model's
    real weights keep the float model's names (only the quantizer ranges are new)."""
    return type(layer).__name__ in ("QuantizeWrapperV2", "QuantizeWrapper") and layer.layer.name == layer.name


def named_weights(layer: keras.layers.Layer, prefix: str = "") -> dict[str, tf.Variable]:
    """All weights of a built layer keyed by path. Raises if two weights would share a name.

    Args:
        layer: a built layer or model.
        prefix: prepended to every name.

    Returns:
        Path -> variable, e.g. ``encoder/layer_0/attention/query/kernel``.

    Example:
        >>> sorted(named_weights(model))[:1]
        ['classifier_head/classifier/bias']
    """
    out: dict[str, tf.Variable] = {}
    for v in list(layer._trainable_weights) + list(layer._non_trainable_weights):
        name = prefix + _own_name(v)
        if name in out:
            raise RuntimeError(f"duplicate weight name {name}")
        out[name] = v
    for child in layer._flatten_layers(include_self=False, recursive=False):
        child_prefix = prefix if _transparent(layer) else prefix + child.name + "/"
        for name, v in named_weights(child, child_prefix).items():
            if name in out:
                raise RuntimeError(f"duplicate weight name {name}")
            out[name] = v
    return out


MAX_LISTED = 60  # names per category in one error message


def describe_mismatch(*, missing=(), unexpected=(), mismatched=(), source: str = "checkpoint",
                      display=None) -> str:
    """One message listing every missing, unexpected and mis-shaped weight by name.

    Args:
        missing: names the model needs and the checkpoint lacks.
        unexpected: names the checkpoint has and the model lacks (listed as given).
        mismatched: ``(name, checkpoint shape, model shape)`` triples.
        source: the checkpoint named in the first line.
        display: maps a missing/mis-shaped name to the text shown (e.g. the checkpoint's own name).

    Returns:
        The message (one line per category, at most ``MAX_LISTED`` names each).

    Example:
        >>> print(describe_mismatch(missing=["mlm/output_bias"], source="ckpt"))
        ckpt does not match the model:
          missing (1): mlm/output_bias
    """
    show = display or (lambda n: n)

    def listing(items):
        items = list(items)
        more = f", ... and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else ""
        return ", ".join(items[:MAX_LISTED]) + more

    lines = [f"{source} does not match the model:"]
    if missing:
        lines.append(f"  missing ({len(missing)}): " + listing(show(n) for n in sorted(missing)))
    if unexpected:
        lines.append(f"  unexpected ({len(unexpected)}): " + listing(sorted(unexpected)))
    if mismatched:
        lines.append(f"  wrong shape ({len(mismatched)}): " + listing(
            f"{show(n)} (checkpoint {tuple(got)}, model {tuple(want)})" for n, got, want in sorted(mismatched)))
    return "\n".join(lines)


def assign_named(layer: keras.layers.Layer, arrays: Mapping[str, np.ndarray], *, source: str = "checkpoint",
                 allow_missing: bool = False, allow_unexpected: bool = False,
                 display=None, optional=None) -> dict[str, list[str]]:
    """Assign ``arrays`` (path -> array) to the built ``layer``; all-or-nothing.

    Every problem is collected first (missing, unexpected, wrong shape) and reported in one
    CheckpointError before anything is assigned.

    Args:
        layer: a built layer or model.
        arrays: path -> array.
        source: the checkpoint named in messages.
        allow_missing: weights of ``layer`` absent from ``arrays`` keep their values.
        allow_unexpected: names ``layer`` lacks are ignored.
        display: see :func:`describe_mismatch`.
        optional: ``optional(name)`` true for weights that may be absent (QAT ranges from a float checkpoint).

    Returns:
        ``{"missing": [...], "unexpected": [...]}`` (what was tolerated).

    Example:
        >>> assign_named(model, weights_to_numpy(other_model))["missing"]
        []
    """
    targets = named_weights(layer)
    missing = [n for n in targets if n not in arrays and not (optional and optional(n))]
    unexpected = [n for n in arrays if n not in targets]
    mismatched = [(n, np.shape(arrays[n]), tuple(targets[n].shape)) for n in targets
                  if n in arrays and tuple(np.shape(arrays[n])) != tuple(targets[n].shape)]
    if mismatched or (missing and not allow_missing) or (unexpected and not allow_unexpected):
        raise CheckpointError(describe_mismatch(missing=missing if not allow_missing else (),
                                                unexpected=unexpected if not allow_unexpected else (),
                                                mismatched=mismatched, source=source, display=display))
    for n, v in targets.items():
        if n in arrays:
            v.assign(np.asarray(arrays[n], dtype=v.dtype.as_numpy_dtype))
    return {"missing": missing, "unexpected": unexpected}


def save_safetensors(arrays: Mapping[str, np.ndarray], path: str | os.PathLike, metadata=None) -> None:
    """Write atomically (temp file + rename): an interrupted save never leaves a half-written file."""
    from safetensors.numpy import save_file

    with atomic_path(path) as tmp:  # mode 0644 like every other file (safetensors itself creates 0600)
        # np.require keeps 0-d arrays 0-d (ascontiguousarray would make them shape (1,))
        save_file({k: np.require(v, requirements="C") for k, v in arrays.items()}, tmp, metadata=metadata)


def load_safetensors(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a safetensors file (no pickle, ever); a truncated or corrupt file raises CheckpointError."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"weights file not found: {path}")
    try:
        open(path, "rb").close()  # safetensors reports a permission error as "No such file or directory"
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read the weights file: {e.strerror.lower()}") from e
    if os.path.getsize(path) < 8:
        raise CheckpointError(f"{path}: file is empty or truncated ({os.path.getsize(path)} bytes)")
    try:
        return load_file(path)
    except (SafetensorError, ValueError, OSError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors file (corrupt or truncated?): {e}") from e


def weights_to_numpy(layer: keras.layers.Layer) -> dict[str, np.ndarray]:
    """:func:`named_weights` as numpy arrays (what ``weights.safetensors`` holds).

    Example:
        >>> weights_to_numpy(model)["encoder/embeddings/word_embeddings"].shape
        (30522, 128)
    """
    return {n: v.numpy() for n, v in named_weights(layer).items()}
