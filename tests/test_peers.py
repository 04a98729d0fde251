"""benchmarks.peers end to end on a tiny MobileBERT (2 layers, seq 24): our TFLite export, HF torch, ONNX
Runtime fp32/int8 built from the same weights agree, every runtime is measured, the results are written.
Latency targets are reported by the script, never asserted here."""
import json

import numpy as np
import pytest

from benchmarks import peers

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
    ratios = {r["name"]: r for r in results["ratios"]}
    fp32 = next(r for name, r in ratios.items() if name.startswith("MobileBERT fp32"))
    assert fp32["status"] in ("PASS", "MISS") and fp32["value"] > 0
    assert results["models"]["mobilebert"]["hf_class"] == "MobileBertForSequenceClassification"
    js, md = peers.write_results(results, tmp_path)
    back = json.loads(js.read_text())
    assert back["settings"]["seq_len"] == SEQ and back["machine"]["usable_cores"] >= 1
    text = md.read_text()
    assert results["machine"]["cpu"] in text and "| mobilebert | ORT | dynamic int8 |" in text


def test_profilers_on_the_tiny_exports(tiny, shared_data):
    results, workdir = tiny
    from benchmarks.inputs import real_inputs

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
