"""The command line of ``python -m mobilebert_tf.benchmarks.peers`` (see the package docstring and
docs/benchmarks_peers.md)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from mobilebert_tf.benchmarks.peers.build import PRESETS
from mobilebert_tf.benchmarks.peers.pipeline import run
from mobilebert_tf.benchmarks.peers.report import format_ratios, format_table, write_results

DESCRIPTION = ("Peers: HF transformers' MobileBERT and BERT_BASE (torch eager, ONNX Runtime fp32 / int8) against "
               "our TFLite exports of the same weights, on the same real inputs.")


def main(argv=None) -> int:
    """``python -m mobilebert_tf.benchmarks.peers``: parse the flags, run (or ``--render``), write peers.{json,md}."""
    p = argparse.ArgumentParser(prog="python -m mobilebert_tf.benchmarks.peers", description=DESCRIPTION)
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
