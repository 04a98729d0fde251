"""Latency on real inputs: fixed-128 exports against ``--seq-len dynamic`` ones.

    python -m mobilebert_tf.benchmarks.real_length [--out benchmarks/results] [--work runs/real_length] [--threads 2]
                                     [--rounds 2] [--examples 872] [--length-runs 20] [--quick]
                                     [--presets ...] [--modes ...] [--export-only | --reuse]

Exports ``mobilebert``, ``mobilebert_tiny`` and ``bert_base`` (random init with non-zero biases and norm
parameters, classifier head) in float / dynamic-range / int8-mixed, each at a fixed 128 tokens and with
``--seq-len dynamic``. Then, in one run of ``--rounds`` interleaved rounds (the order rotated each round),
every measurement a fresh LiteRT + XNNPACK process (``mobilebert_tf.benchmarks.host.measure_tflite``):

1. **real lengths**: each model over the first ``--examples`` SST-2 dev sentences in order, one timed run
   per sentence (fixed: padded to 128; dynamic: resized to the sentence's own length, the resize included)
   -> mean / p50 / p90 over the real length distribution, and the dynamic / fixed ratio of the means;
2. **latency vs length**: each dynamic export at ``LENGTHS`` tokens (real SST-2 text packed to exactly L
   tokens), ``--length-runs`` runs each -> the curve, where it flattens, and the weights' read rate at
   its short end.

The machine, its load average and the CPU time other processes took during each measurement are
recorded (``mobilebert_tf.benchmarks.machine``: ``machine``, ``ForeignLoad``, ``load_caveat``). Writes
``real_length.{json,md,png}``. ``--quick``: 1-layer
models, 3 lengths, a few runs (a smoke run, not a result).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from mobilebert_tf.benchmarks.machine import ForeignLoad, finish, load_averages, load_caveat, machine, package_versions
from mobilebert_tf.fileio import atomic_write_json, atomic_write_text

PRESETS = ("mobilebert", "mobilebert_tiny", "bert_base")
MODES = ("none", "dynamic", "int8-mixed")
VERSIONED = ("tensorflow", "ai_edge_litert", "numpy")
PRECISION = {"none": "float", "dynamic": "dynamic-range int8", "int8-mixed": "int8 (attention float)"}
FIXED = 128
LENGTHS = (16, 32, 64, 128, 256, 384, 511)  # 511: a 512-position table less the dynamic export's pad slot
QUICK_LENGTHS = (16, 64, 128)
TARGET_RATIO = 0.5  # issue 15: mean real-length latency <= 0.5x the fixed-128 export
FLAT = 1.25  # "flat" while within 25% of the shortest length's latency


def export_models(work: Path, data_dir, presets, modes, quick: bool, reuse: bool, log=print) -> list[dict]:
    """Every (preset, mode) at FIXED and dynamic; a record in ``work/exports.json`` lets ``--reuse`` skip this."""
    import tf_keras as keras

    from mobilebert_tf.benchmarks.latency import nonzero_constants
    from mobilebert_tf.export.exporter import DYNAMIC, export_tflite
    from mobilebert_tf import MobileBertConfig, MobileBertForSequenceClassification
    from mobilebert_tf.paths import bert_vocab
    from mobilebert_tf.tokenization import BertTokenizer

    record = work / "exports.json"
    wanted = {(p, m, s) for p in presets for m in modes for s in (FIXED, DYNAMIC)}
    if reuse and record.is_file():
        rows = json.loads(record.read_text())
        if {(r["preset"], r["quantize"], r["seq_len"]) for r in rows} == wanted and \
                all(Path(r["path"]).is_file() and r["quick"] == quick for r in rows):
            log(f"reusing the {len(rows)} exports in {work}")
            return rows
    vocab = str(bert_vocab(data_dir))
    tokenizer = BertTokenizer(vocab)
    rows = []
    for preset in presets:
        config = MobileBertConfig.from_preset(preset, **({"num_hidden_layers": 1} if quick else {}))
        keras.utils.set_random_seed(0)
        model = nonzero_constants(MobileBertForSequenceClassification(config, num_labels=2).build_with_dummy())
        for mode in modes:
            for seq in (FIXED, DYNAMIC):
                path = work / f"{preset}_{mode}_{seq}.tflite"
                start = time.perf_counter()
                r = export_tflite(model, "classifier", path, seq_len=seq, quantize=mode, tokenizer=tokenizer,
                                  vocab_file=vocab, data_dir=data_dir, gate_examples=8, calibration_examples=32,
                                  allow_accuracy_drop=True, progress=False)
                log(f"exported {path.name} in {time.perf_counter() - start:.0f} s")
                rows.append({"preset": preset, "quantize": mode, "seq_len": seq, "path": str(path),
                             "size_mb": r.size_bytes / 1e6, "max_seq_len": r.report["max_seq_len"],
                             "gate_agreement": r.report["agreement"], "quick": quick,
                             "layers": config.num_hidden_layers})
                atomic_write_json(record, rows, indent=1, ensure_ascii=True)
        del model
    return rows


def sst2_feeds(data_dir, n: int, dynamic: bool) -> list[dict[str, np.ndarray]]:
    """The first ``n`` SST-2 dev sentences as model feeds: padded to FIXED, or each at its own length."""
    from mobilebert_tf.export.serving import signature_feed
    from mobilebert_tf.export.task_data import sst2_inputs
    from mobilebert_tf.paths import bert_vocab
    from mobilebert_tf.tokenization import BertTokenizer

    packed = sst2_inputs(BertTokenizer(str(bert_vocab(data_dir))), data_dir, "dev", n, FIXED + 1)
    packed.check_fits(FIXED)  # every sentence fits the fixed export, so both see the same tokens
    rows = [packed.own_length(i) if dynamic else packed.batch(i) for i in range(len(packed))]
    if not dynamic:
        rows = [{k: v[:, :FIXED] for k, v in r.items()} for r in rows]
    return [signature_feed(r) for r in rows]


def length_feeds(data_dir, length: int, k: int = 4) -> list[dict[str, np.ndarray]]:
    """``k`` feeds of exactly ``length`` tokens: [CLS] + consecutive SST-2 dev tokens + [SEP], no padding."""
    from mobilebert_tf.data.glue import read_glue
    from mobilebert_tf.paths import bert_vocab
    from mobilebert_tf.tokenization import BertTokenizer

    tokenizer = BertTokenizer(str(bert_vocab(data_dir)))
    examples = read_glue("sst-2", Path(data_dir) / "glue" / "SST-2" / "dev.tsv", "dev")
    stream = [t for ids in tokenizer.encode([e.text_a for e in examples]) for t in ids]
    body = length - 2
    if len(stream) < k * body:
        raise ValueError(f"SST-2 dev has {len(stream)} tokens, fewer than {k} x {body}")
    feeds = []
    for i in range(k):
        p = tokenizer.pack_single(stream[i * body:(i + 1) * body], length)
        feeds.append({"ids": p["input_ids"][None], "mask": p["input_mask"][None],
                      "segment_ids": p["segment_ids"][None]})
    return feeds


def stats(latencies) -> dict:
    a = np.asarray(latencies, dtype=np.float64)
    return {"mean_ms": float(a.mean()), "p50_ms": float(np.percentile(a, 50)), "p90_ms": float(np.percentile(a, 90)),
            "runs": int(a.size)}


def flattening(curve: dict[int, float]) -> dict:
    """Where latency vs length stops falling: the longest measured length still within FLAT x the shortest's."""
    lengths = sorted(curve)
    short = curve[lengths[0]]
    flat_to = max(L for L in lengths if curve[L] <= FLAT * short)
    return {"shortest": lengths[0], "flat_to": flat_to,
            "ratio_short_to_128": short / curve[128] if 128 in curve else None}


def measure(configs: list[dict], rounds: int, threads: int, warmup: int, max_foreign: float, log=print) -> None:
    """Interleaved: ``rounds`` rounds over all configs, order rotated each round; each config's per-run
    latencies pooled over rounds. A measurement while other processes used more than ``max_foreign`` cores
    is repeated once (the quieter attempt kept)."""
    from mobilebert_tf.benchmarks.host import measure_tflite

    for c in configs:
        c.update(latencies_ms=[], foreign_cores=[], init_ms=[])
    for r in range(rounds):
        shift = (r * max(1, len(configs) // rounds)) % len(configs)
        for c in configs[shift:] + configs[:shift]:
            best = None
            for _ in range(2):
                load = ForeignLoad()
                res = measure_tflite(c["path"], c["feeds"], threads=threads, runs=c["runs"], warmup=warmup,
                                     keep_latencies=True)
                res["foreign_cores"] = load.cores()
                if best is None or (res["foreign_cores"] or 0) < (best["foreign_cores"] or 0):
                    best = res
                if res["foreign_cores"] is None or res["foreign_cores"] <= max_foreign:
                    break
            c["latencies_ms"] += best["latencies_ms"]
            c["foreign_cores"].append(best["foreign_cores"])
            c["init_ms"].append(best["init_ms"])
            fc = best["foreign_cores"]
            log(f"  round {r + 1}/{rounds} {c['name']:<52} mean {np.mean(best['latencies_ms']):8.2f} ms"
                f"  other jobs {'?' if fc is None else f'{fc:.2f}'} cores")


def build_configs(exports: list[dict], data_dir, examples: int, lengths, length_runs: int) -> list[dict]:
    fixed_feeds, dyn_feeds = sst2_feeds(data_dir, examples, False), sst2_feeds(data_dir, examples, True)
    by_length = {L: length_feeds(data_dir, L) for L in lengths}
    configs = []
    for e in exports:
        dynamic = e["seq_len"] != FIXED
        configs.append({"kind": "real", "name": f"{e['preset']}/{e['quantize']}/{'dynamic' if dynamic else FIXED}",
                        "export": e, "path": e["path"], "feeds": dyn_feeds if dynamic else fixed_feeds,
                        "runs": len(fixed_feeds)})
        if dynamic:
            for L in lengths:
                if L > e["max_seq_len"]:
                    continue
                configs.append({"kind": "length", "name": f"{e['preset']}/{e['quantize']}/dynamic@{L}", "export": e,
                                "path": e["path"], "feeds": by_length[L], "length": L, "runs": length_runs})
    return configs


def summarize_results(configs, lengths_of_feeds, descriptor, args, presets, modes) -> dict:
    from mobilebert_tf import MobileBertConfig
    from mobilebert_tf.flops import count_flops

    real, curves = {}, {}
    for c in configs:
        e = c["export"]
        key = f"{e['preset']}/{e['quantize']}"
        load = [f for f in c["foreign_cores"] if f is not None]
        if c["kind"] == "real":
            side = "dynamic" if e["seq_len"] != FIXED else "fixed"
            real.setdefault(key, {"preset": e["preset"], "quantize": e["quantize"]})[side] = {
                **stats(c["latencies_ms"]), "size_mb": e["size_mb"], "foreign_cores_max": max(load, default=None)}
        else:
            config = MobileBertConfig.from_preset(e["preset"], num_hidden_layers=e["layers"])
            # a dynamic export runs length + 1 positions (the appended pad)
            gflops = count_flops(config, c["length"] + 1).total() / 1e9
            s = stats(c["latencies_ms"])
            curves.setdefault(key, {"preset": e["preset"], "quantize": e["quantize"], "size_mb": e["size_mb"],
                                    "layers": e["layers"], "points": {}})["points"][c["length"]] = {
                **s, "gflops": gflops, "gflops_per_s": gflops / (s["p50_ms"] / 1e3),
                "foreign_cores_max": max(load, default=None)}
    for r in real.values():
        if "fixed" in r and "dynamic" in r:
            r["ratio_mean"] = r["dynamic"]["mean_ms"] / r["fixed"]["mean_ms"]
            r["ratio_p50"] = r["dynamic"]["p50_ms"] / r["fixed"]["p50_ms"]
            r["target"] = "PASS" if r["ratio_mean"] <= TARGET_RATIO else "MISS"
    for cur in curves.values():
        p50 = {int(L): p["p50_ms"] for L, p in cur["points"].items()}
        cur["flattening"] = flattening(p50)
        shortest = min(p50)
        # every dense weight is read once per inference whatever the length (the word table is only gathered
        # from): at the short end, their bytes over the time is the rate they were read at
        config = MobileBertConfig.from_preset(cur["preset"], num_hidden_layers=cur["layers"])
        weights = count_flops(config, 1).dense() // 2
        cur["dense_weight_mb"] = weights * (4 if cur["quantize"] == "none" else 1) / 1e6
        cur["weights_gb_per_s_at_shortest"] = cur["dense_weight_mb"] / 1e3 / (p50[shortest] / 1e3)
    lengths = np.asarray(lengths_of_feeds)
    return {"machine": descriptor, "threads": args.threads, "rounds": args.rounds, "quick": args.quick,
            "fixed_seq_len": FIXED, "presets": list(presets), "modes": list(modes),
            "sst2_dev": {"examples": int(lengths.size), "tokens_mean": float(lengths.mean()),
                         "tokens_p50": float(np.percentile(lengths, 50)),
                         "tokens_p90": float(np.percentile(lengths, 90)), "tokens_max": int(lengths.max())},
            "target": f"mean real-length latency <= {TARGET_RATIO}x the fixed-{FIXED} export",
            "real_length": list(real.values()), "latency_vs_length": list(curves.values())}


def markdown(result: dict) -> str:
    m, d = result["machine"], result["sst2_dev"]
    start, end = load_averages(m)
    lines = [f"# Latency on real inputs: fixed-{FIXED} vs `--seq-len dynamic`"
             f"{' (QUICK 1-layer smoke run, not a result)' if result['quick'] else ''}", "",
             f"Host: {m['cpu']}, {m['usable_cores']} usable cores ({', '.join(m['isa'])}); LiteRT + XNNPACK, "
             f"{result['threads']} threads, batch 1; {result['rounds']} interleaved rounds, every measurement a fresh "
             f"process. Load average {start} at start, {end} at end. "
             f"{m['caveat'].capitalize()}.", "",
             f"Inputs: the first {d['examples']} SST-2 dev sentences in order, one timed run each per round: "
             f"{d['tokens_mean']:.1f} tokens on average (p50 {d['tokens_p50']:.0f}, p90 {d['tokens_p90']:.0f}, "
             f"max {d['tokens_max']}). Fixed: padded to {FIXED}. Dynamic: resized to each sentence's length "
             f"(the resize is in the timing). Random weights with non-zero biases and norms.", "",
             f"## Real-length latency (target: {result['target']})", "",
             "| model | precision | fixed mean ms | fixed p50 | fixed p90 | dynamic mean ms | dynamic p50 "
             "| dynamic p90 | dynamic / fixed (mean) | target | other jobs, cores (max) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["real_length"]:
        f, dy = r.get("fixed"), r.get("dynamic")
        if not (f and dy):
            continue
        load = max((x for x in (f["foreign_cores_max"], dy["foreign_cores_max"]) if x is not None), default=None)
        lines.append(f"| {r['preset']} | {PRECISION[r['quantize']]} | {f['mean_ms']:.2f} | {f['p50_ms']:.2f} | "
                     f"{f['p90_ms']:.2f} | {dy['mean_ms']:.2f} | {dy['p50_ms']:.2f} | {dy['p90_ms']:.2f} | "
                     f"{r['ratio_mean']:.2f}x | {r['target']} | {'?' if load is None else f'{load:.2f}'} |")
    curves = result["latency_vs_length"]
    if curves:
        lengths = sorted({int(L) for c in curves for L in c["points"]})
        lines += ["", "## Latency vs sequence length (dynamic exports, p50 ms)", "",
                  "| model | precision | " + " | ".join(str(L) for L in lengths) + " | flat up to | weights read at "
                  f"{lengths[0]} tokens |", "|---|---|" + "---|" * (len(lengths) + 2)]
        for c in curves:
            pts = {int(L): p for L, p in c["points"].items()}
            cells = " | ".join(f"{pts[L]['p50_ms']:.2f}" if L in pts else "-" for L in lengths)
            lines.append(f"| {c['preset']} | {PRECISION[c['quantize']]} | {cells} | {c['flattening']['flat_to']} | "
                         f"{c['weights_gb_per_s_at_shortest']:.1f} GB/s |")
        lines += ["", f"*Flat up to*: the longest length whose p50 is within {FLAT}x the {lengths[0]}-token p50. "
                  "Below it the time no longer follows the token count: every weight is read once per inference "
                  "whatever the length, and at a few tokens per weight the matrix products are bound by reading "
                  "the weights (the last column: the dense weights' bytes, int8 or float32, over the p50 at the "
                  "shortest length; the word table is only gathered from), plus the fixed cost of "
                  "the ~100s of small ops each layer runs. Above it the work grows with the tokens (and the "
                  "attention with their square)."]
    return "\n".join(lines) + "\n"


def plot(result: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    presets = result["presets"]
    fig, axes = plt.subplots(1, len(presets) + 1, figsize=(4.2 * (len(presets) + 1), 3.8))
    colors = {"none": "#3b7dd8", "dynamic": "#e07b39", "int8-mixed": "#3a9a5b"}
    fixed = {(r["preset"], r["quantize"]): r.get("fixed") for r in result["real_length"]}
    for ax, preset in zip(axes, presets):
        for c in result["latency_vs_length"]:
            if c["preset"] != preset:
                continue
            pts = sorted((int(L), p["p50_ms"]) for L, p in c["points"].items())
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", color=colors[c["quantize"]],
                    label=f"{PRECISION[c['quantize']]} dynamic")
            f = fixed.get((preset, c["quantize"]))
            if f:
                ax.axhline(f["p50_ms"], color=colors[c["quantize"]], ls="--", lw=0.8)
        ax.axvline(result["sst2_dev"]["tokens_mean"], color="grey", ls=":", lw=0.8)
        ax.set_xscale("log", base=2)
        ticks = sorted({int(L) for c in result["latency_vs_length"] for L in c["points"]})
        ax.set_xticks(ticks, [str(t) for t in ticks], fontsize=7)
        ax.minorticks_off()
        ax.set_yscale("log")
        ax.set_xlabel("tokens (dotted: SST-2 dev mean; dashed: fixed-128 p50)", fontsize=7)
        ax.set_ylabel("p50 latency (ms)")
        ax.set_title(preset, fontsize=9)
        ax.legend(fontsize=6)
    ax = axes[-1]
    rows = [r for r in result["real_length"] if r.get("fixed") and r.get("dynamic")]
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [r["fixed"]["mean_ms"] for r in rows], 0.4, label=f"fixed {FIXED}", color="#999999")
    ax.bar(x + 0.2, [r["dynamic"]["mean_ms"] for r in rows], 0.4, label="dynamic", color="#3b7dd8")
    ax.set_xticks(x, [f"{r['preset']}\n{r['quantize']}" for r in rows], rotation=60, ha="right", fontsize=6)
    ax.set_yscale("log")
    ax.set_ylabel("mean latency over SST-2 dev (ms)")
    ax.set_title("real-length mean", fontsize=9)
    ax.legend(fontsize=6)
    fig.suptitle(f"{result['machine']['cpu']}, {result['threads']} threads, LiteRT + XNNPACK"
                 f"{' (QUICK smoke run)' if result['quick'] else ''}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    from mobilebert_tf.argtypes import positive_int
    from mobilebert_tf.benchmarks.report import add_export_measure_flags

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_export_measure_flags(p, "runs/real_length")
    p.add_argument("--rounds", type=positive_int, default=2)
    p.add_argument("--examples", type=positive_int, default=872, help="SST-2 dev sentences (default: all 872)")
    p.add_argument("--length-runs", type=positive_int, default=20, help="timed runs per point of the length curve")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--max-other-load", type=float, default=0.5,
                   help="repeat a measurement once when other processes used more cores than this")
    p.add_argument("--presets", nargs="+", choices=PRESETS, default=list(PRESETS))
    p.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    p.add_argument("--quick", action="store_true", help="1-layer models, 3 lengths, few runs (a smoke run)")
    args = p.parse_args(argv)
    if args.quick:
        args.examples, args.length_runs, args.rounds = min(args.examples, 8), min(args.length_runs, 3), 1
    out, work = Path(args.out), Path(args.work)
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    exports = export_models(work, args.data, args.presets, args.modes, args.quick, args.reuse)
    if args.export_only:
        return 0
    descriptor = machine()
    lengths = QUICK_LENGTHS if args.quick else LENGTHS
    configs = build_configs(exports, args.data, args.examples, lengths, args.length_runs)
    print(f"{len(configs)} measurements x {args.rounds} rounds, interleaved", flush=True)
    measure(configs, args.rounds, args.threads, args.warmup, args.max_other_load)
    finish(descriptor)
    descriptor["caveat"] = load_caveat(descriptor, foreign_cores=[f for c in configs for f in c["foreign_cores"]],
                                       own_threads=args.threads)
    real_lengths = [f["ids"].shape[1] for f in sst2_feeds(args.data, args.examples, True)]
    result = summarize_results(configs, real_lengths, descriptor, args, args.presets, args.modes)
    result["versions"] = package_versions(VERSIONED)
    atomic_write_json(out / "real_length.json", result, indent=2, ensure_ascii=True)
    text = markdown(result)
    atomic_write_text(out / "real_length.md", text)
    plot(result, str(out / "real_length.png"))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
