"""Latency of every configuration, all through ``mobilebert_tf.benchmarks.host.measure`` (one worker, one input
format): ``--rounds`` interleaved rounds, each measurement a fresh process, repeated while other
processes loaded the machine. The rounds run from a small orchestrator process
(``python -m mobilebert_tf.benchmarks.peers.measure PLAN OUT``: no TensorFlow, no models loaded), so nothing of the
exporting process leaks into the measured ones."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mobilebert_tf.benchmarks.host import light_command, measure
from mobilebert_tf.benchmarks.inputs import load_inputs, save_inputs
from mobilebert_tf.benchmarks.machine import ForeignLoad, package_versions

VERSIONED = ("tensorflow", "ai_edge_litert", "torch", "transformers", "onnx", "onnxruntime", "numpy")


def versions() -> dict:
    """Installed versions of the runtimes the peers benchmark compares."""
    return package_versions(VERSIONED)


@dataclass
class Config:
    """One measured configuration: a model file in one runtime at one thread count; ``rounds`` collects
    the result of each round."""

    model: str          # preset
    runtime: str        # "TFLite (ours)" | "ORT" | "ORT no-spin" | "torch eager"
    precision: str      # fp32 | dynamic-range int8 | int8, attention float | full int8 | dynamic int8
    kind: str           # tflite | ort | torch (mobilebert_tf.benchmarks.host_worker.KINDS)
    path: str
    hf_class: str = ""
    options: dict = field(default_factory=dict)
    size_mb: float | None = None
    threads: int = 2
    rounds: list = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.model}/{self.runtime}/{self.precision}/{self.threads}t"

    def worker_options(self) -> dict:
        return {**self.options, **({"hf_class": self.hf_class} if self.hf_class else {})}


def measure_all(configs: list[Config], inputs, runs: int, warmup: int, rounds: int, max_foreign: float = 0.5,
                retries: int = 2, log=print) -> None:
    """``rounds`` rounds over all configs (order rotated each round), each measurement a fresh
    ``mobilebert_tf.benchmarks.host_worker`` process. A measurement during which other processes used more than
    ``max_foreign`` cores is repeated (at most ``retries`` times; the attempt with the least foreign load
    is kept). Fills ``c.rounds``."""
    for r in range(rounds):
        shift = r % len(configs)
        for c in configs[shift:] + configs[:shift]:
            best = None
            for attempt in range(1 + retries):
                load = ForeignLoad()
                res = measure(c.kind, c.path, inputs, threads=c.threads, runs=runs, warmup=warmup,
                              options=c.worker_options())
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
    """``measure_all`` from a small orchestrator process (``mobilebert_tf.benchmarks.peers.measure`` through
    ``benchmarks.host.light_command``, no TensorFlow): the
    measured processes start from it, so nothing of this big one (RSS, threads) leaks into them.
    Fills ``c.rounds``."""
    npz, plan, out = workdir / "bench_inputs.npz", workdir / "plan.json", workdir / "measured.json"
    save_inputs(inputs, npz)
    # scratch files of this run (not results): plain writes keep the orchestrator free of TensorFlow
    plan.write_text(json.dumps({"configs": [{k: v for k, v in c.__dict__.items() if k != "rounds"} for c in configs],
                                "npz": str(npz), "runs": runs, "warmup": warmup, "rounds": rounds,
                                "max_foreign": max_foreign, "retries": retries}))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(light_command("mobilebert_tf.benchmarks.peers.measure", str(plan), str(out)), env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"measurement process failed (exit {proc.returncode}); see its output above")
    for c, rounds_ in zip(configs, json.loads(out.read_text())):
        c.rounds = rounds_


def summarize_config(c: Config) -> dict:
    """One latency row: medians over rounds of each round's p50 / p90, RSS and other processes' load."""
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


def main(plan_path: str, out_path: str) -> int:
    """The orchestrator: read the plan, measure every configuration, write the rounds to ``out_path``."""
    plan = json.loads(Path(plan_path).read_text())
    configs = [Config(**c) for c in plan["configs"]]

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    measure_all(configs, load_inputs(plan["npz"]), plan["runs"], plan["warmup"], plan["rounds"], plan["max_foreign"],
                plan["retries"], log=log)
    Path(out_path).write_text(json.dumps([c.rounds for c in configs]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
