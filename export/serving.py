"""The serving signature of an export (docs/export.md, "The contract"): the one place that says what goes
in and what comes out.

Inputs int32 [1, seq] named ``ids``, ``mask``, ``segment_ids``; outputs float32 ``end_logits`` /
``start_logits`` [1, seq] (qa), ``probability`` [1, n_labels] (classifier), ``sequence_output`` /
``pooled_output`` (encoder). ``seq_len="dynamic"``: inputs [1, -1] (shape signature), resized to each
text's token count at run time, at most the position table's length less one (:func:`dynamic_max_len`).

:class:`ServingModule` is what the converter traces; :func:`keras_outputs` is the same function run on the
Keras model (the accuracy gate's float reference); both pick their outputs through :func:`select_outputs`.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

DYNAMIC = "dynamic"  # --seq-len dynamic: inputs [1, -1], run at each text's own length
INPUT_NAMES = ("ids", "mask", "segment_ids")
MODEL_INPUT_NAMES = ("input_ids", "input_mask", "segment_ids")  # the Keras models' names, in the same order
OUTPUT_NAMES = {"qa": ("end_logits", "start_logits"), "classifier": ("probability",),
                "encoder": ("sequence_output", "pooled_output")}
# what each signature tensor holds (the Task Library metadata's descriptions)
TENSOR_DESCRIPTIONS = {"ids": "WordPiece ids of [CLS] query/text [SEP] (context [SEP]), padded with 0",
                       "mask": "1 for real tokens, 0 for padding",
                       "segment_ids": "0 for the first segment, 1 for the second",
                       "end_logits": "end position logits", "start_logits": "start position logits",
                       "probability": "class probabilities", "sequence_output": "per-token features",
                       "pooled_output": "sentence feature ([CLS])"}


def parse_seq_len(text: str) -> int | str:
    """``--seq-len`` value: a positive token count or ``dynamic``.

    Args:
      text: the flag's text.
    Returns:
      The int, or ``DYNAMIC``.
    Example:
      ``parse_seq_len("128") == 128``; ``parse_seq_len("dynamic") == DYNAMIC``
    """
    if text.strip().lower() == DYNAMIC:
        return DYNAMIC
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"--seq-len must be a number of tokens or 'dynamic', got {text!r}") from None


def dynamic_max_len(config) -> int:
    """The longest input a dynamic export takes: the position table less the padding slot that
    :class:`ServingModule` appends.

    Args:
      config: the model's ``MobileBertConfig``.
    Returns:
      ``config.max_position_embeddings - 1`` tokens.
    Example:
      ``dynamic_max_len(model.config) == 511`` for a 512-position model
    """
    return config.max_position_embeddings - 1


def signature_feed(batch: dict) -> dict:
    """Model inputs (``input_ids``, ``input_mask``, ``segment_ids``) under the signature's names.

    Args:
      batch: int32 arrays keyed by the Keras models' input names (e.g. ``TaskInputs.batch(i)``).
    Returns:
      The same arrays keyed ``ids``, ``mask``, ``segment_ids``.
    Example:
      ``run_tflite(interpreter, signature_feed(inputs.batch(0)))``
    """
    return {name: batch[key] for name, key in zip(INPUT_NAMES, MODEL_INPUT_NAMES)}


def select_outputs(out: dict, task: str, dynamic: bool = False) -> dict:
    """The signature's outputs for ``task`` from a model call's outputs: the per-task choice, written once.

    Args:
      out: what the Keras model returned (``logits`` / ``start_logits`` ... / ``sequence_output`` ...).
      task: ``qa`` | ``classifier`` | ``encoder``.
      dynamic: the input carries the one padding token a dynamic export appends; the encoder's
        ``sequence_output`` drops its row.
    Returns:
      Output name (``OUTPUT_NAMES[task]``) -> tensor: logits as they are (qa), the softmax of the logits
      (classifier), the features (encoder).
    Example:
      ``select_outputs(model(inputs), "classifier")["probability"]``
    """
    if task == "qa":
        return {"end_logits": out["end_logits"], "start_logits": out["start_logits"]}
    if task == "classifier":
        return {"probability": tf.nn.softmax(out["logits"], axis=-1)}
    sequence = out["sequence_output"][:, :-1] if dynamic else out["sequence_output"]
    return {"sequence_output": sequence, "pooled_output": out["pooled_output"]}


class ServingModule(tf.Module):
    """The exported signature: three int32 [1, seq] inputs (seq None: dynamic), the task's named float32
    outputs (:func:`select_outputs`).

    A dynamic module appends one padding token (id 0, mask 0, segment 0) inside the graph: the last real
    token ([SEP]) then sees the [PAD] embedding as its trigram's next token, as in every padded input the
    model was fine-tuned on, instead of the zeros the shift brings in at the sequence end. That is what
    makes an unpadded run the fixed export's function (exactly, with the additive mask), for one extra
    position; it costs the position table one slot (:func:`dynamic_max_len`).

    Args:
      model: the Keras model (``MobileBertFor...``).
      task: ``qa`` | ``classifier`` | ``encoder``.
      seq_len: the fixed input length, or None for dynamic [1, -1] inputs.
      position_lookup: feed ``position_ids`` computed from the input, so that the position table stays
        one weight (a GATHER) that dynamic-range quantization turns to int8, instead of a constant-folded
        float slice.
    Example:
      ``module = ServingModule(model, "classifier", 128)``; ``module.serve(ids, mask, segment_ids)``
    """

    def __init__(self, model, task: str, seq_len: int | None, position_lookup: bool = False):
        super().__init__()
        self.model, self.task, self.position_lookup = model, task, position_lookup
        self.dynamic = seq_len is None
        spec = [tf.TensorSpec([1, seq_len], tf.int32, name=n) for n in INPUT_NAMES]
        self.serve = tf.function(self._serve, input_signature=spec)

    def _serve(self, ids, mask, segment_ids):
        if self.dynamic:
            ids, mask, segment_ids = (tf.pad(t, [[0, 0], [0, 1]]) for t in (ids, mask, segment_ids))
        inputs = dict(zip(MODEL_INPUT_NAMES, (ids, mask, segment_ids)))
        if self.position_lookup:
            # positions that depend on an input are not constant-folded into a float [seq, H] slice: the
            # GATHER keeps the whole position table a weight that dynamic-range quantization turns to int8
            inputs["position_ids"] = ids * 0 + tf.range(tf.shape(ids)[1])[tf.newaxis]
        return select_outputs(self.model(inputs), self.task, self.dynamic)


def keras_outputs(model, task: str, batch: dict, dynamic: bool = False) -> dict[str, np.ndarray]:
    """The float reference for the gate: the serving signature's outputs, run on the Keras model, batched.

    Args:
      model: the Keras model.
      task: ``qa`` | ``classifier`` | ``encoder``.
      batch: ``input_ids``, ``input_mask``, ``segment_ids`` int32 [B, n].
      dynamic: ``batch`` is unpadded; the one padding token a dynamic :class:`ServingModule` appends is
        appended here too.
    Returns:
      Output name -> array, as the .tflite's signature returns them (with a batch axis of B).
    Example:
      ``keras_outputs(model, "classifier", inputs.batch(0))["probability"]``
    """
    if dynamic:
        batch = {k: np.pad(np.asarray(v), [(0, 0), (0, 1)]) for k, v in batch.items()}
    return {k: v.numpy() for k, v in select_outputs(model(batch), task, dynamic).items()}
