"""Build the models the peers benchmark compares: our Keras classifier with random weights, its TFLite
exports, the same weights as an HF directory (MobileBERT, or BERT for the plain-BERT preset), and HF's
model exported to ONNX fp32 and quantized to ONNX int8."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from mobilebert_tf.benchmarks.peers.runtimes import INPUT_NAMES, load_torch

PRESETS = ("mobilebert", "bert_base")
TFLITE_MODES = ("none", "dynamic", "int8-mixed", "int8")
ORT_MODES = ("fp32", "int8")
SEED = 1234
NUM_LABELS = 2


def build_ours(preset: str, layers: int | None = None, seed: int = SEED):
    """Our Keras classifier with random weights at ``seed``; norms, biases and the head perturbed."""
    import tf_keras as keras

    from mobilebert_tf import MobileBertConfig, MobileBertForSequenceClassification
    from mobilebert_tf.weights import named_weights

    overrides = {"num_hidden_layers": layers} if layers else {}
    config = MobileBertConfig.from_preset(preset, **overrides)
    keras.utils.set_random_seed(seed)
    model = MobileBertForSequenceClassification(config, num_labels=NUM_LABELS).build_with_dummy()
    rng = np.random.default_rng(seed)
    for name, var in named_weights(model).items():
        value = var.numpy()
        if name.endswith("/gamma"):
            var.assign(value + rng.normal(0, 0.1, value.shape).astype(value.dtype))
        elif name.endswith(("/beta", "/bias")):
            var.assign(value + rng.normal(0, 0.02, value.shape).astype(value.dtype))
        elif name.startswith("classifier_head/") and name.endswith("/kernel"):
            # logits of order one rather than ~0.02, so the probabilities are not all 0.5
            var.assign(rng.normal(0, 1 / np.sqrt(value.shape[0]), value.shape).astype(value.dtype))
    return model


def export_ours(model, workdir: Path, seq_len: int, modes, data_dir, vocab_file, *, gate_examples=8,
                calibration_examples=50, log=print) -> dict:
    from mobilebert_tf.export.exporter import export_tflite
    from mobilebert_tf.tokenization import BertTokenizer

    tokenizer = BertTokenizer(str(vocab_file))
    out = {}
    for mode in modes:
        start = time.perf_counter()
        path = workdir / f"ours_{mode}.tflite"
        result = export_tflite(model, "classifier", path, seq_len=seq_len, quantize=mode, tokenizer=tokenizer,
                               vocab_file=str(vocab_file), data_dir=data_dir, gate_examples=gate_examples,
                               calibration_examples=calibration_examples, allow_accuracy_drop=True,
                               progress=False, labels=["negative", "positive"])
        seconds = time.perf_counter() - start
        out[mode] = {"path": result.path, "size_mb": result.size_bytes / 1e6, "export_s": seconds,
                     "gate_agreement": result.report.get("agreement"), "ops": result.ops}
        log(f"  exported TFLite {mode}: {result.size_bytes / 1e6:.1f} MB in {seconds:.0f} s "
            f"(gate agreement vs Keras {result.report.get('agreement'):.2f}, random weights)")
    return out



def export_hf(model, preset: str, workdir: Path) -> tuple[Path, str]:
    """Our weights as an HF directory; returns (dir, HF class name)."""
    from mobilebert_tf.checkpoints.hf import save_hf_pretrained

    mb_dir = workdir / "hf_mobilebert"
    warnings = save_hf_pretrained(model, str(mb_dir))
    # our "google" mask vs HF's additive one: only padded inputs differ (agreement is checked unpadded)
    warnings = [w for w in warnings if "attention_mask_mode" not in w]
    if not model.config.use_bottleneck:
        # HF's BertModel uses layer_norm_eps everywhere, as ours does: the MobileBERT class's eps quirk
        # (1e-5 in two LayerNorms) does not apply to the BERT directory
        warnings = [w for w in warnings if "eps" not in w]
    if warnings:
        raise RuntimeError(f"HF export of {preset} warns: {warnings}")
    if model.config.use_bottleneck:
        return mb_dir, "MobileBertForSequenceClassification"
    return mobilebert_dir_to_bert(mb_dir, workdir / "hf_bert"), "BertForSequenceClassification"


def mobilebert_dir_to_bert(src: Path, dst: Path) -> Path:
    """An HF MobileBERT directory of a plain-BERT config (no bottleneck, no trigram, E == H, layer_norm)
    -> an HF ``BertForSequenceClassification`` directory: same tensors, ``mobilebert.`` -> ``bert.``."""
    from mobilebert_tf.fileio import atomic_write_json
    from mobilebert_tf.weights import load_safetensors, save_safetensors

    values = json.loads((src / "config.json").read_text())
    plain = (not values["use_bottleneck"] and not values["trigram_input"] and values["normalization_type"] == "layer_norm"
             and values["embedding_size"] == values["hidden_size"] and values["num_feedforward_networks"] == 1
             and values["classifier_activation"])
    if not plain:
        raise ValueError(f"{src}: not a plain BERT configuration")
    keep = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
            "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings",
            "type_vocab_size", "initializer_range", "layer_norm_eps", "id2label", "label2id", "pad_token_id")
    config = {k: values[k] for k in keep if k in values}
    config.update(model_type="bert", architectures=["BertForSequenceClassification"])
    arrays = {}
    for name, value in load_safetensors(src / "model.safetensors").items():
        if ".embedding_transformation." in name:
            continue  # zeros HF MobileBERT allocates and never uses when E == H
        arrays["bert." + name[len("mobilebert."):] if name.startswith("mobilebert.") else name] = value
    dst.mkdir(parents=True, exist_ok=True)
    save_safetensors(arrays, str(dst / "model.safetensors"), metadata={"format": "pt"})
    atomic_write_json(dst / "config.json", config, sort_keys=True)
    return dst


def export_onnx(wrapped, path: Path, seq_len: int) -> dict:
    """torch -> ONNX (static [1, seq_len] int32 inputs, output ``probability``)."""
    import torch

    example = tuple(torch.ones((1, seq_len), dtype=torch.int32) for _ in INPUT_NAMES)
    start = time.perf_counter()
    try:
        with torch.no_grad():
            torch.onnx.export(wrapped, example, str(path), input_names=list(INPUT_NAMES),
                              output_names=["probability"], dynamo=True, external_data=False, verbose=False)
        exporter = "torch.onnx.export(dynamo=True)"
    except Exception as e:  # noqa: BLE001 - fall back to the TorchScript exporter, and say so
        with torch.no_grad():
            torch.onnx.export(wrapped, example, str(path), input_names=list(INPUT_NAMES),
                              output_names=["probability"], dynamo=False, opset_version=17)
        exporter = f"torch.onnx.export(dynamo=False) (dynamo failed: {type(e).__name__})"
    return {"path": str(path), "exporter": exporter, "export_s": time.perf_counter() - start,
            "size_mb": os.path.getsize(path) / 1e6}


def quantize_onnx(fp32: Path, out: Path) -> dict:
    """``quantize_dynamic`` with QInt8 weights (after ORT's recommended pre-processing when it works)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    start = time.perf_counter()
    source, pre = fp32, "none"
    try:
        from onnxruntime.quantization.shape_inference import quant_pre_process

        prepped = out.with_name(out.stem + "_pre.onnx")
        quant_pre_process(str(fp32), str(prepped), skip_symbolic_shape=False)
        source, pre = prepped, "quant_pre_process"
    except Exception as e:  # noqa: BLE001
        pre = f"skipped ({type(e).__name__}: {str(e)[:120]})"
    quantize_dynamic(str(source), str(out), weight_type=QuantType.QInt8)
    return {"path": str(out), "preprocess": pre, "quantize_s": time.perf_counter() - start,
            "size_mb": os.path.getsize(out) / 1e6}


def prepare_preset(preset: str, d: Path, *, layers, seq_len, tflite_modes, ort_modes, data_dir, vocab,
                   gate_examples, calibration_examples, reuse: bool = False, log=print) -> dict:
    """Our model -> TFLite exports + HF directory + ONNX fp32/int8 in ``d``; the record is kept in
    ``d/prepared.json`` and, with ``reuse``, read back instead of exporting again when its settings match."""
    from mobilebert_tf.fileio import atomic_write_json

    record_file = d / "prepared.json"
    want = {"preset": preset, "layers": layers, "seq_len": seq_len, "seed": SEED}
    if reuse and record_file.is_file():
        record = json.loads(record_file.read_text())
        files = [e["path"] for e in record["exports"].values()] + [o["path"] for o in record["onnx"].values()]
        if (record["settings"] == want and set(tflite_modes) <= set(record["exports"])
                and set(ort_modes) <= set(record["onnx"]) and all(os.path.exists(f) for f in files)):
            log(f"[{preset}] reusing the exports in {d}")
            record["exports"] = {k: v for k, v in record["exports"].items() if k in tflite_modes}
            record["onnx"] = {k: v for k, v in record["onnx"].items() if k in ort_modes}
            return record
    log(f"[{preset}] building our Keras model (seed {SEED})")
    d.mkdir(parents=True, exist_ok=True)
    model = build_ours(preset, layers)
    cfg = model.config
    info = {"layers": cfg.num_hidden_layers, "hidden": cfg.hidden_size, "params": int(model.count_params())}
    exports = export_ours(model, d, seq_len, tflite_modes, data_dir, vocab, gate_examples=gate_examples,
                          calibration_examples=calibration_examples, log=log)
    hf_dir, hf_class = export_hf(model, preset, d)
    del model
    onnx = {}
    if ort_modes:
        onnx["fp32"] = export_onnx(load_torch(hf_dir, hf_class), d / "hf_fp32.onnx", seq_len)
        log(f"  ONNX fp32: {onnx['fp32']['size_mb']:.1f} MB via {onnx['fp32']['exporter']}")
        if "int8" in ort_modes:
            onnx["int8"] = quantize_onnx(d / "hf_fp32.onnx", d / "hf_int8.onnx")
            log(f"  ONNX int8: {onnx['int8']['size_mb']:.1f} MB (pre-processing: {onnx['int8']['preprocess']})")
    info.update(hf_class=hf_class, tflite={k: {kk: v[kk] for kk in ("size_mb", "export_s", "gate_agreement")}
                                           for k, v in exports.items()},
                onnx={k: {kk: vv for kk, vv in v.items() if kk != "path"} for k, v in onnx.items()})
    record = {"settings": want, "info": info, "exports": exports, "hf_dir": str(hf_dir), "hf_class": hf_class,
              "onnx": onnx}
    atomic_write_json(record_file, record)
    return record

