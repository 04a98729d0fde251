"""The latency report: ``python -m benchmarks.latency [--out benchmarks/results] [--runs 30] [--threads 2]``.

Exports ``bert_base``, ``mobilebert``, ``mobilebert_tiny`` (random init, classifier head) at seq 128 in
float / dynamic / int8, and MobileBERT QA at seq 384, measures them side by side in one run with the
host harness (LiteRT + XNNPACK, real SST-2 / SQuAD inputs), and relates each to this machine's GEMM
peak measured through the same runtime (a single FULLY_CONNECTED of the same precision).
Writes ``latency.json``, ``latency.md`` and ``latency.png``.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

PRESETS = ("bert_base", "mobilebert", "mobilebert_tiny")
MODES = ("none", "dynamic", "int8")
GEMM = (128, 1024, 1024)  # M, K, N: the FFN-like shape of a seq-128 batch


def gemm_model(quantize: str, m: int, k: int, n: int) -> bytes:
    """One [m, k] x [k, n] FULLY_CONNECTED as a .tflite, float or int8 (weights + activations)."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    module = tf.Module()
    module.w = tf.Variable(rng.normal(size=(k, n)).astype(np.float32) * 0.05)
    module.fn = tf.function(lambda x: {"y": tf.matmul(x, module.w)},
                            input_signature=[tf.TensorSpec([m, k], tf.float32, name="x")])
    # the module as trackable object gives the model a "serving_default" signature
    converter = tf.lite.TFLiteConverter.from_concrete_functions([module.fn.get_concrete_function()], module)
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "int8":
        def rep():
            for _ in range(8):
                yield {"x": rng.normal(size=(m, k)).astype(np.float32)}
        converter.representative_dataset = rep
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter.convert()


def measure_gemm_peak(tmp: Path, threads: int, runs: int) -> dict:
    from benchmarks.host import measure_tflite

    m, k, n = GEMM
    out = {}
    for quantize in MODES:
        path = tmp / f"gemm_{quantize}.tflite"
        path.write_bytes(gemm_model(quantize, m, k, n))
        x = np.random.default_rng(1).normal(size=(m, k)).astype(np.float32)
        r = measure_tflite(str(path), [{"x": x}], threads=threads, runs=runs, warmup=5)
        out[quantize] = {"p50_ms": r["p50_ms"], "gflops_per_s": 2 * m * k * n / (r["p50_ms"] * 1e6)}
    return out


def export_all(tmp: Path, data_dir, quick: bool) -> list[dict]:
    import tf_keras as keras

    from export.exporter import export_tflite
    from mobilebert_tf import MobileBertConfig, MobileBertForQuestionAnswering, MobileBertForSequenceClassification
    from mobilebert_tf.flops import count_flops, count_params
    from mobilebert_tf.paths import bert_vocab
    from mobilebert_tf.tokenization import BertTokenizer

    tokenizer = BertTokenizer(str(bert_vocab(data_dir)))
    jobs = [(p, "classifier", 128) for p in PRESETS] + [("mobilebert", "qa", 384)]
    rows = []
    for preset, task, seq in jobs:
        overrides = {"num_hidden_layers": 2} if quick else {}
        config = MobileBertConfig.from_preset(preset, **overrides)
        keras.utils.set_random_seed(0)
        model = (MobileBertForSequenceClassification(config, num_labels=2) if task == "classifier"
                 else MobileBertForQuestionAnswering(config)).build_with_dummy()
        for quantize in MODES:
            path = tmp / f"{preset}_{task}_{seq}_{quantize}.tflite"
            start = time.perf_counter()
            r = export_tflite(model, task, path, seq_len=seq, quantize=quantize, tokenizer=tokenizer,
                              vocab_file=str(bert_vocab(data_dir)), data_dir=data_dir, gate_examples=8,
                              calibration_examples=32, allow_accuracy_drop=True, progress=False,
                              with_metadata=True)
            print(f"exported {path.name} in {time.perf_counter() - start:.0f} s", flush=True)
            rows.append({"preset": preset, "task": task, "seq_len": seq, "quantize": quantize, "path": str(path),
                         "params": count_params(config)["encoder"], "gflops": count_flops(config, seq).total() / 1e9,
                         "gate_agreement": r.report["agreement"]})
        del model
    return rows


def main(argv=None) -> int:
    from benchmarks.cli import machine_name, plot
    from benchmarks.host import measure_tflite
    from benchmarks.inputs import real_inputs
    from mobilebert_tf.paths import default_data_dir

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("--work", default="runs/latency", help="where the .tflite files go")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--data", default=str(default_data_dir()))
    p.add_argument("--quick", action="store_true", help="2-layer models (a smoke run, not a result)")
    args = p.parse_args(argv)
    out, work = Path(args.out), Path(args.work)
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    rows = export_all(work, args.data, args.quick)
    peak = measure_gemm_peak(work, args.threads, args.runs)
    for row in rows:  # interleaved in one run: every model measured under the same conditions
        r = measure_tflite(row["path"], real_inputs(row["path"], 8, args.data), threads=args.threads,
                           runs=args.runs, warmup=5)
        row.update({k: r[k] for k in ("p50_ms", "p90_ms", "mean_ms", "std_ms", "size_mb", "init_ms", "peak_rss_mb")})
        row["gflops_per_s"] = row["gflops"] / (row["p50_ms"] / 1e3)
        row["fraction_of_gemm_peak"] = row["gflops_per_s"] / peak[row["quantize"]]["gflops_per_s"]
        print(f"{Path(row['path']).name}: p50 {row['p50_ms']:.2f} ms", flush=True)
    machine = machine_name()
    by = {(r["preset"], r["task"], r["quantize"]): r for r in rows}
    ratios = {}
    for q in MODES:
        base, mb, tiny = (by[(p, "classifier", q)]["p50_ms"] for p in PRESETS)
        ratios[q] = {"bert_base/mobilebert": base / mb, "bert_base/mobilebert_tiny": base / tiny,
                     "flop_ratio bert_base/mobilebert": by[("bert_base", "classifier", q)]["gflops"]
                     / by[("mobilebert", "classifier", q)]["gflops"]}
    result = {"machine": machine, "threads": args.threads, "runs": args.runs, "quick": args.quick,
              "gemm_peak": {"shape_mkn": GEMM, **peak}, "models": rows, "speedups": ratios}
    (out / "latency.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# Latency (host: {machine}, LiteRT + XNNPACK, {args.threads} threads, batch 1, p50 of {args.runs} "
             f"runs, all measured side by side in one run{'; QUICK 2-layer smoke run' if args.quick else ''})", "",
             "| model | task | seq | precision | encoder params | GFLOPs | size MB | p50 ms | p90 ms | GFLOP/s | % of GEMM peak |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['preset']} | {r['task']} | {r['seq_len']} | {r['quantize']} | {r['params']:,} | "
                     f"{r['gflops']:.2f} | {r['size_mb']:.1f} | {r['p50_ms']:.2f} | {r['p90_ms']:.2f} | "
                     f"{r['gflops_per_s']:.1f} | {100 * r['fraction_of_gemm_peak']:.0f}% |")
    lines += ["", f"GEMM peak through the same runtime ({GEMM[0]}x{GEMM[1]}x{GEMM[2]} FULLY_CONNECTED): " + ", ".join(
        f"{q} {peak[q]['gflops_per_s']:.1f} GFLOP/s" for q in MODES), "", "Speed-ups (p50 ratios):", ""]
    for q in MODES:
        lines.append(f"- {q}: BERT_BASE / MobileBERT {ratios[q]['bert_base/mobilebert']:.2f}x (FLOP ratio "
                     f"{ratios[q]['flop_ratio bert_base/mobilebert']:.2f}x), BERT_BASE / MobileBERT-Tiny "
                     f"{ratios[q]['bert_base/mobilebert_tiny']:.2f}x")
    (out / "latency.md").write_text("\n".join(lines) + "\n")
    plot([{"model": Path(r["path"]).stem, "threads": args.threads, "p50_ms": r["p50_ms"], "mean_ms": r["mean_ms"]}
          for r in rows], str(out / "latency.png"), f"p50 latency, {machine}")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
