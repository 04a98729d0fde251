"""GLUE metrics (numpy) against scikit-learn / scipy on random inputs, and glue_metrics per task."""
import numpy as np
import pytest
import scipy.stats
import sklearn.metrics

from mobilebert_tf.data import DataError
from mobilebert_tf.data.glue import TASKS
from mobilebert_tf.metrics import (accuracy, f1, glue_metrics, matthews_corrcoef, pearson, rank_average,
                                   spearman)


@pytest.mark.filterwarnings("ignore:A single label was found")  # sklearn, on n=1
@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n", [1, 7, 500])
def test_classification_metrics_match_sklearn(seed, n):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.where(rng.random(n) < 0.7, y, 1 - y)  # correlated, as a real classifier would be
    assert accuracy(p, y) == pytest.approx(sklearn.metrics.accuracy_score(y, p), abs=1e-12)
    assert f1(p, y) == pytest.approx(sklearn.metrics.f1_score(y, p, zero_division=0), abs=1e-12)
    assert matthews_corrcoef(p, y) == pytest.approx(sklearn.metrics.matthews_corrcoef(y, p), abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_multiclass_mcc_and_accuracy_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, 300)
    p = np.where(rng.random(300) < 0.5, y, rng.integers(0, 3, 300))
    assert matthews_corrcoef(p, y) == pytest.approx(sklearn.metrics.matthews_corrcoef(y, p), abs=1e-12)
    assert accuracy(p, y) == pytest.approx(sklearn.metrics.accuracy_score(y, p), abs=1e-12)


def test_degenerate_cases_follow_sklearn():
    y = np.array([0, 1, 1, 0])
    constant = np.ones(4, int)
    # Constant predictions: MCC undefined -> 0 (sklearn); no positive predicted or true -> F1 0.
    assert matthews_corrcoef(constant, y) == 0.0 == sklearn.metrics.matthews_corrcoef(y, constant)
    assert f1(np.zeros(4), np.zeros(4)) == 0.0
    assert f1([1, 0, 1, 0], [1, 1, 0, 0]) == pytest.approx(0.5)
    assert matthews_corrcoef([1, 0, 1, 0], [1, 0, 1, 0]) == pytest.approx(1.0)
    assert matthews_corrcoef([0, 1, 0, 1], [1, 0, 1, 0]) == pytest.approx(-1.0)
    assert np.isnan(pearson([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="differ in length: 3 vs 2"):
        accuracy([1, 0, 1], [1, 0])


@pytest.mark.parametrize("seed", range(5))
def test_correlations_match_scipy(seed):
    rng = np.random.default_rng(seed)
    y = rng.uniform(0, 5, 200)
    p = y + rng.normal(0, 1.5, 200)
    assert pearson(p, y) == pytest.approx(scipy.stats.pearsonr(p, y)[0], abs=1e-12)
    assert spearman(p, y) == pytest.approx(scipy.stats.spearmanr(p, y)[0], abs=1e-12)
    # STS-B gold scores are multiples of 0.2 etc., so ties are common: round to force many.
    pt, yt = np.round(p), np.round(y * 2) / 2
    assert spearman(pt, yt) == pytest.approx(scipy.stats.spearmanr(pt, yt)[0], abs=1e-12)


def test_rank_average_matches_scipy_rankdata():
    x = np.array([3.0, 1.0, 3.0, 2.0, 3.0, 1.0])
    np.testing.assert_array_equal(rank_average(x), [5.0, 1.5, 5.0, 3.0, 5.0, 1.5])
    rng = np.random.default_rng(0)
    x = rng.integers(0, 10, 1000)
    np.testing.assert_allclose(rank_average(x), scipy.stats.rankdata(x, method="average"))


def test_glue_metrics_keys_and_values():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 100)
    p = np.where(rng.random(100) < 0.8, y, 1 - y)
    want_keys = {"cola": ["mcc"], "sst-2": ["accuracy"], "mrpc": ["accuracy", "f1"], "qqp": ["accuracy", "f1"],
                 "mnli": ["accuracy"], "mnli-mm": ["accuracy"], "qnli": ["accuracy"], "rte": ["accuracy"],
                 "wnli": ["accuracy"], "sts-b": ["pearson", "spearman", "corr"]}
    assert set(want_keys) == set(TASKS)
    for name, keys in want_keys.items():
        if name == "sts-b":
            continue
        m = glue_metrics(name, p, y)
        assert list(m) == keys
    m = glue_metrics("mrpc", p, y)
    assert m["accuracy"] == pytest.approx(sklearn.metrics.accuracy_score(y, p))
    assert m["f1"] == pytest.approx(sklearn.metrics.f1_score(y, p))
    assert glue_metrics("CoLA", p, y)["mcc"] == pytest.approx(sklearn.metrics.matthews_corrcoef(y, p))
    # [N, C] logits are arg-maxed.
    logits = np.eye(2)[p] * 3.0 - 1.0
    assert glue_metrics("sst2", logits, y) == glue_metrics("sst-2", p, y)

    ys = rng.uniform(0, 5, 50)
    ps = (ys + rng.normal(0, 1, 50))[:, None]  # [N, 1] regression head output
    m = glue_metrics("sts-b", ps, ys)
    assert list(m) == ["pearson", "spearman", "corr"]
    assert m["pearson"] == pytest.approx(scipy.stats.pearsonr(ps[:, 0], ys)[0])
    assert m["spearman"] == pytest.approx(scipy.stats.spearmanr(ps[:, 0], ys)[0])
    assert m["corr"] == pytest.approx((m["pearson"] + m["spearman"]) / 2)


def test_glue_metrics_rejects_unlabeled():
    with pytest.raises(ValueError, match="rte: labels contain None; test splits are unlabeled"):
        glue_metrics("rte", [0, 1], [None, None])


def test_glue_metrics_unknown_task():
    with pytest.raises(DataError, match="unknown GLUE task 'squad'; valid names: cola, sst-2, mrpc"):
        glue_metrics("squad", [1], [1])
