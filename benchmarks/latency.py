"""The latency report: ``python -m mobilebert_tf.benchmarks.latency [--out benchmarks/results] [--runs 30] [--threads 2]``.

Exports ``bert_base``, ``mobilebert``, ``mobilebert_tiny`` (random init, classifier head) at seq 128 in
float / dynamic / int8-mixed / int8, and MobileBERT QA at seq 384, measures them side by side in one run
with the host harness (LiteRT + XNNPACK, real SST-2 / SQuAD inputs), and relates each to this machine's
GEMM peak measured through the same runtime: the best of many FULLY_CONNECTED shapes of the same
precision, read from ``benchmarks/results/gemm_peak.json`` (``python -m mobilebert_tf.benchmarks.gemm_peak``) when it
was measured on this CPU at the same thread count, else measured here on ``gemm_peak``'s quick shapes
(and the report says so). A model faster than that peak is labelled "above peak", never ">100%".
Writes ``latency.json``, ``latency.md`` and ``latency.png``; ``--render latency.json`` rewrites only
latency.md. ``--export-only`` / ``--reuse`` split the (single-core, slow) exports from the
measurements, which want an otherwise idle machine. Hand-written findings live in
``benchmarks/results/latency_notes.md``, which this script never writes.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

PRESETS = ("bert_base", "mobilebert", "mobilebert_tiny")
MODES = ("none", "dynamic", "int8-mixed", "int8")
GEMM_MODE = {"none": "none", "dynamic": "dynamic", "int8-mixed": "int8", "int8": "int8"}  # the FCs' precision
PEAK_FILE = Path(__file__).resolve().parent / "results" / "gemm_peak.json"


def gemm_peak_for(threads: int, work: Path, peak_file=PEAK_FILE, log=print) -> dict:
    """The best-of-shapes GEMM peak per precision for ``threads``: from ``peak_file`` when it is a full
    (not ``--quick``) measurement on this CPU at ``threads``, else measured now on the quick shapes.

    Returns:
        ``{"peak": {precision: {gops_per_s, m, k, n, p50_ms}}, "source": str, "threads", "quick", "date"}``.
    """
    from mobilebert_tf.benchmarks.gemm_peak import measure_peak
    from mobilebert_tf.benchmarks.machine import cpu_model

    peak_file = Path(peak_file)
    if peak_file.is_file():
        stored = json.loads(peak_file.read_text())
        if stored["threads"] == threads and not stored["quick"] and stored["machine"]["cpu"] == cpu_model():
            return {"peak": stored["peak"], "source": f"{peak_file.name} ({stored['date']}, best of "
                    f"{len(stored['shapes']) // len(stored['peak'])} shapes)", "threads": threads, "quick": False,
                    "date": stored["date"]}
        log(f"{peak_file} is for another machine, thread count or a quick run: measuring the quick shapes")
    result = measure_peak(work / "gemm", threads, runs=10, quick=True, log=log)
    return {"peak": result["peak"], "source": f"measured in this run on gemm_peak's {len(result['shapes']) // 3} "
            "quick shapes only (run `python -m mobilebert_tf.benchmarks.gemm_peak` for the full grid): a low peak",
            "threads": threads, "quick": True, "date": result["date"]}


def nonzero_constants(model, seed: int = 0, std: float = 0.02):
    """Give a fresh model's constant-initialized variables (biases 0, norm scales 1) random values, as a
    trained model has: the converter folds away zero biases and unit scales, which would flatter sizes."""
    rng = np.random.default_rng(seed)
    for v in model.variables:
        x = v.numpy()
        if x.size and np.all(x == x.flat[0]):
            v.assign(x + rng.normal(0, std, x.shape).astype(x.dtype))
    return model


def export_all(tmp: Path, data_dir, quick: bool, reuse: bool = False) -> list[dict]:
    import tf_keras as keras

    from mobilebert_tf.export.exporter import export_tflite
    from mobilebert_tf import MobileBertConfig, MobileBertForQuestionAnswering, MobileBertForSequenceClassification
    from mobilebert_tf.flops import count_flops, count_params
    from mobilebert_tf.paths import bert_vocab
    from mobilebert_tf.tokenization import BertTokenizer

    tokenizer = BertTokenizer(str(bert_vocab(data_dir)))
    jobs = [(p, "classifier", 128) for p in PRESETS] + [("mobilebert", "qa", 384)]
    record = tmp / "exports.json"
    if reuse and record.is_file():
        rows = json.loads(record.read_text())
        if rows and all(Path(r["path"]).is_file() for r in rows) and all(r.get("quick") == quick for r in rows) \
                and {(r["preset"], r["task"], r["quantize"]) for r in rows} == \
                {(p, t, q) for p, t, _ in jobs for q in MODES}:
            print(f"reusing the {len(rows)} exports in {tmp}", flush=True)
            return rows
    rows = []
    for preset, task, seq in jobs:
        overrides = {"num_hidden_layers": 2} if quick else {}
        config = MobileBertConfig.from_preset(preset, **overrides)
        keras.utils.set_random_seed(0)
        model = nonzero_constants((MobileBertForSequenceClassification(config, num_labels=2) if task == "classifier"
                                   else MobileBertForQuestionAnswering(config)).build_with_dummy())
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
                         "gate_agreement": r.report["agreement"], "quick": quick})
            record.write_text(json.dumps(rows, indent=1) + "\n")
        del model
    return rows


def old_peak(stored: dict) -> dict:
    """The ``gemm_peak`` record of a latency.json written before benchmarks/gemm_peak.py (one shape)."""
    if "peak" in stored:
        return stored
    m, k, n = stored["shape_mkn"]
    return {"peak": {q: {"gops_per_s": v["gflops_per_s"], "m": m, "k": k, "n": n, "p50_ms": v["p50_ms"]}
                     for q, v in stored.items() if q != "shape_mkn"},
            "source": f"a single {m}x{k}x{n} FULLY_CONNECTED (measured before benchmarks/gemm_peak.py, not a "
                      "best-of-shapes peak)", "quick": True}


def machine_text(machine, threads: int) -> str:
    """The report's machine line: the descriptor's CPU, cores and derived load caveat (older reports
    recorded only a name)."""
    from mobilebert_tf.benchmarks.machine import load_caveat

    if isinstance(machine, str):
        return f"{machine} (load not recorded)"
    caveat = load_caveat(machine, own_threads=threads)
    return f"{machine['cpu']}, {machine['usable_cores']} usable cores; {caveat}"


def render(result: dict) -> str:
    """latency.md from a latency.json dict: every number and label comes from ``result``."""
    from mobilebert_tf.benchmarks.gemm_peak import PRECISIONS, fraction_label

    peak = old_peak(result["gemm_peak"])
    rows = result["models"]
    lines = [f"# Latency (LiteRT + XNNPACK, {result['threads']} threads, batch 1, p50 of {result['runs']} runs, all "
             f"measured side by side in one run{'; QUICK 2-layer smoke run' if result['quick'] else ''})", "",
             f"Host: {machine_text(result['machine'], result['threads'])}.", "",
             "| model | task | seq | precision | encoder params | GFLOPs | size MB | p50 ms | p90 ms | GFLOP/s | "
             "% of measured GEMM peak |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        fraction = r["gflops_per_s"] / peak["peak"][GEMM_MODE[r["quantize"]]]["gops_per_s"]
        lines.append(f"| {r['preset']} | {r['task']} | {r['seq_len']} | {r['quantize']} | {r['params']:,} | "
                     f"{r['gflops']:.2f} | {r['size_mb']:.1f} | {r['p50_ms']:.2f} | {r['p90_ms']:.2f} | "
                     f"{r['gflops_per_s']:.1f} | {fraction_label(fraction)} |")
    lines += ["", "GEMM peak through the same runtime, " + peak["source"] + ": " + ", ".join(
        f"{PRECISIONS[q]} {v['gops_per_s']:.1f} GOP/s ({v['m']}x{v['k']}x{v['n']})" for q, v in peak["peak"].items())
        + ". Each model is compared with the peak of its fully connected layers' precision (int8-mixed and "
        "int8 with full int8). \"Above peak\" means the model ran faster than the best GEMM measured, so that "
        "peak is not this machine's limit.", "", "Speed-ups (p50 ratios):", ""]
    for q, ratio in result["speedups"].items():
        lines.append(f"- {q}: BERT_BASE / MobileBERT {ratio['bert_base/mobilebert']:.2f}x (FLOP ratio "
                     f"{ratio['flop_ratio bert_base/mobilebert']:.2f}x), BERT_BASE / MobileBERT-Tiny "
                     f"{ratio['bert_base/mobilebert_tiny']:.2f}x")
    lines += ["", "Hand-written notes on what was tried on the exported graph (not generated): "
              "[latency_notes.md](latency_notes.md).", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    from mobilebert_tf.argtypes import positive_int
    from mobilebert_tf.benchmarks.host import measure_tflite
    from mobilebert_tf.benchmarks.inputs import real_inputs
    from mobilebert_tf.benchmarks.machine import finish, load_caveat, machine
    from mobilebert_tf.benchmarks.report import add_export_measure_flags, plot
    from mobilebert_tf.fileio import atomic_write_json, atomic_write_text

    p = argparse.ArgumentParser(description=__doc__)
    add_export_measure_flags(p, "runs/latency")
    p.add_argument("--runs", type=positive_int, default=30)
    p.add_argument("--quick", action="store_true", help="2-layer models (a smoke run, not a result)")
    p.add_argument("--gemm-peak", default=str(PEAK_FILE), help="the gemm_peak.json to compare with")
    p.add_argument("--render", metavar="LATENCY_JSON", help="only rewrite latency.md (in --out) from a latency.json")
    args = p.parse_args(argv)
    out, work = Path(args.out), Path(args.work)
    out.mkdir(parents=True, exist_ok=True)
    if args.render:
        atomic_write_text(out / "latency.md", render(json.loads(Path(args.render).read_text())))
        print(f"wrote {out / 'latency.md'}")
        return 0
    work.mkdir(parents=True, exist_ok=True)
    rows = export_all(work, args.data, args.quick, reuse=args.reuse)
    if args.export_only:
        return 0
    descriptor = machine()
    peak = gemm_peak_for(args.threads, work, args.gemm_peak)
    for row in rows:  # interleaved in one run: every model measured under the same conditions
        r = measure_tflite(row["path"], real_inputs(row["path"], 8, args.data), threads=args.threads,
                           runs=args.runs, warmup=5)
        row.update({k: r[k] for k in ("p50_ms", "p90_ms", "mean_ms", "std_ms", "size_mb", "init_ms", "peak_rss_mb")})
        row["gflops_per_s"] = row["gflops"] / (row["p50_ms"] / 1e3)
        row["fraction_of_gemm_peak"] = row["gflops_per_s"] / peak["peak"][GEMM_MODE[row["quantize"]]]["gops_per_s"]
        print(f"{Path(row['path']).name}: p50 {row['p50_ms']:.2f} ms", flush=True)
    finish(descriptor)
    descriptor["caveat"] = load_caveat(descriptor, own_threads=args.threads)
    by = {(r["preset"], r["task"], r["quantize"]): r for r in rows}
    ratios = {}
    for q in MODES:
        base, mb, tiny = (by[(p, "classifier", q)]["p50_ms"] for p in PRESETS)
        ratios[q] = {"bert_base/mobilebert": base / mb, "bert_base/mobilebert_tiny": base / tiny,
                     "flop_ratio bert_base/mobilebert": by[("bert_base", "classifier", q)]["gflops"]
                     / by[("mobilebert", "classifier", q)]["gflops"]}
    result = {"machine": descriptor, "threads": args.threads, "runs": args.runs, "quick": args.quick,
              "gemm_peak": peak, "models": rows, "speedups": ratios}
    atomic_write_json(out / "latency.json", result)
    text = render(result)
    atomic_write_text(out / "latency.md", text)
    plot([{"model": Path(r["path"]).stem, "threads": args.threads, "p50_ms": r["p50_ms"], "mean_ms": r["mean_ms"]}
          for r in rows], str(out / "latency.png"), f"p50 latency, {descriptor['cpu']}")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
