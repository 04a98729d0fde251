"""What the runtime offers, tried on full-size MobileBERT (issue #15, item 4).

    python -m mobilebert_tf.benchmarks.runtime_options [--out benchmarks/results] [--work runs/runtime_options]
                                                       [--threads 2] [--rounds 3] [--runs 30] [--quick]
                                                       [--export-only | --reuse]

Exports the ``mobilebert`` classifier at seq 128 (random init with non-zero biases and norm parameters, like
the latency report) as float32, fp16 weights, dynamic-range int8 and int8-mixed, the two int8 ones with
per-tensor and with per-channel weight scales (``ExportOptions.per_channel``). Then, in ``--rounds``
interleaved rounds (order rotated each round, every measurement a fresh LiteRT process through
``benchmarks.host.measure``, real SST-2 inputs), each export runs under each LiteRT interpreter setting of
``OPTIONS``:

- ``default``: the interpreter as apps get it, XNNPACK as the default delegate;
- ``latest``: ``experimental_default_delegate_latest_features=True`` (XNNPACK with its newest operators
  and flags switched on);
- ``no-xnnpack``: ``OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES``, TFLite's own kernels.

Reports p50 per (export, setting), each setting's ratio to ``default`` on the same export, GOP/s and the
fraction of this machine's measured GEMM peak of the export's precision (``gemm_peak.json``, the latency
report's rule). Writes ``runtime_options.{json,md}``. ``--export-only`` / ``--reuse`` split the (single-core)
exports from the measurements, which want an idle machine. ``--quick``: a 2-layer model, 1 round, a few runs
(a smoke run, not a result).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from mobilebert_tf.benchmarks.host import measure
from mobilebert_tf.benchmarks.inputs import real_inputs
from mobilebert_tf.benchmarks.latency import GEMM_MODE, gemm_peak_for, nonzero_constants
from mobilebert_tf.benchmarks.machine import ForeignLoad, finish, load_caveat, machine
from mobilebert_tf.argtypes import positive_int
from mobilebert_tf.benchmarks.report import add_export_measure_flags, write_report
from mobilebert_tf.fileio import atomic_write_json

SEQ = 128
# (name, --quantize mode, per-channel weight scales)
EXPORTS = [("float", "none", False), ("fp16", "fp16", False), ("dynamic", "dynamic", False),
           ("dynamic per-channel", "dynamic", True), ("int8-mixed", "int8-mixed", False),
           ("int8-mixed per-channel", "int8-mixed", True)]
OPTIONS = {"default": {}, "latest": {"experimental_default_delegate_latest_features": True},
           "no-xnnpack": {"experimental_op_resolver_type": "BUILTIN_WITHOUT_DEFAULT_DELEGATES"}}


def export_models(work: Path, data_dir, quick: bool, reuse: bool) -> list[dict]:
    """The exports of ``EXPORTS`` in ``work`` (reused when ``reuse`` and recorded for the same mode).

    Returns:
        One dict per export: ``name``, ``quantize``, ``per_channel``, ``path``, ``gflops``, ``size_mb``,
        ``gate_agreement``.
    """
    import tf_keras as keras

    from mobilebert_tf import MobileBertConfig, MobileBertForSequenceClassification
    from mobilebert_tf.export.exporter import ExportOptions, export_tflite
    from mobilebert_tf.flops import count_flops
    from mobilebert_tf.paths import bert_vocab
    from mobilebert_tf.tokenization import BertTokenizer

    record = work / "exports.json"
    if reuse and record.is_file():
        rows = json.loads(record.read_text())
        if [r["name"] for r in rows] == [e[0] for e in EXPORTS] and all(r["quick"] == quick for r in rows) \
                and all(Path(r["path"]).is_file() for r in rows):
            print(f"reusing the {len(rows)} exports in {work}", flush=True)
            return rows
    config = MobileBertConfig.from_preset("mobilebert", **({"num_hidden_layers": 2} if quick else {}))
    keras.utils.set_random_seed(0)
    model = nonzero_constants(MobileBertForSequenceClassification(config, num_labels=2).build_with_dummy())
    vocab = str(bert_vocab(data_dir))
    base = ExportOptions(seq_len=SEQ, tokenizer=BertTokenizer(vocab), vocab_file=vocab, data_dir=data_dir,
                         gate_examples=8, calibration_examples=32, allow_accuracy_drop=True, progress=False)
    gflops = count_flops(config, SEQ).total() / 1e9
    rows = []
    for name, quantize, per_channel in EXPORTS:
        path = work / f"mobilebert_{name.replace(' ', '_')}.tflite"
        start = time.perf_counter()
        r = export_tflite(model, "classifier", path, base, quantize=quantize, per_channel=per_channel)
        print(f"exported {path.name} in {time.perf_counter() - start:.0f} s", flush=True)
        rows.append({"name": name, "quantize": quantize, "per_channel": per_channel, "path": str(path),
                     "gflops": gflops, "size_mb": r.size_bytes / 1e6,
                     "gate_agreement": r.report["agreement"], "quick": quick})
    atomic_write_json(record, rows, indent=1)
    return rows


def measure_all(rows: list[dict], inputs, threads: int, rounds: int, runs: int, log=print) -> list[dict]:
    """Every (export, setting), ``rounds`` interleaved rounds, the order rotated each round.

    Returns:
        One dict per (export, setting): ``export``, ``option``, ``round_p50_ms``, ``p50_ms`` (median over
        rounds), ``xnnpack`` (whether XNNPACK took part), ``foreign_cores`` (other processes' load).
    """
    configs = [{"export": r, "option": o, "round_p50_ms": [], "foreign_cores": [], "xnnpack": None}
               for r in rows for o in OPTIONS]
    for k in range(rounds):
        order = configs[k % len(configs):] + configs[:k % len(configs)]
        for c in order:
            load = ForeignLoad()
            res = measure("tflite", c["export"]["path"], inputs, threads=threads, runs=runs, warmup=5,
                          options={"interpreter": OPTIONS[c["option"]]})
            c["foreign_cores"].append(load.cores())
            c["round_p50_ms"].append(res["p50_ms"])
            c["xnnpack"] = res["xnnpack"]
            log(f"round {k + 1}/{rounds} {c['export']['name']:<24} {c['option']:<11} p50 {res['p50_ms']:8.2f} ms")
    out = []
    for c in configs:
        e = c["export"]
        p50 = float(np.median(c["round_p50_ms"]))
        out.append({"export": e["name"], "quantize": e["quantize"], "per_channel": e["per_channel"],
                    "option": c["option"], "p50_ms": p50, "round_p50_ms": c["round_p50_ms"],
                    "gops_per_s": e["gflops"] / (p50 / 1e3), "xnnpack": c["xnnpack"], "size_mb": e["size_mb"],
                    "gate_agreement": e["gate_agreement"], "foreign_cores": c["foreign_cores"]})
    return out


def markdown(result: dict) -> str:
    """runtime_options.md from the result dict: every figure comes from ``result``."""
    m = result["machine"]
    default = {r["export"]: r["p50_ms"] for r in result["rows"] if r["option"] == "default"}
    lines = [f"# LiteRT runtime options on MobileBERT (classifier, seq {SEQ})"
             f"{' (QUICK smoke run, not a result)' if result['quick'] else ''}", "",
             f"Host: {m['cpu']}, {m['usable_cores']} usable cores ({', '.join(m['isa'])}); {result['threads']} "
             f"threads, batch 1, p50 of {result['runs']} runs, median over {result['rounds']} interleaved rounds, "
             f"every measurement a fresh process. {m['caveat'].capitalize()}. Written by "
             f"`{result['command']}`.", "",
             f"GEMM peak: {result['gemm_peak']['source']}.", "",
             "| export | size MB | gate agreement | setting | XNNPACK | p50 ms | vs default | GOP/s | % of GEMM peak |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['export']} | {r['size_mb']:.1f} | {r['gate_agreement']:.1%} | {r['option']} | "
                     f"{'yes' if r['xnnpack'] else 'no'} | {r['p50_ms']:.2f} | "
                     f"{r['p50_ms'] / default[r['export']]:.2f}x | {r['gops_per_s']:.0f} | "
                     f"{r['fraction_of_gemm_peak']:.0%} |")
    best = min(result["rows"], key=lambda r: r["p50_ms"])
    lines += ["", f"Fastest: {best['export']} with `{best['option']}`, {best['p50_ms']:.2f} ms "
              f"({default['float'] / best['p50_ms']:.2f}x faster than float with the default setting).", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    """``python -m mobilebert_tf.benchmarks.runtime_options``: export, measure, write runtime_options.{json,md}."""
    p = argparse.ArgumentParser(prog="python -m mobilebert_tf.benchmarks.runtime_options",
                                description=__doc__.split("\n\n")[0])
    add_export_measure_flags(p, "runs/runtime_options")
    p.add_argument("--rounds", type=positive_int, default=3)
    p.add_argument("--runs", type=positive_int, default=30)
    p.add_argument("--quick", action="store_true", help="2-layer model, 1 round, 5 runs (a smoke run)")
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.runs = 1, min(args.runs, 5)
    out, work = Path(args.out), Path(args.work)
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    rows = export_models(work, args.data, args.quick, args.reuse)
    if args.export_only:
        return 0
    descriptor = machine()
    peak = gemm_peak_for(args.threads, work)
    measured = measure_all(rows, real_inputs(rows[0]["path"], 8, args.data), args.threads, args.rounds, args.runs)
    for r in measured:
        r["fraction_of_gemm_peak"] = r["gops_per_s"] / peak["peak"][GEMM_MODE.get(r["quantize"], "none")]["gops_per_s"]
    finish(descriptor)
    descriptor["caveat"] = load_caveat(descriptor, foreign_cores=[f for r in measured for f in r["foreign_cores"]],
                                       own_threads=args.threads)
    result = {"machine": descriptor, "threads": args.threads, "rounds": args.rounds, "runs": args.runs,
              "quick": args.quick, "gemm_peak": peak, "rows": measured, "date": time.strftime("%Y-%m-%d"),
              "command": " ".join(["python -m mobilebert_tf.benchmarks.runtime_options",
                                   *(sys.argv[1:] if argv is None else argv)])}
    write_report(out, "runtime_options", result, markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
