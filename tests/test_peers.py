"""mobilebert_tf.benchmarks.peers end to end on a tiny MobileBERT (2 layers, seq 24): our TFLite export, HF torch, ONNX
Runtime fp32/int8 built from the same weights agree, every runtime is measured (all through
mobilebert_tf.benchmarks.host_worker), the results are written. Latency targets are not asserted (they are the
script's finding); that each PASS/MISS follows from the measured numbers and the stated target is."""
import json

import numpy as np
import pytest

from mobilebert_tf.benchmarks import peers
from mobilebert_tf.benchmarks.machine import load_caveat
from mobilebert_tf.benchmarks.peers.report import foreign_cores

TOL = 1e-4
SEQ = 24


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, shared_data):
    workdir = tmp_path_factory.mktemp("peers")
    results = peers.run(presets=["mobilebert"], layers=2, seq_len=SEQ, threads=2, runs=3, warmup=1, rounds=1,
                        n_inputs=2, tflite_modes=("none",), ort_modes=("fp32", "int8"), ort_no_spin=False,
                        torch_eager=True, profile=False, workdir=workdir, data_dir=shared_data, gate_examples=2,
                        calibration_examples=4, retries=0, log=lambda msg: None)
    return results, workdir


def test_torch_ort_and_tflite_float_agree(tiny):
    results, _ = tiny
    agree = results["agreement"]["mobilebert"]
    for name in ("ORT fp32", "TFLite none"):
        a = agree["unpadded"][name]
        print(f"\n{name} vs torch (unpadded): max |dp| {a['max_abs_diff_probability']:.1e}, "
              f"max |d log-odds| {a['max_abs_diff_log_odds']:.1e}")
        assert a["max_abs_diff_probability"] <= TOL and a["max_abs_diff_log_odds"] <= TOL, (name, a)
    # HF and ORT mask padding the same way: they agree on padded inputs too
    assert agree["padded"]["ORT fp32"]["max_abs_diff_probability"] <= TOL
    # quantized: close, not exact
    assert agree["unpadded"]["ORT int8"]["max_abs_diff_probability"] < 0.05


def test_every_runtime_measured_and_results_written(tiny, tmp_path):
    results, _ = tiny
    keys = {(r["runtime"], r["precision"]) for r in results["latency"]}
    assert keys == {("TFLite (ours)", "fp32"), ("ORT", "fp32"), ("ORT", "dynamic int8"), ("torch eager", "fp32")}
    for row in results["latency"]:
        assert 0 < row["p50_ms"] <= row["p90_ms"] and row["runs_per_round"] == 3 and row["threads"] == 2, row
        assert row["foreign_cores"] is None or row["foreign_cores"] >= 0
    for row in results["latency"]:  # every runtime's own worker process reports its own peak RSS (VmHWM)
        assert row["peak_rss_mb"] > 10, row
    # the status follows from the measured p50s and the stated target
    ratios = {r["name"]: r for r in results["ratios"]}
    fp32 = next(r for name, r in ratios.items() if name.startswith("MobileBERT fp32"))
    ours = peers.best_row(results["latency"], "mobilebert", "TFLite", "fp32", 2)
    ort = peers.best_row(results["latency"], "mobilebert", "ORT", "fp32", 2)
    assert fp32["value"] == pytest.approx(ours["p50_ms"] / ort["p50_ms"])
    assert fp32["target"] == f"<= {peers.TARGETS['fp32_vs_ort']}"
    assert fp32["status"] == ("PASS" if fp32["value"] <= peers.TARGETS["fp32_vs_ort"] else "MISS")
    assert results["models"]["mobilebert"]["hf_class"] == "MobileBertForSequenceClassification"
    js, md = peers.write_results(results, tmp_path)
    back = json.loads(js.read_text())
    assert back["settings"]["seq_len"] == SEQ and back["machine"]["usable_cores"] >= 1
    text = md.read_text()
    assert results["machine"]["cpu"] in text and "| mobilebert | ORT | dynamic int8 |" in text
    # the load caveat is derived from the recorded load, not a fixed sentence
    m = back["machine"]
    assert m["load_average_start"] is not None and m["load_average_end"] is not None
    caveat = load_caveat(m, foreign_cores(results["latency"]), own_threads=2)
    assert m["caveat"] == caveat and caveat[1:] in text and f"{m['load_average_start'][0]:.2f} at start" in caveat


def row(model, runtime, precision, p50, threads=2):
    return {"model": model, "runtime": runtime, "precision": precision, "p50_ms": p50, "threads": threads}


@pytest.mark.parametrize("ours_ms, expected", [(8.0, "PASS"), (9.0, "PASS"), (9.5, "MISS")])
def test_fp32_target_status_follows_the_numbers(ours_ms, expected):
    rows = [row("mobilebert", "TFLite (ours)", "fp32", ours_ms), row("mobilebert", "ORT", "fp32", 12.0),
            row("mobilebert", "ORT no-spin", "fp32", 10.0),  # the faster ORT setting is the reference
            row("mobilebert", "TFLite (ours)", "fp32", 1.0, threads=1)]  # other thread counts are not mixed in
    (fp32,) = [r for r in peers.compute_ratios(rows, 2) if r["name"].startswith("MobileBERT fp32")]
    assert fp32["name"].endswith("ORT no-spin") and fp32["value"] == pytest.approx(ours_ms / 10.0)
    assert fp32["status"] == expected


def test_bert_ratio_is_a_lower_bound_and_missed_targets_are_profiled():
    rows = [row("bert_base", "TFLite (ours)", "fp32", 40.0), row("mobilebert", "TFLite (ours)", "fp32", 10.0),
            row("mobilebert", "ORT", "fp32", 20.0)]
    ratios = {r["name"]: r for r in peers.compute_ratios(rows, 2)}
    bert = ratios["BERT_BASE / MobileBERT, TFLite (ours) fp32"]
    assert bert["value"] == pytest.approx(4.0) and bert["target"] == ">= 4.2" and bert["status"] == "MISS"
    assert ratios["MobileBERT fp32: our TFLite / ORT"]["status"] == "PASS"
    assert peers.profile_targets(list(ratios.values()), peers.PRESETS, peers.TFLITE_MODES) == [
        ("mobilebert", "none"), ("bert_base", "none")]


def test_load_caveat_follows_the_load():
    quiet = {"usable_cores": 2, "load_average_start": [0.1, 0.2, 0.2], "load_average_end": [2.1, 1.0, 0.5]}
    assert load_caveat(quiet, [0.02, 0.0], own_threads=2).startswith("quiet host: load average 0.10 at start")
    assert load_caveat(quiet, [0.9], own_threads=2).startswith("shared, loaded host")  # a busy measurement
    busy = {**quiet, "load_average_start": [1.5, 1.2, 1.0]}
    assert load_caveat(busy, [], own_threads=2).startswith("shared, loaded host")
    assert load_caveat(busy, [0.01], own_threads=2).startswith("quiet host")  # measured during the runs: decides
    # an older report's keys
    assert "0.10 at start" in load_caveat({"cores": 2, "loadavg_start": [0.1, 0, 0], "loadavg_end": None})


def test_profilers_on_the_tiny_exports(tiny, shared_data):
    results, workdir = tiny
    from mobilebert_tf.benchmarks.inputs import real_inputs

    tflite = workdir / "mobilebert" / "ours_none.tflite"
    inputs = real_inputs(str(tflite), 1, data_dir=shared_data)
    prof = peers.profile_tflite_ops(tflite, inputs, threads=1, runs=2)
    by_type = {r["op"]: r for r in prof["by_type"]}
    stats = peers.tflite_op_stats(tflite)
    # every op of the graph is accounted for, each distinct one timed once
    assert sum(r["count"] for r in prof["by_type"]) == stats["ops"]
    assert by_type["FULLY_CONNECTED"]["count"] == stats["by_type"]["FULLY_CONNECTED"] > 0
    assert by_type["FULLY_CONNECTED"]["xnnpack"] == by_type["FULLY_CONNECTED"]["count"]
    assert prof["sum_ms"] > 0
    ort = peers.profile_ort(workdir / "mobilebert" / "hf_fp32.onnx", inputs, threads=1, runs=2, warmup=1)
    assert ort["runs"] == 2 and ort["sum_ms"] > 0 and ort["by_type"]


def test_bert_base_peer_is_hf_bert_with_our_weights(tmp_path):
    """The BERT_BASE peer: our plain-BERT config -> HF MobileBERT dir -> HF BertForSequenceClassification,
    same logits as our Keras model (a narrow config, padded inputs, additive masks on both sides)."""
    import torch
    import transformers

    from mobilebert_tf import MobileBertConfig, MobileBertForSequenceClassification
    from tests.hf_utils import padded_batch

    config = MobileBertConfig.from_preset("bert_base", num_hidden_layers=2, hidden_size=64, embedding_size=64,
                                          intra_bottleneck_size=64, num_attention_heads=4, intermediate_size=128,
                                          vocab_size=512, attention_mask_mode="additive")
    ours = MobileBertForSequenceClassification(config, num_labels=2).build_with_dummy()
    for var in ours.trainable_variables:  # nothing trivially zero or one
        var.assign(var + np.random.default_rng(0).normal(0, 0.05, var.shape).astype(np.float32))
    hf_dir, hf_class = peers.export_hf(ours, "bert_base", tmp_path)
    assert hf_class == "BertForSequenceClassification" and hf_dir.name == "hf_bert"
    theirs = peers.load_torch(hf_dir, hf_class)
    assert isinstance(theirs.inner, transformers.BertForSequenceClassification)
    batch = padded_batch(vocab=512)
    with torch.no_grad():
        ref = theirs.inner(input_ids=torch.tensor(batch["input_ids"]).long(),
                           attention_mask=torch.tensor(batch["input_mask"]).long(),
                           token_type_ids=torch.tensor(batch["segment_ids"]).long()).logits.numpy()
    diff = np.abs(ours(batch)["logits"].numpy() - ref).max()
    print(f"\nBERT peer vs ours, logits max abs diff {diff:.1e}")
    assert diff <= TOL
