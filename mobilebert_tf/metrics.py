"""GLUE metrics in plain numpy: accuracy, binary F1, Matthews correlation, Pearson and Spearman.

All functions take 1-D arrays of equal length N and return a Python float on the 0-1 scale (correlations
in [-1, 1]). They agree with scikit-learn / scipy, which stay test-only dependencies.
"""
from __future__ import annotations

import numpy as np

__all__ = ["accuracy", "f1", "matthews_corrcoef", "pearson", "spearman", "rank_average", "glue_metrics"]


def _pair(predictions, labels, dtype=None) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(predictions, dtype=dtype).reshape(-1)
    y = np.asarray(labels, dtype=dtype).reshape(-1)
    if p.shape != y.shape:
        raise ValueError(f"predictions and labels differ in length: {p.shape[0]} vs {y.shape[0]}")
    if p.size == 0:
        raise ValueError("metrics need at least one example")
    return p, y


def accuracy(predictions, labels) -> float:
    """Fraction of equal entries.

    Args:
        predictions: [N] class ids.
        labels: [N] class ids.

    Returns:
        Accuracy in [0, 1].

    Example:
        >>> accuracy([1, 0, 1, 1], [1, 0, 0, 1])
        0.75
    """
    p, y = _pair(predictions, labels)
    return float(np.mean(p == y))


def f1(predictions, labels, positive=1) -> float:
    """Binary F1 of class ``positive``; 0.0 when there are no true positives (sklearn's zero_division=0).

    Args:
        predictions: [N] class ids.
        labels: [N] class ids.
        positive: the class scored.

    Returns:
        F1 in [0, 1].

    Example:
        >>> f1([1, 0, 1, 1], [1, 0, 0, 1])  # tp 2, fp 1, fn 0
        0.8
    """
    p, y = _pair(predictions, labels)
    tp = np.sum((p == positive) & (y == positive))
    fp = np.sum((p == positive) & (y != positive))
    fn = np.sum((p != positive) & (y == positive))
    return float(2 * tp / (2 * tp + fp + fn)) if tp > 0 else 0.0


def matthews_corrcoef(predictions, labels) -> float:
    """Matthews correlation (multi-class form, = the phi coefficient for two classes); 0.0 when undefined.

    Args:
        predictions: [N] class ids.
        labels: [N] class ids.

    Returns:
        MCC in [-1, 1].

    Example:
        >>> matthews_corrcoef([1, 0, 1, 0], [1, 0, 1, 0])
        1.0
    """
    p, y = _pair(predictions, labels)
    classes, inv = np.unique(np.concatenate([y, p]), return_inverse=True)
    k = len(classes)
    confusion = np.zeros((k, k), dtype=np.float64)
    np.add.at(confusion, (inv[: len(y)], inv[len(y):]), 1.0)
    t = confusion.sum(axis=1)  # true count per class
    q = confusion.sum(axis=0)  # predicted count per class
    n = confusion.sum()
    c = np.trace(confusion)
    denom = np.sqrt((n * n - q @ q) * (n * n - t @ t))
    return float((c * n - t @ q) / denom) if denom > 0 else 0.0


def pearson(predictions, labels) -> float:
    """Pearson correlation; nan when either side is constant (as scipy).

    Args:
        predictions: [N] floats.
        labels: [N] floats.

    Returns:
        r in [-1, 1], or nan.

    Example:
        >>> round(pearson([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]), 6)
        1.0
    """
    p, y = _pair(predictions, labels, dtype=np.float64)
    pc, yc = p - p.mean(), y - y.mean()
    denom = np.sqrt(pc @ pc) * np.sqrt(yc @ yc)
    if denom == 0:
        return float("nan")
    return float(np.clip(pc @ yc / denom, -1.0, 1.0))


def rank_average(x) -> np.ndarray:
    """1-based ranks, tied values sharing the mean of their ranks (scipy's 'average').

    Args:
        x: [N] values.

    Returns:
        [N] float64 ranks.

    Example:
        >>> rank_average([10, 20, 20, 5]).tolist()
        [2.0, 3.5, 3.5, 1.0]
    """
    x = np.asarray(x).reshape(-1)
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    # Group boundaries of equal values; each group gets the mean of the ranks it spans.
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
    ends = np.r_[starts[1:], len(x)]
    group_rank = (starts + ends + 1) / 2.0
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.repeat(group_rank, ends - starts)
    return ranks


def spearman(predictions, labels) -> float:
    """Spearman rank correlation: Pearson of average ranks, so ties are handled as scipy does.

    Args:
        predictions: [N] floats.
        labels: [N] floats.

    Returns:
        rho in [-1, 1], or nan when either side is constant.

    Example:
        >>> round(spearman([1.0, 5.0, 3.0], [10.0, 30.0, 20.0]), 6)
        1.0
    """
    p, y = _pair(predictions, labels, dtype=np.float64)
    return pearson(rank_average(p), rank_average(y))


_METRICS = {"accuracy": accuracy, "f1": f1, "mcc": matthews_corrcoef, "pearson": pearson, "spearman": spearman}


def glue_metrics(task, predictions, labels) -> dict[str, float]:
    """The task's official metrics, e.g. ``{"accuracy": .., "f1": ..}`` for MRPC.

    Args:
        task: a name (``"mrpc"``) or a ``GlueTask``.
        predictions: [N] class ids (or [N, C] logits, arg-maxed) for classification, [N] or [N, 1] scores for
            STS-B.
        labels: [N] as in ``GlueExample.label``.

    Returns:
        ``{metric: value}`` in the task's order; STS-B adds ``corr`` = mean of Pearson and Spearman.

    Example:
        >>> glue_metrics("mrpc", [1, 0, 1, 1], [1, 0, 0, 1])
        {'accuracy': 0.75, 'f1': 0.8}
    """
    from mobilebert_tf.data.glue import get_task

    task = get_task(task) if isinstance(task, str) else task
    if any(y is None for y in labels):
        raise ValueError(f"{task.name}: labels contain None; test splits are unlabeled and cannot be scored")
    p = np.asarray(predictions)
    if task.is_regression:
        p = p.reshape(-1).astype(np.float64)
    elif p.ndim == 2:
        p = p.argmax(axis=-1)
    out = {}
    for name in task.metrics:
        out[name] = (out["pearson"] + out["spearman"]) / 2 if name == "corr" else _METRICS[name](p, labels)
    return out
