"""Latency harness: host measurement on a real tiny export, Android command construction and the
documented benchmark_model output format (no phone needed)."""
import json

import numpy as np
import pytest
import tf_keras as keras

from mobilebert_tf.benchmarks.android import (AndroidRun, DeviceError, apk_command, benchmark_args, binary_command,
                                parse_benchmark_output, parse_devices, parse_getprop)
from mobilebert_tf.benchmarks.host import summarize
from mobilebert_tf.cli import main

# As printed by TFLite's benchmark_model (tools/benchmark), trimmed.
BENCHMARK_OUTPUT = """\
INFO: STARTING!
INFO: Log parameter values verbosely: [0]
INFO: Num threads: [4]
INFO: Graph: [/data/local/tmp/mobilebert_int8.tflite]
INFO: Use xnnpack: [1]
INFO: Loaded model /data/local/tmp/mobilebert_int8.tflite
INFO: Created TensorFlow Lite XNNPACK delegate for CPU.
INFO: The input model file size (MB): 25.9718
INFO: Initialized session in 183.512ms.
INFO: Running benchmark for at least 5 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=8 first=71234 curr=61210 min=60875 max=71234 avg=62555.4 std=3273
INFO: Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count=50 first=61005 curr=60921 min=60402 max=63310 avg=61022.7 std=512
INFO: Inference timings in us: Init: 183512, First inference: 71234, Warmup (avg): 62555.4, Inference (avg): 61022.7
INFO: Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual memory footprint of the model at runtime. Take the information at your one discretion.
INFO: Memory footprint delta from the start of the tool (MB): init=38.6328 overall=61.0859
"""

GETPROP = """\
[ro.build.version.release]: [14]
[ro.build.version.sdk]: [34]
[ro.product.cpu.abi]: [arm64-v8a]
[ro.product.manufacturer]: [Google]
[ro.product.model]: [Pixel 4]
[ro.board.platform]: [msmnile]
"""


def test_parse_benchmark_output():
    r = parse_benchmark_output(BENCHMARK_OUTPUT)
    assert r["init_ms"] == pytest.approx(183.512) and r["first_inference_ms"] == pytest.approx(71.234)
    assert r["warmup_avg_ms"] == pytest.approx(62.5554) and r["mean_ms"] == pytest.approx(61.0227)
    assert r["runs"] == 50 and r["min_ms"] == pytest.approx(60.402) and r["std_ms"] == pytest.approx(0.512)
    assert r["memory_delta_mb"] == {"init": 38.6328, "overall": 61.0859}


def test_parse_failed_run_names_the_problem():
    with pytest.raises(DeviceError, match="(?s)no 'Inference timings'.*Failed to allocate"):
        parse_benchmark_output("INFO: STARTING!\nERROR: Failed to allocate tensors!\n")


def test_devices_and_getprop():
    text = "List of devices attached\n0A1B2C3D\tdevice\nEMU1\toffline\nXYZ\tunauthorized\n\n"
    assert parse_devices(text) == ["0A1B2C3D"]
    assert parse_devices("List of devices attached\n\n") == []
    info = parse_getprop(GETPROP)
    assert info == {"model": "Pixel 4", "manufacturer": "Google", "soc": "msmnile", "android": "14", "sdk": "34",
                    "abi": "arm64-v8a"}


def test_command_construction():
    run = AndroidRun(threads=4, warmup=5, runs=50, taskset="f0", use_gpu=True)
    cmd = binary_command("/data/local/tmp/benchmark_model", "/data/local/tmp/m.tflite", run)
    assert cmd == ["taskset", "f0", "/data/local/tmp/benchmark_model", "--graph=/data/local/tmp/m.tflite",
                   "--num_threads=4", "--warmup_runs=5", "--num_runs=50", "--use_xnnpack=true", "--use_gpu=true"]
    apk = apk_command("/data/local/tmp/m.tflite", AndroidRun(threads=2, use_nnapi=True))
    assert apk[:5] == ["am", "start", "-S", "-n", "org.tensorflow.lite.benchmark/.BenchmarkModelActivity"]
    assert apk[-1] == "'" + " ".join(benchmark_args("/data/local/tmp/m.tflite", AndroidRun(threads=2, use_nnapi=True))) + "'"
    assert "--use_nnapi=true" in apk[-1]


def test_summary_statistics():
    s = summarize([10, 12, 11, 13, 50])
    assert s["p50_ms"] == 12 and s["mean_ms"] == pytest.approx(19.2) and s["runs"] == 5
    assert s["p90_ms"] == pytest.approx(np.percentile([10, 12, 11, 13, 50], 90))


@pytest.fixture(scope="module")
def tiny_tflite(tmp_path_factory):
    from mobilebert_tf.export.exporter import export_tflite
    from mobilebert_tf import MobileBertConfig, MobileBertForSequenceClassification
    from mobilebert_tf.tokenization import BertTokenizer
    from tests.conftest import SHARED_DATA, VOCAB

    keras.utils.set_random_seed(0)
    model = MobileBertForSequenceClassification(MobileBertConfig.from_preset("mobilebert_tiny", num_hidden_layers=1),
                                                num_labels=2).build_with_dummy()
    out = tmp_path_factory.mktemp("bench") / "tiny.tflite"
    export_tflite(model, "classifier", out, seq_len=32, tokenizer=BertTokenizer(str(VOCAB)), vocab_file=str(VOCAB),
                  data_dir=SHARED_DATA, gate_examples=4, progress=False, allow_accuracy_drop=True)
    return out


def test_host_benchmark_cli(tiny_tflite, tmp_path, capsys):
    out_json, out_png = tmp_path / "lat.json", tmp_path / "lat.png"
    assert main(["benchmark", str(tiny_tflite), "--threads", "1,2", "--runs", "5", "--warmup", "1",
                 "--json", str(out_json), "--plot", str(out_png)]) == 0
    report = json.loads(out_json.read_text())
    assert report["machine"].startswith("host:") and len(report["results"]) == 2
    for r in report["results"]:
        assert r["runs"] == 5 and 0 < r["p50_ms"] <= r["p90_ms"] and r["peak_rss_mb"] > 10 and r["size_mb"] > 1
    assert out_png.read_bytes()[:4] == b"\x89PNG"
    assert "p50 ms" in capsys.readouterr().out


def test_android_without_device_exits_2(tiny_tflite, monkeypatch, capsys):
    monkeypatch.setenv("MOBILEBERT_ADB", "/nonexistent/adb")
    assert main(["benchmark", str(tiny_tflite), "--device", "android", "--benchmark-binary", "/x"]) == 2
    assert "adb not found" in capsys.readouterr().err


def test_bad_model_file(tmp_path, capsys):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"nope")
    assert main(["benchmark", str(bad)]) == 1
    assert "not a TFLite model" in capsys.readouterr().err


@pytest.mark.slow
def test_real_length_quick(tmp_path, shared_data):
    """mobilebert_tf.benchmarks.real_length --quick end to end: 1-layer fixed-128 and dynamic exports, real SST-2 lengths,
    the latency-vs-length curve, json/md/png written. Timings here are a smoke run, not a result."""
    from mobilebert_tf.benchmarks import real_length

    out = tmp_path / "results"
    rc = real_length.main(["--quick", "--presets", "mobilebert_tiny", "--modes", "dynamic", "--out", str(out),
                           "--work", str(tmp_path / "work"), "--data", str(shared_data), "--threads", "1",
                           "--max-other-load", "64"])  # a smoke run: no repeats on a busy machine
    assert rc == 0
    result = json.loads((out / "real_length.json").read_text())
    assert result["quick"] and result["machine"]["cpu"] and result["machine"]["load_average_end"] is not None
    assert result["sst2_dev"]["examples"] == 8 and 5 < result["sst2_dev"]["tokens_mean"] < 64
    (row,) = result["real_length"]
    assert row["fixed"]["runs"] == row["dynamic"]["runs"] == 8  # one timed run per sentence
    assert row["dynamic"]["mean_ms"] > 0 and row["ratio_mean"] == pytest.approx(
        row["dynamic"]["mean_ms"] / row["fixed"]["mean_ms"]) and row["target"] in ("PASS", "MISS")
    (curve,) = result["latency_vs_length"]
    assert sorted(int(L) for L in curve["points"]) == list(real_length.QUICK_LENGTHS)
    assert curve["points"]["128"]["gflops"] > curve["points"]["16"]["gflops"] > 0
    assert curve["flattening"]["flat_to"] in real_length.QUICK_LENGTHS
    assert curve["dense_weight_mb"] > 0 and curve["weights_gb_per_s_at_shortest"] > 0
    md_text = (out / "real_length.md").read_text()
    assert "QUICK" in md_text and "| mobilebert_tiny | dynamic-range int8 |" in md_text
    assert (out / "real_length.png").stat().st_size > 10_000


def test_real_length_flattening():
    from mobilebert_tf.benchmarks.real_length import flattening

    f = flattening({16: 1.0, 32: 1.1, 64: 1.3, 128: 2.6, 256: 5.5})
    assert f["flat_to"] == 32 and f["ratio_short_to_128"] == pytest.approx(1 / 2.6)


def test_latency_report_labels_rates_against_the_measured_peak(tmp_path):
    """latency.md's peak column never reads above 100%, and the committed report re-renders from its JSON
    alone (no hand-written block appended)."""
    import re

    from mobilebert_tf.benchmarks.latency import gemm_peak_for, render
    from mobilebert_tf.benchmarks.machine import cpu_model, finish, machine

    peak = {q: {"gops_per_s": 100.0, "m": 128, "k": 512, "n": 512, "p50_ms": 1.0} for q in ("none", "dynamic", "int8")}
    rows = [{"preset": "mobilebert", "task": "classifier", "seq_len": 128, "quantize": q, "params": 1, "gflops": 5.0,
             "size_mb": 1.0, "p50_ms": 10.0, "p90_ms": 11.0, "gflops_per_s": rate}
            for q, rate in (("none", 50.0), ("int8-mixed", 186.0))]
    stored = {"date": "2026-12-01 00:00", "threads": 2, "quick": False, "machine": {"cpu": cpu_model()},
              "shapes": [{}] * 6, "peak": peak}
    (tmp_path / "gemm_peak.json").write_text(json.dumps(stored))
    found = gemm_peak_for(2, tmp_path, tmp_path / "gemm_peak.json")  # this CPU, these threads: read, not measured
    assert found["peak"] == peak and not found["quick"] and "best of 2 shapes" in found["source"]
    result = {"machine": finish(machine()), "threads": 2, "runs": 3, "quick": False, "gemm_peak": found,
              "models": rows, "speedups": {}}
    text = render(result)
    assert "| 50.0 | 50% |" in text and "| 186.0 | above peak (1.86x) |" in text
    committed = render(json.loads(open("benchmarks/results/latency.json").read()))
    assert committed == open("benchmarks/results/latency.md").read()
    assert "What was tried" not in committed and "latency_notes.md" in committed
    assert all(int(p) <= 100 for p in re.findall(r"\| (\d+)% \|", committed))


@pytest.mark.slow
def test_runtime_options_quick(tmp_path, shared_data):
    """benchmarks.runtime_options --quick end to end: six real exports (fp16, per-channel ones included), each
    run under every interpreter setting in fresh LiteRT processes; XNNPACK is on unless the setting removes it."""
    from mobilebert_tf.benchmarks.runtime_options import EXPORTS, OPTIONS, main

    assert main(["--quick", "--out", str(tmp_path), "--work", str(tmp_path / "work"), "--data", str(shared_data),
                 "--runs", "3"]) == 0
    result = json.loads((tmp_path / "runtime_options.json").read_text())
    assert result["quick"] and len(result["rows"]) == len(EXPORTS) * len(OPTIONS)
    for r in result["rows"]:
        assert r["p50_ms"] > 0 and r["gops_per_s"] > 0 and r["xnnpack"] == (r["option"] != "no-xnnpack")
    sizes = {r["export"]: r["size_mb"] for r in result["rows"]}
    assert sizes["fp16"] < sizes["float"] and sizes["dynamic"] < sizes["fp16"]
    assert "QUICK smoke run" in (tmp_path / "runtime_options.md").read_text()


def test_dynamic_calibration_runs_the_three_gates(tmp_path, shared_data):
    """benchmarks.dynamic_calibration on a 1-layer classifier directory: own-length, padded-128 and fixed-128
    conversions, each through the exporter's gate on real SST-2 dev sentences; the report names all three."""
    from mobilebert_tf import MobileBertConfig, MobileBertForSequenceClassification
    from mobilebert_tf.benchmarks.dynamic_calibration import main

    keras.utils.set_random_seed(0)
    config = MobileBertConfig.from_preset("mobilebert_tiny", num_hidden_layers=1)
    model = MobileBertForSequenceClassification(config, num_labels=2).build_with_dummy()
    model.save_pretrained(tmp_path / "sst2", vocab_file=str(shared_data / "vocab" / "bert-base-uncased-vocab.txt"))
    assert main(["--model", str(tmp_path / "sst2"), "--calibration-examples", "8", "--gate-examples", "16",
                 "--data", str(shared_data), "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "dynamic_calibration.json").read_text())
    assert [r["calibration"] for r in result["rows"]] == ["own-length", "padded-128", "fixed-128"]
    assert all(r["examples"] == 16 and 0.5 <= r["agreement"] <= 1.0 for r in result["rows"])
    assert "own-length" in (tmp_path / "dynamic_calibration.md").read_text()
