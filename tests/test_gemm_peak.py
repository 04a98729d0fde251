"""mobilebert_tf.benchmarks.gemm_peak --quick end to end (two small shapes, three precisions, real conversions and real
LiteRT runs: the numbers are a smoke run, not a peak) and the label latency.md puts on a model's rate."""
import json

import pytest

from mobilebert_tf.benchmarks import gemm_peak


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gemm")
    assert gemm_peak.main(["--quick", "--threads", "1", "--out", str(tmp / "out"), "--work", str(tmp / "work")]) == 0
    return tmp


def test_quick_peak_is_the_best_measured_shape(quick):
    result = json.loads((quick / "out" / "gemm_peak.json").read_text())
    assert result["quick"] and result["threads"] == 1 and result["runs"] == 3
    rows = result["shapes"]
    assert {(r["m"], r["k"], r["n"], r["precision"]) for r in rows} == {
        (*shape, q) for shape in gemm_peak.QUICK_SHAPES for q in gemm_peak.PRECISIONS}
    for r in rows:
        assert r["gops_per_s"] == pytest.approx(2 * r["m"] * r["k"] * r["n"] / (r["p50_ms"] * 1e6)), r
    assert rows[0]["xnnpack"] and next(r for r in rows if r["precision"] == "none")["xnnpack"]
    for q, peak in result["peak"].items():
        best = max((r for r in rows if r["precision"] == q), key=lambda r: r["gops_per_s"])
        assert peak["gops_per_s"] == best["gops_per_s"] and (peak["m"], peak["k"], peak["n"]) == (
            best["m"], best["k"], best["n"])
    m = result["machine"]
    assert m["cpu"] and m["load_average_start"] is not None and m["load_average_end"] is not None
    md = (quick / "out" / "gemm_peak.md").read_text()
    assert "QUICK" in md and f"| full int8 | {result['peak']['int8']['gops_per_s']:.1f} |" in md


def test_each_model_is_one_fully_connected_of_its_precision(quick):
    from mobilebert_tf.benchmarks.peers import tflite_op_stats

    for m, k, n in gemm_peak.QUICK_SHAPES:
        for q in gemm_peak.PRECISIONS:
            stats = tflite_op_stats(quick / "work" / f"gemm_{m}x{k}x{n}_{q}.tflite")
            assert stats["by_type"] == {"FULLY_CONNECTED": 1}, (q, stats)
            # full int8 takes int8 activations; float and dynamic-range take float ones
            assert stats["float_ops"] == ({} if q == "int8" else {"FULLY_CONNECTED": 1}), (q, stats)


@pytest.mark.parametrize("fraction, label", [(0.0, "0%"), (0.5, "50%"), (0.996, "100%"), (1.0, "100%"),
                                             (1.004, "above peak (1.00x)"), (1.86, "above peak (1.86x)")])
def test_fraction_label_never_reads_above_100_percent(fraction, label):
    assert gemm_peak.fraction_label(fraction) == label
