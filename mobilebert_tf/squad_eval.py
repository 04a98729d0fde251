"""SQuAD v1.1 / v2.0 evaluation with the semantics of the official scripts (``evaluate-v1.1.py``,
``evaluate-v2.0.py``): normalised exact match and token F1, max over gold answers, on a 0-100 scale.

Differences, all on inputs where the official scripts crash: a missing prediction in v2.0 scores 0 (with a
warning, as v1.1 does) instead of a KeyError, and bad files raise ``DataError``.
"""
from __future__ import annotations

import collections
import re
import string
import sys

from mobilebert_tf.data import DataError

__all__ = ["normalize_answer", "exact_match_score", "f1_score", "evaluate_v1", "evaluate_v2", "evaluate",
           "load_predictions", "dataset_version", "squad_articles"]

_PUNCT = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(s: str) -> str:
    """Lower-case, drop ASCII punctuation and the articles a/an/the, collapse whitespace (the official rule).

    Args:
        s: an answer text.

    Returns:
        The normalised text.

    Example:
        >>> normalize_answer("The  Denver Broncos!")
        'denver broncos'
    """
    s = "".join(ch for ch in s.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", s).split())


def exact_match_score(prediction: str, ground_truth: str) -> bool:
    """Whether the two texts are equal after ``normalize_answer``.

    Args:
        prediction: the predicted answer.
        ground_truth: one gold answer.

    Returns:
        True when they match.

    Example:
        >>> exact_match_score("the Broncos", "Broncos")
        True
    """
    return normalize_answer(prediction) == normalize_answer(ground_truth)


def f1_score(prediction: str, ground_truth: str, empty_matches_empty: bool = False) -> float:
    """Token-overlap F1 of the normalised strings, 0-1.

    Args:
        prediction: the predicted answer.
        ground_truth: one gold answer.
        empty_matches_empty: v2.0 rule, where two empty answers score 1 and empty vs non-empty scores 0;
            v1.1 scores any empty side 0.

    Returns:
        F1 in [0, 1].

    Example:
        >>> f1_score("Denver Broncos", "the Broncos")  # precision 1/2, recall 1
        0.6666666666666666
    """
    pred_toks = normalize_answer(prediction).split()
    gold_toks = normalize_answer(ground_truth).split()
    if empty_matches_empty and (not pred_toks or not gold_toks):
        return float(pred_toks == gold_toks)
    common = collections.Counter(pred_toks) & collections.Counter(gold_toks)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_toks)
    recall = num_same / len(gold_toks)
    return 2 * precision * recall / (precision + recall)


def squad_articles(dataset) -> list:
    """The list of articles of a SQuAD dataset.

    Args:
        dataset: a whole SQuAD JSON object (``{"version": ..., "data": [...]}``) or its ``data`` list.

    Returns:
        The ``data`` list (not a copy).

    Raises:
        DataError: no ``data`` field, or it is not a list.

    Example:
        >>> len(squad_articles(json.load(open("dev-v1.1.json"))))
        48
    """
    if isinstance(dataset, dict):
        if "data" not in dataset:
            raise DataError("SQuAD dataset: missing field 'data'")
        dataset = dataset["data"]
    if not isinstance(dataset, list):
        raise DataError(f"SQuAD dataset: field 'data' must be a list, got {type(dataset).__name__}")
    return dataset


def _iter_qas(dataset):
    """Yields (qa_id, gold answer texts, field path) for every question."""
    for a, article in enumerate(squad_articles(dataset)):
        for p, paragraph in enumerate(_field(article, "paragraphs", f"data[{a}]", list)):
            for q, qa in enumerate(_field(paragraph, "qas", f"data[{a}].paragraphs[{p}]", list)):
                where = f"data[{a}].paragraphs[{p}].qas[{q}]"
                qid = _field(qa, "id", where, str)
                answers = _field(qa, "answers", where, list)
                texts = [_field(ans, "text", f"{where}.answers[{i}]", str) for i, ans in enumerate(answers)]
                yield qid, texts, where


def _field(obj, name, where, kind):
    if not isinstance(obj, dict):
        raise DataError(f"SQuAD dataset: {where} must be an object, got {type(obj).__name__}")
    if name not in obj:
        raise DataError(f"SQuAD dataset: {where}: missing field {name!r}")
    value = obj[name]
    if not isinstance(value, kind):
        raise DataError(f"SQuAD dataset: {where}.{name} must be {kind.__name__}, got {type(value).__name__}")
    return value


def _check_predictions(predictions, what="predictions"):
    if not isinstance(predictions, dict):
        raise DataError(f"{what} must be a JSON object mapping question id to answer text, "
                        f"got {type(predictions).__name__}")


def evaluate_v1(dataset, predictions: dict, warn=sys.stderr) -> dict:
    """Official v1.1 result ``{"exact_match": .., "f1": ..}`` (0-100). dataset: the JSON object or its ``data``.

    A question with no prediction scores 0 and a line is written to ``warn`` (None: silent).

    Args:
        dataset: the SQuAD v1.1 JSON object or its ``data`` list.
        predictions: question id -> answer text.
        warn: where unanswered questions are reported (None: silent).

    Returns:
        ``{"exact_match": .., "f1": ..}`` on the 0-100 scale.

    Raises:
        DataError: malformed dataset or predictions.

    Example:
        >>> evaluate_v1(json.load(open("dev-v1.1.json")), {"56be4db0acb8001400a502ec": "Denver Broncos"})
    """
    _check_predictions(predictions)
    exact = f1 = total = 0.0
    for qid, golds, where in _iter_qas(dataset):
        total += 1
        if qid not in predictions:
            if warn is not None:
                print(f"Unanswered question {qid} will receive score 0.", file=warn)
            continue
        pred = predictions[qid]
        if not isinstance(pred, str):
            raise DataError(f"predictions[{qid!r}] must be a string, got {type(pred).__name__}")
        if not golds:
            raise DataError(f"SQuAD dataset: {where}: no answers, which a v1.1 question must have")
        exact += max(exact_match_score(pred, g) for g in golds)
        f1 += max(f1_score(pred, g) for g in golds)
    if total == 0:
        raise DataError("SQuAD dataset: no questions")
    return {"exact_match": 100.0 * exact / total, "f1": 100.0 * f1 / total}


def _raw_scores_v2(dataset, predictions, warn):
    """Per-question exact/F1 (0/1 scale) and has-answer flags, in dataset order."""
    exact, f1, has_ans = {}, {}, {}
    for qid, golds, _ in _iter_qas(dataset):
        # As the official script: has-answer means a non-empty list, and golds that normalise to nothing
        # are dropped, leaving "" as the only gold of an unanswerable question.
        has_ans[qid] = bool(golds)
        golds = [g for g in golds if normalize_answer(g)] or [""]
        if qid not in predictions:
            if warn is not None:
                print(f"Missing prediction for {qid}; it will receive score 0.", file=warn)
            exact[qid] = f1[qid] = 0.0
            continue
        pred = predictions[qid]
        if not isinstance(pred, str):
            raise DataError(f"predictions[{qid!r}] must be a string, got {type(pred).__name__}")
        exact[qid] = float(max(exact_match_score(pred, g) for g in golds))
        f1[qid] = max(f1_score(pred, g, empty_matches_empty=True) for g in golds)
    if not has_ans:
        raise DataError("SQuAD dataset: no questions")
    return exact, f1, has_ans


def _find_best_thresh(predictions, scores, na_probs, has_ans):
    """Best score (0-100) over thresholds on na_prob, and that threshold: the official sweep.

    Start from "everything abstains" (= number of unanswerable questions correct), then admit questions in
    increasing na_prob order; an admitted answerable question gains its score, an admitted unanswerable one
    loses 1 if we then answer it with non-empty text.
    """
    cur = best = float(sum(1 for k in has_ans if not has_ans[k]))
    best_thresh = 0.0
    for qid in sorted(na_probs, key=lambda k: na_probs[k]):
        if qid not in scores:
            continue
        if has_ans[qid]:
            diff = scores[qid]
        else:
            # A missing prediction counts as a wrong (non-empty) answer, as in the raw scores.
            diff = -1.0 if qid not in predictions or predictions[qid] else 0.0
        cur += diff
        if cur > best:
            best, best_thresh = cur, na_probs[qid]
    return 100.0 * best / len(scores), best_thresh


def evaluate_v2(dataset, predictions: dict, na_probs: dict | None = None, na_prob_thresh: float = 1.0,
                warn=sys.stderr) -> dict:
    """Official v2.0 result dict, same keys and order as ``evaluate-v2.0.py``'s JSON.

    na_probs: qid -> probability that the question has no answer; a question whose na_prob exceeds
    na_prob_thresh counts as answered "". With na_probs, ``best_exact``/``best_f1`` and their thresholds
    are added (the official script adds them only when given an na-prob file).

    Args:
        dataset: the SQuAD v2.0 JSON object or its ``data`` list.
        predictions: question id -> answer text ("" abstains).
        na_probs: question id -> no-answer probability (None: not given).
        na_prob_thresh: above it a question counts as answered "".
        warn: where missing predictions are reported (None: silent).

    Returns:
        ``exact``, ``f1``, ``total`` and their ``HasAns_`` / ``NoAns_`` groups (0-100), plus ``best_*`` with
        ``na_probs``.

    Example:
        >>> evaluate_v2(dataset, predictions, na_probs=na_probs)["best_f1"]
    """
    _check_predictions(predictions)
    exact_raw, f1_raw, has_ans = _raw_scores_v2(dataset, predictions, warn)
    given = na_probs is not None
    if given:
        _check_predictions(na_probs, "na-probs")
        missing = [q for q in has_ans if q not in na_probs]
        if missing:
            raise DataError(f"na-probs: no value for {len(missing)} question(s), e.g. {missing[0]!r}")
        na_probs = {q: float(v) for q, v in na_probs.items()}
    else:
        na_probs = {q: 0.0 for q in has_ans}

    def thresholded(scores):
        return {q: float(not has_ans[q]) if na_probs[q] > na_prob_thresh else s for q, s in scores.items()}

    exact, f1 = thresholded(exact_raw), thresholded(f1_raw)

    def block(qids, prefix=""):
        n = len(qids)
        return {f"{prefix}exact": 100.0 * sum(exact[q] for q in qids) / n,
                f"{prefix}f1": 100.0 * sum(f1[q] for q in qids) / n, f"{prefix}total": n}

    out = block(list(has_ans))
    for prefix, flag in (("HasAns_", True), ("NoAns_", False)):
        qids = [q for q in has_ans if has_ans[q] == flag]
        if qids:  # the official script leaves out an empty group
            out.update(block(qids, prefix))
    if given:
        out["best_exact"], out["best_exact_thresh"] = _find_best_thresh(predictions, exact_raw, na_probs, has_ans)
        out["best_f1"], out["best_f1_thresh"] = _find_best_thresh(predictions, f1_raw, na_probs, has_ans)
    return out


def dataset_version(dataset) -> int:
    """The SQuAD version of a dataset: from the JSON's ``version`` field ("1.1", "v2.0"); otherwise 2 if any
    question has ``is_impossible``, else 1.

    Args:
        dataset: the SQuAD JSON object or its ``data`` list.

    Returns:
        1 or 2.

    Example:
        >>> dataset_version({"version": "v2.0", "data": []})
        2
    """
    v = str(dataset.get("version", "")) if isinstance(dataset, dict) else ""
    if v.lstrip("v").startswith("2"):
        return 2
    if v.lstrip("v").startswith("1"):
        return 1
    for article in squad_articles(dataset):
        for paragraph in article.get("paragraphs", []) if isinstance(article, dict) else []:
            if any(isinstance(qa, dict) and "is_impossible" in qa for qa in paragraph.get("qas", [])):
                return 2
    return 1


def evaluate(dataset, predictions: dict, version: int | None = None, na_probs: dict | None = None,
             na_prob_thresh: float = 1.0, warn=sys.stderr) -> dict:
    """v1.1 or v2.0 evaluation.

    Args:
        dataset: the SQuAD JSON object or its ``data`` list.
        predictions: question id -> answer text.
        version: 1 or 2 (None: ``dataset_version``).
        na_probs, na_prob_thresh: v2.0 only (``evaluate_v2``).
        warn: where missing predictions are reported (None: silent).

    Returns:
        ``evaluate_v1``'s or ``evaluate_v2``'s dict.

    Example:
        >>> evaluate(json.load(open("dev-v1.1.json")), load_predictions("predictions.json"))
    """
    version = dataset_version(dataset) if version is None else version
    if version == 1:
        return evaluate_v1(dataset, predictions, warn=warn)
    if version == 2:
        return evaluate_v2(dataset, predictions, na_probs, na_prob_thresh, warn=warn)
    raise ValueError(f"SQuAD version must be 1 or 2, got {version!r}")


def load_predictions(path) -> dict:
    """Read a predictions or na-probs JSON file.

    Args:
        path: the .json file.

    Returns:
        question id -> value.

    Raises:
        DataError: bad JSON or not an object.

    Example:
        >>> load_predictions("runs/squad/dev_predictions.json")
    """
    from mobilebert_tf.data.squad import load_json

    data = load_json(path)
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object mapping question id to value, got {type(data).__name__}")
    return data
