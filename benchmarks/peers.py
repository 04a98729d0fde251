"""Peers: HF transformers' MobileBERT and BERT_BASE (torch eager, ONNX Runtime fp32 / int8) against our
TFLite exports (float, dynamic-range, int8 with float attention, full int8) of the **same weights**, on the same real inputs.

    python -m benchmarks.peers [--layers N] [--seq-len 128] [--threads 2] [--extra-threads 1] [--runs 30]
                               [--rounds 3] [--out benchmarks/results] [--presets mobilebert bert_base]
                               [--workdir DIR [--reuse]] [--no-profile | --profile]

See docs/benchmarks_peers.md.

Per preset: our Keras classifier (2 labels) with random weights at a fixed seed (norm parameters,
biases and the head perturbed so that nothing is trivially zero or one) -> our TFLite exports
(``export.exporter.export_tflite``) and an HF directory (``save_hf_pretrained``). MobileBERT runs in
HF's ``MobileBertForSequenceClassification``; BERT_BASE in HF's ``BertForSequenceClassification``
(the HF MobileBERT directory renamed ``mobilebert.`` -> ``bert.``, no other change). Both are wrapped
to take our int32 ``ids``/``mask``/``segment_ids`` and return ``probability`` (softmax), like our
exports, then exported to ONNX (``torch.onnx.export``) and quantized with
``onnxruntime.quantization.quantize_dynamic`` (QInt8 weights, dynamic int8 activations).

Latency: batch 1, ``--threads`` intra-op threads everywhere (``torch.set_num_threads``, ORT
``intra_op_num_threads``, the LiteRT interpreter with XNNPACK via ``benchmarks.host.measure_tflite``),
each measurement in a fresh process started from a small orchestrator process, ``--rounds``
interleaved rounds of ``--runs`` timed runs (``p50``/``p90`` are the medians over rounds of each
round's percentile), inputs cycled over the same SST-2 dev sentences tokenized at ``--seq-len``.
The CPU time other processes used during each measurement is recorded (``ForeignLoad``) and a
measurement they disturbed is repeated (``--max-other-load``, ``--retries``): on a shared host a
second thread only helps while nobody else holds the second core.

Agreement: torch, ORT fp32 and our TFLite float on unpadded real inputs (several SST-2 sentences
packed to fill the sequence: our default "google" attention mask and HF's additive mask only agree
when nothing is padded), and, for information, on the padded benchmark inputs.

Targets (issue #8) are printed PASS/MISS, never asserted. Where one is missed the TFLite graph is
profiled per op (``profile_tflite_ops``: every distinct op run alone under XNNPACK) and next to
ORT's own per-node profile.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

PRESETS = ("mobilebert", "bert_base")
TFLITE_MODES = ("none", "dynamic", "int8-mixed", "int8")
ORT_MODES = ("fp32", "int8")
INPUT_NAMES = ("ids", "mask", "segment_ids")
SEED = 1234
NUM_LABELS = 2
PRECISION = {"none": "fp32", "dynamic": "dynamic-range int8", "int8": "full int8",
             "int8-mixed": "int8, attention float", "fp32": "fp32", "ort-int8": "dynamic int8"}
TARGETS = {"fp32_vs_ort": 0.9, "int8_vs_ort": 0.7, "bert_over_mobilebert": 4.2}
LOAD_CAVEAT = ("shared, loaded host: other jobs use the same cores, so absolute numbers are noisy; every "
               "configuration was measured interleaved in the same run, compare ratios")
REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- machine
def machine_info() -> dict:
    cpu = platform.processor() or platform.machine()
    flags = ""
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name") and cpu in (platform.processor(), platform.machine()):
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = line.split(":", 1)[1]
    except OSError:
        pass
    isa = [f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8") if f in flags.split()]
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        load = list(os.getloadavg())
    except OSError:
        load = None
    return {"cpu": cpu, "logical_cores": os.cpu_count(), "usable_cores": usable, "isa": isa,
            "platform": platform.platform(), "python": platform.python_version(), "loadavg_start": load,
            "caveat": LOAD_CAVEAT}


def versions() -> dict:
    out = {}
    for name in ("tensorflow", "ai_edge_litert", "torch", "transformers", "onnx", "onnxruntime", "numpy"):
        try:
            from importlib.metadata import version
            out[name] = version(name.replace("_", "-"))
        except Exception:  # noqa: BLE001 - a missing package is reported, not fatal
            out[name] = None
    return out


# ----------------------------------------------------------------------------- our models
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
    from export.exporter import export_tflite
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


# ----------------------------------------------------------------------------- HF peers
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
    (dst / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return dst


def load_torch(hf_dir, hf_class: str, threads: int | None = None):
    """The HF model wrapped as ``(ids, mask, segment_ids) int32 -> probability``, eval mode."""
    import torch
    import transformers

    if threads:
        torch.set_num_threads(threads)
    model, info = getattr(transformers, hf_class).from_pretrained(str(hf_dir), output_loading_info=True)
    problems = {k: v for k, v in info.items() if v}
    if problems:
        raise RuntimeError(f"HF {hf_class} did not load {hf_dir} cleanly: {problems}")

    class Probability(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, ids, mask, segment_ids):
            out = self.inner(input_ids=ids.long(), attention_mask=mask.long(), token_type_ids=segment_ids.long())
            return torch.softmax(out.logits, dim=-1)

    return Probability(model.eval()).eval()


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


def ort_session(path, threads: int, profile_prefix: str | None = None, spinning: bool = True):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    # spinning (ORT's default) busy-waits between ops: fastest on idle cores, slow when they are shared
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    if profile_prefix:
        opts.enable_profiling = True
        opts.profile_file_prefix = profile_prefix
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


# ----------------------------------------------------------------------------- inputs
def packed_inputs(vocab_file, data_dir, n: int, seq_len: int) -> list[dict[str, np.ndarray]]:
    """``n`` unpadded real inputs: consecutive SST-2 dev sentences joined until they fill ``seq_len``."""
    from mobilebert_tf.data.glue import read_glue
    from mobilebert_tf.tokenization import BertTokenizer

    tokenizer = BertTokenizer(str(vocab_file))
    sentences = [e.text_a for e in read_glue("sst-2", Path(data_dir) / "glue" / "SST-2" / "dev.tsv", "dev")]
    texts, i = [], 0
    for _ in range(n):
        words = []
        while len(tokenizer.encode_single([" ".join(words)], 4 * seq_len)["input_mask"][0].nonzero()[0]) < seq_len:
            words.append(sentences[i % len(sentences)])
            i += 1
        texts.append(" ".join(words))
    packed = tokenizer.encode_single(texts, seq_len)
    if not packed["input_mask"].all():
        raise RuntimeError("packed inputs are padded")
    return [{"ids": packed["input_ids"][j:j + 1].astype(np.int32), "mask": packed["input_mask"][j:j + 1].astype(np.int32),
             "segment_ids": packed["segment_ids"][j:j + 1].astype(np.int32)} for j in range(n)]


def save_inputs(inputs, path: Path) -> None:
    np.savez(path, **{f"{i}__{k}": v for i, row in enumerate(inputs) for k, v in row.items()})


def load_inputs(path) -> list[dict[str, np.ndarray]]:
    data = np.load(path)
    rows = {}
    for key in data.files:
        i, name = key.split("__", 1)
        rows.setdefault(int(i), {})[name] = data[key]
    return [rows[i] for i in sorted(rows)]


# ----------------------------------------------------------------------------- latency
def _time_loop(fn, inputs, runs: int, warmup: int) -> dict:
    start = time.perf_counter()
    fn(inputs[0])
    first_ms = (time.perf_counter() - start) * 1e3
    for i in range(warmup):
        fn(inputs[i % len(inputs)])
    latencies = []
    for i in range(runs):
        feed = inputs[i % len(inputs)]
        start = time.perf_counter()
        fn(feed)
        latencies.append((time.perf_counter() - start) * 1e3)
    return {"first_inference_ms": first_ms, "latencies_ms": latencies}


def _peak_rss_mb() -> float | None:
    """VmHWM of this process (unlike ru_maxrss, not inherited from the parent across exec)."""
    try:
        for line in open("/proc/self/status", encoding="utf-8"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def worker(kind: str, path: str, npz: str, threads: int, runs: int, warmup: int, hf_class: str = "",
           options: dict | None = None) -> dict:
    """Body of the measuring subprocess for the peers: ``torch`` (path = HF dir) or ``ort`` (an .onnx)."""
    options = options or {}
    inputs = load_inputs(npz)
    start = time.perf_counter()
    if kind == "torch":
        import torch

        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)
        model = load_torch(path, hf_class, threads)
        feeds = [tuple(torch.from_numpy(row[k]) for k in INPUT_NAMES) for row in inputs]
        init_ms = (time.perf_counter() - start) * 1e3

        def fn(feed):
            with torch.inference_mode():
                return model(*feed)
    elif kind == "ort":
        session = ort_session(path, threads, spinning=options.get("spinning", True))
        feeds = [{k: row[k] for k in INPUT_NAMES} for row in inputs]
        init_ms = (time.perf_counter() - start) * 1e3

        def fn(feed):
            return session.run(None, feed)
    else:
        raise ValueError(f"unknown worker kind {kind!r}")
    result = _time_loop(fn, feeds, runs, warmup)
    result.update(init_ms=init_ms, threads=threads, peak_rss_mb=_peak_rss_mb())
    return result


def measure_peer(kind: str, path, npz, threads: int, runs: int, warmup: int, hf_class: str = "",
                 options: dict | None = None, timeout: float = 1800) -> dict:
    """``worker`` in a fresh process; ``options``: ``spinning`` (ORT), ``omp_wait_policy`` (torch)."""
    from benchmarks.host import summarize

    options = options or {}
    cmd = [sys.executable, "-m", "benchmarks.peers", "--worker", kind, str(path), str(npz), str(threads),
           str(runs), str(warmup), hf_class, json.dumps(options)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "OMP_NUM_THREADS": str(threads)}
    if options.get("omp_wait_policy"):
        env["OMP_WAIT_POLICY"] = options["omp_wait_policy"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=str(REPO))
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} benchmark of {path} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result.update(summarize(result.pop("latencies_ms")))
    return result


@dataclass
class Config:
    model: str          # preset
    runtime: str        # "TFLite (ours)" | "ORT" | "ORT no-spin" | "torch eager"
    precision: str      # fp32 | dynamic-range int8 | int8, attention float | full int8 | dynamic int8
    kind: str           # tflite | ort | torch
    path: str
    hf_class: str = ""
    options: dict = field(default_factory=dict)
    size_mb: float | None = None
    threads: int = 2
    rounds: list = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.model}/{self.runtime}/{self.precision}/{self.threads}t"


class ForeignLoad:
    """CPU time that other processes used while we measured, in cores: all CPUs' busy time from
    /proc/stat minus our children's CPU time, over the wall time. On a shared host a second thread
    only helps while no one else holds the second core; this says whether it was free."""

    def __init__(self):
        self.start = self._sample()

    @staticmethod
    def _sample():
        import resource

        try:
            with open("/proc/stat", encoding="utf-8") as f:
                vals = [int(v) for v in f.readline().split()[1:9]]
        except OSError:
            vals = None
        ours = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.perf_counter(), vals, ours.ru_utime + ours.ru_stime

    def cores(self) -> float | None:
        (t0, v0, c0), (t1, v1, c1) = self.start, self._sample()
        if v0 is None or v1 is None or t1 <= t0:
            return None
        busy = (sum(v1) - v1[3] - v1[4]) - (sum(v0) - v0[3] - v0[4])
        total = sum(v1) - sum(v0)
        if total <= 0:
            return None
        ncpu = os.cpu_count() or 1
        return max(0.0, busy / total * ncpu - (c1 - c0) / (t1 - t0))


def measure_all(configs: list[Config], npz, runs: int, warmup: int, rounds: int, max_foreign: float = 0.5,
                retries: int = 2, log=print) -> None:
    """``rounds`` rounds over all configs (order rotated each round), each measurement a fresh process.
    A measurement during which other processes used more than ``max_foreign`` cores is repeated (at
    most ``retries`` times; the attempt with the least foreign load is kept)."""
    from benchmarks.host import measure_tflite

    inputs = load_inputs(npz)
    for r in range(rounds):
        shift = r % len(configs)
        for c in configs[shift:] + configs[:shift]:
            best = None
            for attempt in range(1 + retries):
                load = ForeignLoad()
                if c.kind == "tflite":
                    res = measure_tflite(c.path, inputs, threads=c.threads, runs=runs, warmup=warmup)
                else:
                    res = measure_peer(c.kind, c.path, npz, c.threads, runs, warmup, c.hf_class, c.options)
                res["foreign_cores"] = load.cores()
                res["attempt"] = attempt + 1
                if best is None or (res["foreign_cores"] or 0) < (best["foreign_cores"] or 0):
                    best = res
                if res["foreign_cores"] is None or res["foreign_cores"] <= max_foreign:
                    break
            c.rounds.append(best)
            fl = best["foreign_cores"]
            log(f"  round {r + 1}/{rounds} {c.key:<48} p50 {best['p50_ms']:8.1f} ms  p90 {best['p90_ms']:8.1f} ms"
                f"  other jobs {'?' if fl is None else f'{fl:.2f}'} cores (attempt {best['attempt']})")


def measure_in_subprocess(configs: list[Config], inputs, workdir: Path, runs: int, warmup: int, rounds: int,
                          max_foreign: float = 0.5, retries: int = 2) -> None:
    """``measure_all`` from a small process (no TensorFlow, no models loaded): the measured processes
    start from it, so nothing of this big one (RSS, threads) leaks into them. Fills ``c.rounds``."""
    npz, plan, out = workdir / "bench_inputs.npz", workdir / "plan.json", workdir / "measured.json"
    save_inputs(inputs, npz)
    plan.write_text(json.dumps({"configs": [{k: v for k, v in c.__dict__.items() if k != "rounds"} for c in configs],
                                "npz": str(npz), "runs": runs, "warmup": warmup, "rounds": rounds,
                                "max_foreign": max_foreign, "retries": retries}))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-m", "benchmarks.peers", "--measure", str(plan), str(out)],
                          cwd=str(REPO), env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"measurement process failed (exit {proc.returncode}); see its output above")
    for c, rounds_ in zip(configs, json.loads(out.read_text())):
        c.rounds = rounds_


def _measure_main(plan_path: str, out_path: str) -> int:
    plan = json.loads(Path(plan_path).read_text())
    configs = [Config(**c) for c in plan["configs"]]

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    measure_all(configs, plan["npz"], plan["runs"], plan["warmup"], plan["rounds"], plan["max_foreign"],
                plan["retries"], log=log)
    Path(out_path).write_text(json.dumps([c.rounds for c in configs]))
    return 0


def summarize_config(c: Config) -> dict:
    p50s = [r["p50_ms"] for r in c.rounds]
    p90s = [r["p90_ms"] for r in c.rounds]
    rss = [r["peak_rss_mb"] for r in c.rounds if r.get("peak_rss_mb")]
    foreign = [r["foreign_cores"] for r in c.rounds if r.get("foreign_cores") is not None]
    return {"model": c.model, "runtime": c.runtime, "precision": c.precision, "threads": c.threads,
            "options": c.options, "size_mb": c.size_mb, "p50_ms": float(np.median(p50s)), "p90_ms": float(np.median(p90s)),
            "min_p50_ms": float(min(p50s)), "round_p50_ms": p50s, "round_p90_ms": p90s,
            "runs_per_round": c.rounds[0]["runs"], "init_ms": float(np.median([r["init_ms"] for r in c.rounds])),
            "peak_rss_mb": float(np.median(rss)) if rss else None,
            "foreign_cores": float(np.median(foreign)) if foreign else None, "round_foreign_cores": foreign}


# ----------------------------------------------------------------------------- agreement
def run_tflite_outputs(path, inputs, threads: int = 2) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    runner = interpreter.get_signature_runner("serving_default")
    return np.concatenate([runner(**row)["probability"] for row in inputs])


def run_torch_outputs(wrapped, inputs) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return np.concatenate([wrapped(*(torch.from_numpy(row[k]) for k in INPUT_NAMES)).numpy() for row in inputs])


def run_ort_outputs(path, inputs, threads: int = 2) -> np.ndarray:
    session = ort_session(path, threads)
    return np.concatenate([session.run(["probability"], {k: row[k] for k in INPUT_NAMES})[0] for row in inputs])


def _log_odds(p):
    p = np.clip(p.astype(np.float64), 1e-30, 1)
    return np.log(p[:, 1]) - np.log(p[:, 0])


def agreement(outputs: dict[str, np.ndarray], reference: str = "torch fp32") -> dict:
    """Max abs difference of each output set to ``reference``: probabilities and log-odds (a logit gap)."""
    ref = outputs[reference]
    out = {}
    for name, p in outputs.items():
        if name == reference:
            continue
        out[name] = {"max_abs_diff_probability": float(np.abs(p - ref).max()),
                     "max_abs_diff_log_odds": float(np.abs(_log_odds(p) - _log_odds(ref)).max()),
                     "same_argmax": float((p.argmax(-1) == ref.argmax(-1)).mean())}
    return out


# ----------------------------------------------------------------------------- profiling
def xnnpack_partitions(path, inputs, threads: int = 2) -> int:
    """How many XNNPACK delegate partitions the whole model runs as (each boundary between delegated
    and builtin ops hands the tensors over between the two runtimes)."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path), num_threads=threads)
    interp.allocate_tensors()
    interp.get_signature_runner("serving_default")(**inputs[0])  # the default delegate applies lazily
    return sum(d["op_name"] == "DELEGATE" for d in interp._get_ops_details())


def tflite_op_stats(path) -> dict:
    """Operator counts by type, and the ops whose inputs are float32 (in an int8 model: the boundary)."""
    from tensorflow.lite.python import schema_py_generated as schema

    from export.tflite_io import float_ops, op_names, read_tflite

    data = read_tflite(path)
    model = schema.Model.GetRootAsModel(data, 0)
    codes = op_names(data)
    sg = model.Subgraphs(0)
    counts = Counter(codes[sg.Operators(i).OpcodeIndex()] for i in range(sg.OperatorsLength()))
    return {"ops": sg.OperatorsLength(), "by_type": dict(counts.most_common()),
            "float_ops": dict(Counter(float_ops(data)).most_common())}


def _single_op_models(data: bytes):
    """Yield (op index, signature key, op type, single-op ModelT, dynamic input tensor indices, FLOPs) for
    every op of subgraph 0 (FLOPs: 2 x multiply-accumulates of FULLY_CONNECTED and BATCH_MATMUL, else 0)."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    from export.tflite_io import op_names

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    names = op_names(data)
    sg = model.subgraphs[0]

    def is_const(t):
        buf = model.buffers[sg.tensors[t].buffer]
        return buf.data is not None and len(buf.data) > 0

    for index, op in enumerate(sg.operators):
        ins = [int(t) for t in op.inputs]
        outs = [int(t) for t in op.outputs]
        tensors, remap, buffers = [], {}, [schema.BufferT()]
        for t in [t for t in ins if t >= 0] + outs:
            if t in remap:
                continue
            tensor = copy.copy(sg.tensors[t])
            if is_const(t):
                buffers.append(model.buffers[tensor.buffer])
                tensor.buffer = len(buffers) - 1
            else:
                tensor.buffer = 0
            remap[t] = len(tensors)
            tensors.append(tensor)
        new_op = copy.copy(op)
        new_op.inputs = [remap[t] if t >= 0 else -1 for t in ins]
        new_op.outputs = [remap[t] for t in outs]
        dyn_inputs = [t for t in dict.fromkeys(ins) if t >= 0 and not is_const(t)]
        sub = schema.SubGraphT()
        sub.tensors, sub.operators = tensors, [new_op]
        sub.inputs = [remap[t] for t in dyn_inputs]
        sub.outputs = new_op.outputs
        m = schema.ModelT()
        m.version, m.operatorCodes, m.description = model.version, model.operatorCodes, b"single op"
        m.subgraphs, m.buffers = [sub], buffers
        opts = op.builtinOptions
        flops = 0
        out_size = int(np.prod(sg.tensors[outs[0]].shape)) if outs else 0
        if names[op.opcodeIndex] == "FULLY_CONNECTED":
            flops = 2 * out_size * int(sg.tensors[ins[1]].shape[-1])          # weights [N, K]
        elif names[op.opcodeIndex] == "BATCH_MATMUL":
            lhs = sg.tensors[ins[0]].shape
            flops = 2 * out_size * int(lhs[-2] if getattr(opts, "adjX", False) else lhs[-1])
        key = (names[op.opcodeIndex],
               tuple((tuple(sg.tensors[t].shape), int(sg.tensors[t].type), is_const(t)) if t >= 0 else None for t in ins),
               tuple((tuple(sg.tensors[t].shape), int(sg.tensors[t].type)) for t in outs),
               repr(sorted(vars(opts).items())) if opts is not None else "")
        yield index, key, names[op.opcodeIndex], m, dyn_inputs, flops


def profile_tflite_ops(path, inputs, threads: int = 2, runs: int = 20, log=print) -> dict:
    """Per-op latency without a C++ benchmark tool: every distinct op (type, shapes, dtypes, options)
    is cut out into a one-op model, fed the tensors it sees in a real run, and timed alone under
    XNNPACK with ``threads``; totals are time x occurrences. The sum is an estimate (no cache or
    delegate-partition effects): it is reported next to the whole model's p50."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    from tensorflow.lite.tools import flatbuffer_utils

    data = Path(path).read_bytes()
    ref = Interpreter(model_content=data, experimental_preserve_all_tensors=True,
                      experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    ref.allocate_tensors()
    ref.get_signature_runner("serving_default")(**inputs[0])

    groups: dict = {}
    for index, key, op_type, m, dyn_inputs, flops in _single_op_models(data):
        if key in groups:
            groups[key]["count"] += 1
            continue
        groups[key] = {"op": op_type, "count": 1, "model": m, "inputs": dyn_inputs, "first_index": index,
                       "flops": flops}

    def time_model(content: bytes, feeds: list, resolver) -> tuple[float, bool]:
        interp = Interpreter(model_content=content, num_threads=threads, experimental_op_resolver_type=resolver)
        interp.allocate_tensors()
        details = interp.get_input_details()
        for d, value in zip(details, feeds):
            interp.set_tensor(d["index"], value)
        for _ in range(3):
            interp.invoke()
        # (the default delegate is applied lazily: look after the first invokes)
        delegated = any(d["op_name"] == "DELEGATE" for d in interp._get_ops_details())
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            interp.invoke()
            times.append(time.perf_counter() - start)
        return float(np.median(times)) * 1e3, delegated

    rows = []
    for key, g in groups.items():
        feeds = [ref.get_tensor(t) for t in g["inputs"]]
        content = bytes(flatbuffer_utils.convert_object_to_bytearray(g.pop("model")))
        note = ""
        try:
            ms, delegated = time_model(content, feeds, OpResolverType.AUTO)
        except RuntimeError as e:
            # e.g. a DEQUANTIZE of a constant: nothing dynamic to feed, XNNPACK refuses the lone op (the
            # whole model folds it at prepare time)
            ms, delegated = time_model(content, feeds, OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
            note = f"XNNPACK refused the lone op ({str(e).splitlines()[0][:80]}); timed with builtin kernels"
        rows.append({"op": g["op"], "count": g["count"], "ms_each": ms, "xnnpack": delegated, "flops": g["flops"],
                     "shapes": [list(map(int, s[0])) if s else None for s in key[1]],
                     "out_shapes": [list(map(int, s[0])) for s in key[2]], "example_op_index": g["first_index"],
                     **({"note": note} if note else {})})
    # the cost of invoke() itself (Python binding, delegate entry): the fastest single-op call seen, an
    # op that moves a few bytes; subtracted from every op
    overhead_ms = min(r["ms_each"] for r in rows)
    by_type = defaultdict(lambda: {"count": 0, "ms": 0.0, "xnnpack": 0, "gflop": 0.0})
    for r in rows:
        r["ms_each_net"] = max(0.0, r["ms_each"] - overhead_ms)
        if r["flops"] and r["ms_each_net"] > 0:
            r["gflops_per_s"] = r["flops"] / r["ms_each_net"] / 1e6
        t = by_type[r["op"]]
        t["count"] += r["count"]
        t["ms"] += r["count"] * r["ms_each_net"]
        t["xnnpack"] += r["count"] if r["xnnpack"] else 0
        t["gflop"] += r["count"] * r["flops"] / 1e9
    total = sum(t["ms"] for t in by_type.values())
    table = sorted(({"op": k, **v, "share": v["ms"] / total if total else 0.0,
                     **({"gflops_per_s": v["gflop"] / v["ms"] * 1e3} if v["gflop"] and v["ms"] else {})}
                    for k, v in by_type.items()), key=lambda r: -r["ms"])
    top = sorted(rows, key=lambda r: -r["count"] * r["ms_each_net"])[:15]
    # the whole model in this same session (same load), at ``threads`` and at one thread
    whole = {}
    for t in dict.fromkeys([threads, 1]):
        interp = Interpreter(model_content=data, num_threads=t)
        interp.allocate_tensors()
        runner = interp.get_signature_runner("serving_default")
        times = []
        for i in range(3 + max(5, runs // 2)):
            start = time.perf_counter()
            runner(**inputs[i % len(inputs)])
            times.append(time.perf_counter() - start)
        whole[str(t)] = float(np.median(times[3:])) * 1e3
        del runner, interp
    return {"sum_ms": total, "invoke_overhead_ms": overhead_ms, "distinct_ops": len(rows), "threads": threads,
            "whole_model_ms": whole, "by_type": table, "top_ops": top}


def profile_ort(path, inputs, threads: int = 2, runs: int = 20, warmup: int = 5, spinning: bool = True) -> dict:
    """ORT's own profiler: time per node op type (after ORT's graph optimizations), per run; the
    ``warmup`` first runs of the session are left out."""
    with tempfile.TemporaryDirectory(prefix="mobilebert-ortprof-") as tmp:
        session = ort_session(path, threads, profile_prefix=str(Path(tmp) / "ort"), spinning=spinning)
        feeds = [{k: row[k] for k in INPUT_NAMES} for row in inputs]
        for i in range(warmup + runs):
            session.run(None, feeds[i % len(feeds)])
        events = json.loads(Path(session.end_profiling()).read_text())
    windows = sorted((e["ts"], e["ts"] + e["dur"]) for e in events if e.get("name") == "model_run")[warmup:]
    if not windows:
        raise RuntimeError("ORT profile has no model_run events")
    by_type = defaultdict(lambda: {"count": 0, "us": 0.0})
    for e in events:
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time"):
            continue
        if not any(a <= e["ts"] <= b for a, b in windows):
            continue
        op = e.get("args", {}).get("op_name", "?")
        by_type[op]["count"] += 1
        by_type[op]["us"] += e.get("dur", 0)
    n = len(windows)
    total = sum(v["us"] for v in by_type.values())
    wall = sum(b - a for a, b in windows) / n / 1e3
    table = sorted(({"op": k, "count": v["count"] // n, "ms": v["us"] / n / 1e3,
                     "share": v["us"] / total if total else 0.0} for k, v in by_type.items()), key=lambda r: -r["ms"])
    return {"sum_ms": total / n / 1e3, "run_ms": wall, "runs": n, "by_type": table}


# ----------------------------------------------------------------------------- the whole run
def ratio_check(name, value, target, kind) -> dict:
    ok = value <= target if kind == "<=" else value >= target
    return {"name": name, "value": value, "target": f"{kind} {target}", "status": "PASS" if ok else "MISS"}


def best_row(rows: list[dict], model: str, runtime: str, precision: str, threads: int | None = None) -> dict | None:
    """The fastest (p50) row of ``model``/``precision`` whose runtime starts with ``runtime`` (so "ORT"
    picks the better of ORT's spinning and no-spin settings), at ``threads`` if given."""
    hits = [r for r in rows if r["model"] == model and r["runtime"].startswith(runtime) and r["precision"] == precision
            and (threads is None or r.get("threads", threads) == threads)]
    return min(hits, key=lambda r: r["p50_ms"]) if hits else None


def compute_ratios(rows: list[dict], threads: int | None = None) -> list[dict]:
    """The issue's targets (PASS/MISS) and reference ratios, from the rows at ``threads``."""
    if threads is not None:
        rows = [r for r in rows if r.get("threads", threads) == threads]
    out = []

    def pair(model_a, rt_a, prec_a, model_b, rt_b, prec_b):
        a, b = best_row(rows, model_a, rt_a, prec_a), best_row(rows, model_b, rt_b, prec_b)
        return (a, b) if a and b else (None, None)

    ours, ort = pair("mobilebert", "TFLite", "fp32", "mobilebert", "ORT", "fp32")
    if ours:
        out.append(ratio_check(f"MobileBERT fp32: our TFLite / {ort['runtime']}", ours["p50_ms"] / ort["p50_ms"],
                               TARGETS["fp32_vs_ort"], "<="))
    # the target row: our CPU int8 export (int8 weights and activations; the attention score path float)
    ours, ort = pair("mobilebert", "TFLite", PRECISION["int8-mixed"], "mobilebert", "ORT", "dynamic int8")
    if ours:
        out.append(ratio_check(f"MobileBERT int8: our TFLite {PRECISION['int8-mixed']} / {ort['runtime']} "
                               f"dynamic int8", ours["p50_ms"] / ort["p50_ms"], TARGETS["int8_vs_ort"], "<="))
    for precision in ("full int8", "dynamic-range int8"):
        ours, ort = pair("mobilebert", "TFLite", precision, "mobilebert", "ORT", "dynamic int8")
        if ours:
            out.append({"name": f"MobileBERT int8 (reference): our TFLite {precision} / {ort['runtime']} dynamic int8",
                        "value": ours["p50_ms"] / ort["p50_ms"], "target": "-", "status": "info"})
    for runtime, precision, target in (("TFLite", "fp32", True), ("ORT", "fp32", False), ("torch", "fp32", False),
                                       ("TFLite", PRECISION["int8-mixed"], False), ("TFLite", "full int8", False),
                                       ("TFLite", "dynamic-range int8", False), ("ORT", "dynamic int8", False)):
        bb, mb = pair("bert_base", runtime, precision, "mobilebert", runtime, precision)
        if not bb:
            continue
        name = f"BERT_BASE / MobileBERT, {mb['runtime']} {precision}"
        if target:
            out.append(ratio_check(name, bb["p50_ms"] / mb["p50_ms"], TARGETS["bert_over_mobilebert"], ">="))
        else:
            out.append({"name": name + " (reference)", "value": bb["p50_ms"] / mb["p50_ms"],
                        "target": f">= {TARGETS['bert_over_mobilebert']}", "status": "info"})
    return out


def profile_targets(ratios: list[dict], presets, tflite_modes, force: bool = False) -> list[tuple[str, str]]:
    """(preset, TFLite mode) pairs to profile per op: those behind each missed target (all with ``force``)."""
    missed = [r["name"] for r in ratios if r["status"] == "MISS"]
    wanted = []
    if force or any(n.startswith("MobileBERT fp32") for n in missed):
        wanted.append(("mobilebert", "none"))
    if force or any(n.startswith("MobileBERT int8") for n in missed):
        wanted += [("mobilebert", "int8-mixed"), ("mobilebert", "int8"), ("mobilebert", "dynamic")]
    if force or any(n.startswith("BERT_BASE") for n in missed):
        wanted += [("mobilebert", "none"), ("bert_base", "none")]
    return [w for w in dict.fromkeys(wanted) if w[0] in presets and w[1] in tflite_modes]


def prepare_preset(preset: str, d: Path, *, layers, seq_len, tflite_modes, ort_modes, data_dir, vocab,
                   gate_examples, calibration_examples, reuse: bool = False, log=print) -> dict:
    """Our model -> TFLite exports + HF directory + ONNX fp32/int8 in ``d``; the record is kept in
    ``d/prepared.json`` and, with ``reuse``, read back instead of exporting again when its settings match."""
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
    record_file.write_text(json.dumps(record, indent=2) + "\n")
    return record


def run(*, presets=PRESETS, layers=None, seq_len=128, threads=2, extra_threads=(), runs=30, warmup=5, rounds=3,
        n_inputs=8, tflite_modes=TFLITE_MODES, ort_modes=ORT_MODES, ort_no_spin=True, torch_eager=True,
        profile=True, force_profile=False, workdir=None, reuse=False, data_dir=None, gate_examples=8,
        calibration_examples=50, max_foreign=0.5, retries=2, log=print) -> dict:
    """Build, export, check agreement, measure, profile; returns the results dict (``write_results``).
    Targets are judged at ``threads``; ``extra_threads`` adds the same measurements at other thread
    counts (their ratios go to ``ratios_by_threads``)."""
    import torch

    from benchmarks.inputs import real_inputs
    from mobilebert_tf.paths import bert_vocab, default_data_dir

    t0 = time.perf_counter()
    data_dir = Path(data_dir or default_data_dir())
    vocab = bert_vocab(data_dir)
    workdir = Path(workdir or tempfile.mkdtemp(prefix="mobilebert-peers-"))
    workdir.mkdir(parents=True, exist_ok=True)
    thread_counts = [threads] + [t for t in extra_threads if t != threads]
    torch.set_num_threads(threads)
    results = {"machine": machine_info(), "versions": versions(),
               "settings": {"layers": layers, "seq_len": seq_len, "threads": threads, "extra_threads": thread_counts[1:],
                            "runs_per_round": runs, "warmup": warmup, "rounds": rounds, "batch": 1,
                            "max_other_load_cores": max_foreign, "retries": retries,
                            "inputs": n_inputs, "seed": SEED,
                            "task": f"sequence classification, {NUM_LABELS} labels, random weights",
                            "torch": "OMP_WAIT_POLICY=PASSIVE (active OpenMP spinning on shared cores gave "
                                     "p90 spikes of 10-100x)",
                            "ort": "ORT_ENABLE_ALL, CPU EP, inter_op 1, sequential; 'ORT' = default intra-op "
                                   "spinning, 'ORT no-spin' = session.intra_op.allow_spinning 0; targets use the "
                                   "faster of the two"},
               "models": {}, "agreement": {}, "latency": [], "ratios": [], "ratios_by_threads": {}, "profiles": {}}
    configs: list[Config] = []
    bench_inputs = unpadded = None
    for preset in presets:
        d = workdir / preset
        rec = prepare_preset(preset, d, layers=layers, seq_len=seq_len, tflite_modes=tflite_modes, ort_modes=ort_modes,
                             data_dir=data_dir, vocab=vocab, gate_examples=gate_examples,
                             calibration_examples=calibration_examples, reuse=reuse, log=log)
        exports, onnx, hf_dir, hf_class = rec["exports"], rec["onnx"], Path(rec["hf_dir"]), rec["hf_class"]
        results["models"][preset] = rec["info"]
        if bench_inputs is None:
            any_tflite = next(iter(exports.values()))["path"]
            bench_inputs = real_inputs(any_tflite, n_inputs, data_dir=data_dir)
            unpadded = packed_inputs(vocab, data_dir, min(n_inputs, 4), seq_len)
            results["settings"]["real_tokens_per_input"] = [int(r["mask"].sum()) for r in bench_inputs]

        # agreement, same weights: torch vs ORT fp32 vs TFLite float (+ the quantized ones, for information)
        wrapped = load_torch(hf_dir, hf_class, threads)
        agree = {}
        for label, rows in (("unpadded", unpadded), ("padded", bench_inputs)):
            outs = {"torch fp32": run_torch_outputs(wrapped, rows)}
            for k, v in onnx.items():
                outs[f"ORT {k}"] = run_ort_outputs(v["path"], rows, threads)
            for k, v in exports.items():
                outs[f"TFLite {k}"] = run_tflite_outputs(v["path"], rows, threads)
            agree[label] = agreement(outs)
        results["agreement"][preset] = agree
        for name, a in agree["unpadded"].items():
            log(f"  agreement (unpadded) {name:<14} vs torch: max |dp| {a['max_abs_diff_probability']:.2e}, "
                f"max |d log-odds| {a['max_abs_diff_log_odds']:.2e}")
        del wrapped

        for t in thread_counts:
            for mode, e in exports.items():
                configs.append(Config(preset, "TFLite (ours)", PRECISION[mode], "tflite", e["path"],
                                      size_mb=e["size_mb"], threads=t))
            for mode, o in onnx.items():
                precision = PRECISION["fp32" if mode == "fp32" else "ort-int8"]
                configs.append(Config(preset, "ORT", precision, "ort", o["path"], size_mb=o["size_mb"], threads=t))
                if ort_no_spin and t > 1:  # with one thread there is no pool to spin
                    configs.append(Config(preset, "ORT no-spin", precision, "ort", o["path"],
                                          options={"spinning": False}, size_mb=o["size_mb"], threads=t))
            if torch_eager:
                size = sum(f.stat().st_size for f in hf_dir.glob("*.safetensors")) / 1e6
                configs.append(Config(preset, "torch eager", "fp32", "torch", str(hf_dir), hf_class,
                                      options={"omp_wait_policy": "PASSIVE"}, size_mb=size, threads=t))

    log(f"measuring {len(configs)} configurations x {rounds} rounds x {runs} runs (threads {thread_counts})")
    measure_in_subprocess(configs, bench_inputs, workdir, runs, warmup, rounds, max_foreign, retries)
    rows = [summarize_config(c) for c in configs]
    results["latency"] = rows
    results["ratios"] = compute_ratios(rows, threads)
    for t in thread_counts:
        results["ratios_by_threads"][str(t)] = compute_ratios(rows, t)
    for r in results["ratios"]:
        log(f"  {r['name']}: {r['value']:.2f} (target {r['target']}) {r['status']}")

    if profile:
        for preset, mode in profile_targets(results["ratios"], presets, tflite_modes, force_profile):
            ours = best_row(rows, preset, "TFLite", PRECISION[mode], threads)
            if ours is None:
                continue
            path = next(c.path for c in configs if c.model == preset and c.kind == "tflite"
                        and c.precision == PRECISION[mode])
            log(f"profiling {preset} TFLite {mode} per op")
            prof = {"tflite": profile_tflite_ops(path, bench_inputs, threads), "tflite_ops": tflite_op_stats(path),
                    "xnnpack_partitions": xnnpack_partitions(path, bench_inputs, threads),
                    "tflite_p50_ms": ours["p50_ms"]}
            ort = None if mode == "dynamic" else best_row(rows, preset, "ORT",
                                                            PRECISION["fp32" if mode == "none" else "ort-int8"], threads)
            if ort is not None:
                ort_path = next(c.path for c in configs
                                if c.key == f"{preset}/{ort['runtime']}/{ort['precision']}/{threads}t")
                prof["ort"] = profile_ort(ort_path, bench_inputs, threads, spinning=ort["options"].get("spinning", True))
                prof["ort_p50_ms"] = ort["p50_ms"]
                prof["ort_runtime"] = ort["runtime"]
            results["profiles"][f"{preset}/{mode}"] = prof
    try:
        results["machine"]["loadavg_end"] = list(os.getloadavg())
    except OSError:
        pass
    results["settings"]["wall_s"] = time.perf_counter() - t0
    results["settings"]["workdir"] = str(workdir)
    return results


# ----------------------------------------------------------------------------- output
def format_table(results: dict) -> str:
    lines = ["| threads | model | runtime | precision | size MB | p50 ms | p90 ms | min p50 ms | peak RSS MB | "
             "other jobs, cores |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results["latency"]:
        rss = f"{r['peak_rss_mb']:.0f}" if r.get("peak_rss_mb") else "-"
        fl = f"{r['foreign_cores']:.2f}" if r.get("foreign_cores") is not None else "-"
        lines.append(f"| {r.get('threads', '')} | {r['model']} | {r['runtime']} | {r['precision']} | {r['size_mb']:.1f} | "
                     f"{r['p50_ms']:.1f} | {r['p90_ms']:.1f} | {r['min_p50_ms']:.1f} | {rss} | {fl} |")
    return "\n".join(lines)


def format_ratios(results: dict, ratios: list | None = None) -> str:
    lines = ["| ratio (p50) | value | target | status |", "|---|---|---|---|"]
    for r in results["ratios"] if ratios is None else ratios:
        lines.append(f"| {r['name']} | {r['value']:.2f} | {r['target']} | {r['status']} |")
    return "\n".join(lines)


def format_agreement(results: dict) -> str:
    lines = ["| model | inputs | runtime | max abs diff (probability) | max abs diff (log-odds) | same argmax |",
             "|---|---|---|---|---|---|"]
    for preset, agree in results["agreement"].items():
        for label, table in agree.items():
            for name, a in table.items():
                lines.append(f"| {preset} | {label} | {name} vs torch fp32 | {a['max_abs_diff_probability']:.1e} | "
                             f"{a['max_abs_diff_log_odds']:.1e} | {a['same_argmax']:.2f} |")
    return "\n".join(lines)


def format_profile(name: str, prof: dict, top: int = 12) -> str:
    t = prof["tflite"]
    lines = [f"### {name}: TFLite per op type (each distinct op timed alone, XNNPACK, summed)", "",
             f"Sum {t['sum_ms']:.1f} ms over {t['distinct_ops']} distinct ops ({prof['tflite_ops']['ops']} ops, "
             f"{prof.get('xnnpack_partitions', '?')} XNNPACK partition(s); invoke overhead "
             f"{t['invoke_overhead_ms'] * 1e3:.0f} us subtracted per op). The whole model in the same session: "
             + ", ".join(f"{ms:.1f} ms at {n} thread(s)" for n, ms in t.get("whole_model_ms", {}).items())
             + f" (benchmark p50 {prof['tflite_p50_ms']:.1f} ms).", "",
             "| op | count | on XNNPACK | ms | share | GFLOP/s |", "|---|---|---|---|---|---|"]
    for r in t["by_type"][:top]:
        rate = f"{r['gflops_per_s']:.0f}" if r.get("gflops_per_s") else ""
        lines.append(f"| {r['op']} | {r['count']} | {r['xnnpack']} | {r['ms']:.2f} | {r['share']:.0%} | {rate} |")
    lines += ["", "Costliest distinct ops (inputs' shapes; x count):", "",
              "| op | inputs | count | on XNNPACK | ms each | GFLOP/s |", "|---|---|---|---|---|---|"]
    for r in t["top_ops"][:8]:
        rate = f"{r['gflops_per_s']:.0f}" if r.get("gflops_per_s") else ""
        shapes = " ".join("x".join(map(str, sh)) if sh is not None else "-" for sh in r["shapes"])
        lines.append(f"| {r['op']} | {shapes} | {r['count']} | {'yes' if r['xnnpack'] else 'no'} | "
                     f"{r['ms_each_net']:.3f} | {rate} |")
    if "ort" in prof:
        o = prof["ort"]
        lines += ["", f"{prof.get('ort_runtime', 'ORT')} per node op type (ORT's profiler, after its graph "
                      f"optimizations; profiled runs are slower than plain ones): kernels {o['sum_ms']:.1f} ms of "
                      f"{o['run_ms']:.1f} ms per run (p50 without profiling {prof['ort_p50_ms']:.1f} ms)", "",
                  "| op | count | ms | share |", "|---|---|---|---|"]
        for r in o["by_type"][:top]:
            lines.append(f"| {r['op']} | {r['count']} | {r['ms']:.2f} | {r['share']:.0%} |")
    return "\n".join(lines)


def write_results(results: dict, out_dir, notes: str = "") -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    js = out_dir / "peers.json"
    js.write_text(json.dumps(results, indent=2, default=str) + "\n")
    m = results["machine"]
    s = results["settings"]
    md = ["# Peers: HF transformers (torch, ONNX Runtime) vs our TFLite, same weights", "",
          f"Machine: {m['cpu']}, {m['usable_cores']} usable cores ({', '.join(m['isa'])}); load average "
          f"{m.get('loadavg_start')} at start, {m.get('loadavg_end')} at end. {m['caveat'].capitalize()}.", "",
          f"Settings: batch 1, seq {s['seq_len']}, {s['threads']} threads (targets; also "
          f"{s.get('extra_threads') or 'none'}), {s['rounds']} interleaved rounds x "
          f"{s['runs_per_round']} runs (p50/p90: median over rounds), layers "
          f"{s['layers'] or 'full size'}, {s['task']}, SST-2 dev inputs (real tokens per input: "
          f"{s.get('real_tokens_per_input')}). Wall time {s['wall_s'] / 60:.1f} min.", "",
          "Versions: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items()), "",
          "## Latency", "", format_table(results), "",
          f"## Ratios at {s['threads']} threads (targets from issue #8, not asserted)", "", format_ratios(results), ""]
    for t, ratios in results.get("ratios_by_threads", {}).items():
        if int(t) != s["threads"]:
            md += [f"### The same ratios at {t} thread(s), for comparison", "", format_ratios(results, ratios), ""]
    md += ["## Agreement (same weights)", "", format_agreement(results), ""]
    if results["profiles"]:
        md += ["## Profiles", ""]
        for name, prof in results["profiles"].items():
            md += [format_profile(name, prof), ""]
    if notes:
        md += [notes, ""]
    mdp = out_dir / "peers.md"
    mdp.write_text("\n".join(md))
    return js, mdp


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--worker"]:
        kind, path, npz, threads, runs, warmup = argv[1:7]
        hf_class = argv[7] if len(argv) > 7 else ""
        options = json.loads(argv[8]) if len(argv) > 8 else {}
        print(json.dumps(worker(kind, path, npz, int(threads), int(runs), int(warmup), hf_class, options)))
        return 0
    if argv[:1] == ["--measure"]:
        return _measure_main(argv[1], argv[2])
    p = argparse.ArgumentParser(prog="python -m benchmarks.peers", description=__doc__.split("\n\n")[0])
    p.add_argument("--layers", type=int, default=None, help="shrink both models to N layers (quick runs)")
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--threads", type=int, default=2, help="intra-op threads for every runtime (targets)")
    p.add_argument("--extra-threads", type=int, nargs="*", default=[],
                   help="also measure at these thread counts, for comparison (e.g. 1)")
    p.add_argument("--runs", type=int, default=30, help="timed runs per round")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (each config in a fresh process)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--max-other-load", type=float, default=0.5,
                   help="repeat a measurement during which other processes used more CPU cores than this")
    p.add_argument("--retries", type=int, default=2, help="at most this many repeats per measurement")
    p.add_argument("--inputs", type=int, default=8, help="distinct SST-2 inputs, cycled")
    p.add_argument("--presets", nargs="+", default=list(PRESETS), choices=PRESETS)
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("--workdir", default=None, help="where exports go (default: a temporary folder)")
    p.add_argument("--reuse", action="store_true",
                   help="reuse the exports an earlier run left in --workdir (same presets/layers/seq/seed)")
    p.add_argument("--data", default=None, help="shared data folder")
    p.add_argument("--no-profile", action="store_true", help="skip the per-op profile of missed targets")
    p.add_argument("--profile", action="store_true", help="profile fp32 and int8 even if no target is missed")
    p.add_argument("--notes", default=None, help="a Markdown file appended to peers.md")
    p.add_argument("--render", default=None, metavar="PEERS_JSON",
                   help="only rewrite peers.md (in --out) from an earlier peers.json (+ --notes)")
    a = p.parse_args(argv)
    if a.render:
        results = json.loads(Path(a.render).read_text())
        js, mdp = write_results(results, a.out, Path(a.notes).read_text() if a.notes else "")
        print(f"wrote {mdp}")
        return 0
    results = run(presets=a.presets, layers=a.layers, seq_len=a.seq_len, threads=a.threads,
                  extra_threads=a.extra_threads, runs=a.runs, warmup=a.warmup, rounds=a.rounds, n_inputs=a.inputs,
                  profile=not a.no_profile, force_profile=a.profile, workdir=a.workdir, reuse=a.reuse,
                  data_dir=a.data, max_foreign=a.max_other_load, retries=a.retries)
    notes = Path(a.notes).read_text() if a.notes else ""
    js, mdp = write_results(results, a.out, notes)
    print()
    print(format_table(results))
    print()
    print(format_ratios(results))
    print(f"\nwrote {js} and {mdp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
