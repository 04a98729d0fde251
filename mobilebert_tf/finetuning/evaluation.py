"""Evaluation with each task's official metric, for a model in memory or a prediction file on disk.

GLUE predictions are ``{guid: label name}`` (``{guid: score}`` for STS-B); SQuAD predictions are the official
``{question id: answer text}`` (v2.0 adds a ``{question id: null score - best span score}`` na-prob file).
"""
from __future__ import annotations

import os
import sys
import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mobilebert_tf.data import DataError
from mobilebert_tf.fileio import atomic_write_json
from mobilebert_tf.finetuning.tasks import FinetuneTask, TaskData

__all__ = ["EvalResult", "predict_logits", "evaluate_task", "score_predictions", "write_predictions",
           "na_prob_path"]


@dataclass
class EvalResult:
    """The scores and predictions of one evaluation.

    Args:
        metrics: the official metrics (GLUE on 0-1, SQuAD on 0-100).
        score: ``task.main_score(metrics)``.
        predictions: guid -> label name / score, or question id -> answer text.
        na_probs: question id -> no-answer probability (SQuAD v2.0 only).

    Example:
        >>> result = evaluate_task(task, model, data)
        >>> result.metrics, result.score
    """

    metrics: dict[str, float]
    score: float
    predictions: dict[str, Any]
    na_probs: dict[str, float] = field(default_factory=dict)


# model -> {output keys: traced forward}; weak so that dropping a model frees its graphs.
_FORWARD_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _forward_fn(model, keys: tuple[str, ...]):
    """One traced inference function per (model, outputs), with free batch and sequence dimensions: the short
    last batch and each new evaluation reuse it instead of retracing."""
    import tensorflow as tf

    per_model = _FORWARD_CACHE.setdefault(model, {})
    if keys not in per_model:
        spec = {k: tf.TensorSpec([None, None], tf.int32, name=k) for k in ("input_ids", "input_mask", "segment_ids")}

        # autograph=False: the model has no tensor-dependent Python control flow; autograph's conversion of the
        # Keras call path fails on a [None, None] signature (KeyError '__class__' in a converted __init__), and it
        # re-reads source files from disk at trace time (see trainer.train).
        @tf.function(input_signature=[spec], autograph=False)
        def forward(batch):
            out = model(batch, training=False)
            return {k: out[k] for k in keys}

        per_model[keys] = forward
    return per_model[keys]


def predict_logits(model, inputs: dict[str, np.ndarray], keys, batch_size: int = 64) -> dict[str, np.ndarray]:
    """Run ``model`` over int32 inputs in batches (inference mode) and stack ``keys`` of its outputs.

    Args:
        model: a task model.
        inputs: ``input_ids``, ``input_mask``, ``segment_ids``: [N, S].
        keys: the output names, e.g. ``("logits",)``.
        batch_size: rows per call.

    Returns:
        ``{key: np.ndarray [N, ...]}``.

    Example:
        >>> predict_logits(model, data.inputs, ("logits",))["logits"].shape
        (872, 2)
    """
    keys = tuple(keys)
    forward = _forward_fn(model, keys)
    n = inputs["input_ids"].shape[0]
    chunks: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    for start in range(0, n, batch_size):
        batch = {k: inputs[k][start:start + batch_size] for k in ("input_ids", "input_mask", "segment_ids")}
        for k, v in forward(batch).items():
            chunks[k].append(v.numpy())
    return {k: np.concatenate(v) if v else np.zeros((0,)) for k, v in chunks.items()}


def evaluate_task(task: FinetuneTask, model, data: TaskData, *, batch_size: int = 64, n_best: int = 20,
                  max_answer_length: int = 30, null_threshold: float = 0.0, lowercase: bool = True) -> EvalResult:
    """Predict ``data`` with ``model`` and score it with the task's official metric.

    Args:
        task: the task.
        model: its model.
        data: an encoded split with labels.
        batch_size: rows per call.
        n_best, max_answer_length, null_threshold, lowercase: SQuAD answer decoding.

    Returns:
        The ``EvalResult``.

    Example:
        >>> evaluate_task(get_finetune_task("sst-2"), model, dev).metrics
        {'accuracy': 0.81}
    """
    if task.kind == "span":
        out = predict_logits(model, data.inputs, ("start_logits", "end_logits"), batch_size)
        return squad_result(task, data, out["start_logits"], out["end_logits"], n_best=n_best,
                            max_answer_length=max_answer_length, null_threshold=null_threshold, lowercase=lowercase)
    logits = predict_logits(model, data.inputs, ("logits",), batch_size)["logits"]
    return glue_result(task, data, logits)


def glue_result(task: FinetuneTask, data: TaskData, logits: np.ndarray) -> EvalResult:
    """Metrics and named predictions from GLUE logits.

    Args:
        task: a GLUE task.
        data: the split the logits belong to.
        logits: [N, num_labels] (regression: [N, 1] scores).

    Returns:
        The ``EvalResult``.

    Example:
        >>> glue_result(task, data, predict_logits(model, data.inputs, ("logits",))["logits"])
    """
    from mobilebert_tf.metrics import glue_metrics

    if task.kind == "regression":
        scores = logits.reshape(-1).astype(np.float64)
        predictions = {e.guid: float(s) for e, s in zip(data.examples, scores)}
        pred_for_metrics = scores
    else:
        ids = logits.argmax(axis=-1)
        predictions = {e.guid: task.labels[i] for e, i in zip(data.examples, ids)}
        pred_for_metrics = ids
    metrics = glue_metrics(task.glue, pred_for_metrics, [e.label for e in data.examples])
    return EvalResult(metrics, task.main_score(metrics), predictions)


def squad_result(task: FinetuneTask, data: TaskData, start_logits, end_logits, *, n_best: int = 20,
                 max_answer_length: int = 30, null_threshold: float = 0.0, lowercase: bool = True) -> EvalResult:
    """Official SQuAD scores of answers post-processed from per-window logits.

    Args:
        task: a SQuAD task.
        data: the split (examples, features, dataset).
        start_logits, end_logits: [num_features, seq_len].
        n_best, max_answer_length, null_threshold, lowercase: answer decoding.

    Returns:
        The ``EvalResult`` (with na_probs for v2.0).

    Example:
        >>> out = predict_logits(model, data.inputs, ("start_logits", "end_logits"))
        >>> squad_result(task, data, out["start_logits"], out["end_logits"]).metrics
    """
    from mobilebert_tf.data.squad import postprocess_predictions
    from mobilebert_tf.squad_eval import evaluate

    version_2 = task.squad_version == 2
    predictions, _, na_probs = postprocess_predictions(
        data.examples, data.features, start_logits, end_logits, n_best=n_best, max_answer_length=max_answer_length,
        version_2=version_2, null_threshold=null_threshold, lowercase=lowercase)
    metrics = evaluate(data.dataset, predictions, version=task.squad_version, na_probs=na_probs or None)
    metrics = {k: float(v) for k, v in metrics.items()}
    return EvalResult(metrics, task.main_score(metrics), predictions, na_probs)


def _label_id(task: FinetuneTask, value, where: str) -> int:
    """A prediction given as label name ("positive"), file value ("1") or class id (1) -> class id."""
    if isinstance(value, bool):
        raise DataError(f"{where}: prediction {value!r} is not a label of {task.name}")
    if isinstance(value, int) and 0 <= value < len(task.labels):
        return value
    for names in (task.labels, task.label_values):
        if isinstance(value, str) and value in names:
            return names.index(value)
    raise DataError(f"{where}: prediction {value!r} is not a label of {task.name} "
                    f"(expected one of {list(task.labels)})")


def score_predictions(task: FinetuneTask, data: TaskData, predictions: dict, na_probs: dict | None = None,
                      *, source: str = "predictions", warn=sys.stderr) -> EvalResult:
    """Score a prediction dict (as ``write_predictions`` writes it) against ``data``'s gold labels.

    GLUE: every guid of ``data`` must be predicted (DataError naming the first missing one). SQuAD: as the
    official scripts, a missing question scores 0 with a warning.

    Args:
        task: the task.
        data: the split with gold labels (``tokenizer=None`` is enough).
        predictions: guid -> label name / label value / class id / score, or question id -> answer text.
        na_probs: SQuAD v2.0 no-answer probabilities.
        source: the predictions' name, for messages.
        warn: where SQuAD's missing-question lines go.

    Returns:
        The ``EvalResult``.

    Example:
        >>> score_predictions(task, data, load_predictions("runs/sst2/dev_predictions.json")).metrics
    """
    from mobilebert_tf.metrics import glue_metrics
    from mobilebert_tf.squad_eval import evaluate

    if not isinstance(predictions, dict):
        raise DataError(f"{source}: expected a JSON object mapping ids to predictions, got {type(predictions).__name__}")
    if task.kind == "span":
        metrics = evaluate(data.dataset, predictions, version=task.squad_version, na_probs=na_probs, warn=warn)
        metrics = {k: float(v) for k, v in metrics.items()}
        return EvalResult(metrics, task.main_score(metrics), predictions, dict(na_probs or {}))
    missing = [e.guid for e in data.examples if e.guid not in predictions]
    if missing:
        raise DataError(f"{source}: no prediction for {missing[0]} ({len(missing)} of {len(data.examples)} "
                        f"examples missing)")
    if task.kind == "regression":
        values = []
        for e in data.examples:
            v = predictions[e.guid]
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise DataError(f"{source}: {e.guid}: score {v!r} is not a number")
            values.append(float(v))
        pred = np.asarray(values)
    else:
        pred = np.asarray([_label_id(task, predictions[e.guid], f"{source}: {e.guid}") for e in data.examples])
    metrics = glue_metrics(task.glue, pred, [e.label for e in data.examples])
    return EvalResult(metrics, task.main_score(metrics), predictions)


def na_prob_path(predictions_path: str) -> str:
    """Where the v2.0 na-probs go beside a predictions file.

    Args:
        predictions_path: the predictions file.

    Returns:
        The na-probs path.

    Example:
        >>> na_prob_path("pred.json")
        'pred.na_probs.json'
    """
    root, ext = os.path.splitext(predictions_path)
    return f"{root}.na_probs{ext or '.json'}"


def write_predictions(result: EvalResult, path: str) -> list[str]:
    """Write ``result.predictions`` (and, for SQuAD v2.0, the na-probs beside it) atomically.

    Args:
        result: an ``EvalResult``.
        path: the predictions file (its folder is created).

    Returns:
        The paths written.

    Example:
        >>> write_predictions(evaluate_task(task, model, dev), "runs/sst2/dev_predictions.json")
        ['runs/sst2/dev_predictions.json']
    """
    written = []
    for target, payload in ((path, result.predictions),) + (((na_prob_path(path), result.na_probs),)
                                                           if result.na_probs else ()):
        os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
        atomic_write_json(target, payload, indent=1)
        written.append(target)
    return written
