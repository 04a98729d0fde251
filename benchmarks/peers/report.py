"""peers.md and peers.json from a results dict: latency, ratios, agreement and profile tables, and the
machine line with a load caveat derived from the recorded load."""
from __future__ import annotations

import json
from pathlib import Path

from mobilebert_tf.benchmarks.machine import load_caveat


def foreign_cores(rows: list[dict]) -> list[float]:
    """Every measurement's load from other processes (cores), over all rows and rounds."""
    return [f for r in rows for f in r.get("round_foreign_cores", [r.get("foreign_cores")]) if f is not None]


def machine_line(results: dict) -> str:
    """The machine and what its recorded load says about the numbers (derived, never a fixed text; the
    derived caveat is also stored as ``results["machine"]["caveat"]``)."""
    m = results["machine"]
    cores = m.get("usable_cores") or m.get("cores")
    caveat = m["caveat"] = load_caveat(m, foreign_cores(results["latency"]), own_threads=results["settings"]["threads"])
    return f"Machine: {m['cpu']}, {cores} usable cores ({', '.join(m.get('isa', []))}). {caveat[0].upper()}{caveat[1:]}."


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
    """Write ``peers.json`` (the results as measured) and ``peers.md`` (tables from them, ``notes`` --
    a hand-written Markdown file -- appended under its own heading) to ``out_dir``."""
    from mobilebert_tf.fileio import atomic_write_text

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    js = out_dir / "peers.json"
    machine = machine_line(results)
    atomic_write_text(js, json.dumps(results, indent=2, default=str) + "\n")
    s = results["settings"]
    md = ["# Peers: HF transformers (torch, ONNX Runtime) vs our TFLite, same weights", "",
          machine, "",
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
        md += ["## Notes (hand-written, from `--notes`; not generated from the measurements above)", "", notes, ""]
    mdp = out_dir / "peers.md"
    atomic_write_text(mdp, "\n".join(md))
    return js, mdp

