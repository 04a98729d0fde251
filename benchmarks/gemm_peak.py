"""This machine's GEMM peak through the runtime the latency report uses, best of many shapes.

    python -m mobilebert_tf.benchmarks.gemm_peak [--threads 2] [--runs 20] [--out benchmarks/results] [--quick]

Each shape is one [M, K] x [K, N] FULLY_CONNECTED built with the TF converter in three precisions
(float32; dynamic-range int8: int8 weights, activations quantized at run time; full int8: int8 weights,
activations, input and output, so the model is the lone op) and timed in the LiteRT interpreter with
XNNPACK at ``--threads`` through ``mobilebert_tf.benchmarks.host.measure_tflite`` (the latency report's harness).
GOP/s = 2 M K N / p50. The grid crosses M (128, 384, 512 tokens) with K x N pairs from 128 to 4096,
among them the models' own (MobileBERT 128x512, 512x128, 512x512; BERT_BASE 768x768, 768x3072,
3072x768). The peak per precision is the best shape's rate: a model's "% of peak" in latency.md is
measured against it. Writes ``gemm_peak.json`` and ``gemm_peak.md``. ``--quick``: two small shapes,
few runs (a smoke test, not a peak).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

PRECISIONS = {"none": "float32", "dynamic": "dynamic-range int8", "int8": "full int8"}
M_VALUES = (128, 384, 512)
KN = ((128, 128), (128, 512), (512, 128), (512, 512), (768, 768), (768, 3072), (3072, 768), (1024, 1024),
      (1024, 4096), (4096, 1024), (2048, 2048), (4096, 4096))
SHAPES = tuple((m, k, n) for m in M_VALUES for k, n in KN)
QUICK_SHAPES = ((128, 128, 512), (128, 512, 128))


def gemm_model(quantize: str, m: int, k: int, n: int) -> bytes:
    """One [m, k] x [k, n] FULLY_CONNECTED as a .tflite with a ``serving_default`` signature (input ``x``).

    Args:
        quantize: ``"none"`` (float32), ``"dynamic"`` (dynamic-range int8) or ``"int8"`` (full int8, int8
            input and output).
        m, k, n: the GEMM's rows, depth and columns.

    Returns:
        The model's bytes.

    Example:
    >>> data = gemm_model("int8", 128, 512, 128)  # doctest: +SKIP
    """
    import tensorflow as tf

    if quantize not in PRECISIONS:
        raise ValueError(f"quantize must be one of {tuple(PRECISIONS)}, got {quantize!r}")
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
            for _ in range(4):
                yield {"x": rng.normal(size=(m, k)).astype(np.float32)}
        converter.representative_dataset = rep
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter.convert()


def gemm_input(quantize: str, m: int, k: int) -> dict[str, np.ndarray]:
    """A random input for ``gemm_model`` (int8 for full int8, float32 otherwise)."""
    rng = np.random.default_rng(1)
    if quantize == "int8":
        return {"x": rng.integers(-128, 128, size=(m, k), dtype=np.int8)}
    return {"x": rng.normal(size=(m, k)).astype(np.float32)}


def measure_shapes(work: Path, shapes, threads: int, runs: int, warmup: int = 5, precisions=tuple(PRECISIONS),
                   log=print) -> list[dict]:
    """Build and time every (shape, precision); one row each with ``gops_per_s`` = 2 M K N / p50."""
    from mobilebert_tf.benchmarks.host import measure_tflite

    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for m, k, n in shapes:
        for quantize in precisions:
            path = work / f"gemm_{m}x{k}x{n}_{quantize}.tflite"
            start = time.perf_counter()
            path.write_bytes(gemm_model(quantize, m, k, n))  # scratch model, not a result
            convert_s = time.perf_counter() - start
            r = measure_tflite(str(path), [gemm_input(quantize, m, k)], threads=threads, runs=runs, warmup=warmup)
            row = {"m": m, "k": k, "n": n, "precision": quantize, "p50_ms": r["p50_ms"], "min_ms": r["min_ms"],
                   "gops_per_s": 2 * m * k * n / (r["p50_ms"] * 1e6), "xnnpack": r["xnnpack"],
                   "size_mb": r["size_mb"], "convert_s": convert_s}
            rows.append(row)
            log(f"{m}x{k}x{n} {PRECISIONS[quantize]:<19} p50 {r['p50_ms']:8.3f} ms  {row['gops_per_s']:7.1f} GOP/s"
                f"{'' if r['xnnpack'] else '  (not on XNNPACK)'}")
    return rows


def best_per_precision(rows: list[dict]) -> dict:
    """The fastest shape (GOP/s at p50) of each precision: ``{precision: {gops_per_s, m, k, n, p50_ms}}``."""
    peak = {}
    for r in rows:
        if r["precision"] not in peak or r["gops_per_s"] > peak[r["precision"]]["gops_per_s"]:
            peak[r["precision"]] = {key: r[key] for key in ("gops_per_s", "m", "k", "n", "p50_ms")}
    return peak


def fraction_label(fraction: float) -> str:
    """A model's rate relative to the measured peak, as a label that never reads above 100%: past the
    peak it says so (the peak is the best of the shapes measured, not a hardware bound).

    Example:
    >>> fraction_label(0.734), fraction_label(1.86)
    ('73%', 'above peak (1.86x)')
    """
    if fraction > 1.0:
        return f"above peak ({fraction:.2f}x)"
    return f"{100 * fraction:.0f}%"


def measure_peak(work: Path, threads: int, runs: int = 20, quick: bool = False, log=print) -> dict:
    """The whole measurement: machine, every shape, the best per precision (the ``gemm_peak.json`` dict)."""
    from mobilebert_tf.benchmarks.machine import finish, load_caveat, machine, package_versions

    start = time.perf_counter()
    descriptor = machine()
    rows = measure_shapes(work, QUICK_SHAPES if quick else SHAPES, threads, runs, warmup=2 if quick else 5, log=log)
    finish(descriptor)
    descriptor["caveat"] = load_caveat(descriptor, own_threads=threads)
    return {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": descriptor, "threads": threads, "runs": runs,
            "quick": quick, "versions": package_versions(["ai_edge_litert", "tensorflow"]),
            "precisions": PRECISIONS, "shapes": rows, "peak": best_per_precision(rows),
            "wall_s": time.perf_counter() - start}


def render(result: dict) -> str:
    """gemm_peak.md from a ``measure_peak`` result."""
    m = result["machine"]
    lines = [f"# GEMM peak through LiteRT + XNNPACK ({result['date']}, {result['threads']} threads"
             f"{'; QUICK: two shapes, a smoke run, not a peak' if result['quick'] else ''})", "",
             f"Machine: {m['cpu']}, {m['usable_cores']} usable cores ({', '.join(m['isa'])}), TensorFlow "
             f"{result['versions']['tensorflow']} (converter), ai-edge-litert {result['versions']['ai_edge_litert']}. "
             f"{m['caveat'][0].upper()}{m['caveat'][1:]}.", "",
             f"One FULLY_CONNECTED [M, K] x [K, N] per model, p50 of {result['runs']} runs, GOP/s = 2 M K N / p50. "
             "Written by `python -m mobilebert_tf.benchmarks.gemm_peak`.", "",
             "## Best of shapes (the peak latency.md's \"% of peak\" uses)", "",
             "| precision | GOP/s | shape M x K x N | p50 ms |", "|---|---|---|---|"]
    for q, p in result["peak"].items():
        lines.append(f"| {PRECISIONS[q]} | {p['gops_per_s']:.1f} | {p['m']} x {p['k']} x {p['n']} | {p['p50_ms']:.3f} |")
    by_shape: dict = {}
    for r in result["shapes"]:
        by_shape.setdefault((r["m"], r["k"], r["n"]), {})[r["precision"]] = r
    lines += ["", "## Every shape (GOP/s; * = not on XNNPACK)", "",
              "| M x K x N | " + " | ".join(PRECISIONS[q] for q in result["peak"]) + " |",
              "|---|" + "---|" * len(result["peak"])]
    for (mm, k, n), cells in by_shape.items():
        lines.append(f"| {mm} x {k} x {n} | " + " | ".join(
            f"{cells[q]['gops_per_s']:.1f}{'' if cells[q]['xnnpack'] else '*'}" if q in cells else "-"
            for q in result["peak"]) + " |")
    lines += ["", f"Wall time {result['wall_s'] / 60:.1f} min.", ""]
    return "\n".join(lines)


def write(result: dict, out: Path) -> tuple[Path, Path]:
    """``gemm_peak.json`` and ``gemm_peak.md`` in ``out``."""
    from mobilebert_tf.fileio import atomic_write_json, atomic_write_text

    out.mkdir(parents=True, exist_ok=True)
    js, md = out / "gemm_peak.json", out / "gemm_peak.md"
    atomic_write_json(js, result)
    atomic_write_text(md, render(result))
    return js, md


def main(argv=None) -> int:
    """``python -m mobilebert_tf.benchmarks.gemm_peak``: measure and write gemm_peak.{json,md}."""
    import tempfile

    p = argparse.ArgumentParser(prog="python -m mobilebert_tf.benchmarks.gemm_peak", description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2, help="as in the latency report (default: %(default)s)")
    p.add_argument("--runs", type=int, default=None, help="timed runs per shape and precision (20; --quick 3)")
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("--work", default=None, help="where the one-op models go (default: a temporary folder)")
    p.add_argument("--quick", action="store_true", help="two small shapes, few runs: a smoke run, not a peak")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mobilebert-gemm-") as tmp:
        work = Path(a.work or tmp)
        runs = a.runs if a.runs is not None else (3 if a.quick else 20)
        result = measure_peak(work, a.threads, runs, quick=a.quick)
    js, md = write(result, Path(a.out))
    print("peak: " + ", ".join(f"{PRECISIONS[q]} {v['gops_per_s']:.1f} GOP/s ({v['m']}x{v['k']}x{v['n']})"
                                for q, v in result["peak"].items()))
    print(f"wrote {js} and {md}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
