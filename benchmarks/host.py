"""Host latency of .tflite models with the LiteRT interpreter (XNNPACK), one model per subprocess.

Each measurement runs in a fresh ``python -m benchmarks.host_worker`` so that peak RSS and init time
belong to that model alone. Inputs are real tokenized examples (``benchmarks.inputs``), not zeros.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import numpy as np


def summarize(latencies_ms) -> dict:
    """p50/p90/mean/std/min of per-run latencies (ms)."""
    a = np.asarray(latencies_ms, dtype=np.float64)
    if a.size == 0:
        raise ValueError("no latencies to summarize")
    return {"p50_ms": float(np.percentile(a, 50)), "p90_ms": float(np.percentile(a, 90)), "mean_ms": float(a.mean()),
            "std_ms": float(a.std()), "min_ms": float(a.min()), "runs": int(a.size)}


def measure_tflite(model_path: str, inputs: list[dict[str, np.ndarray]], threads: int = 2, runs: int = 50,
                   warmup: int = 5, timeout: float = 1800, keep_latencies: bool = False) -> dict:
    """Latency of ``model_path`` on ``inputs`` (a list of {tensor name -> int32 [1, seq]}; a dynamic-length
    model takes each at its own length), cycled in order.

    Returns ``summarize(...)`` plus ``init_ms``, ``first_inference_ms``, ``peak_rss_mb``, ``size_mb``,
    ``threads``, ``xnnpack``; with ``keep_latencies`` also ``latencies_ms`` (run i fed ``inputs[i % len]``).
    """
    if not os.path.isfile(model_path):
        raise FileNotFoundError(f"model not found: {model_path}")
    with tempfile.TemporaryDirectory(prefix="mobilebert-bench-") as tmp:
        npz = os.path.join(tmp, "inputs.npz")
        np.savez(npz, **{f"{i}__{k}": v for i, row in enumerate(inputs) for k, v in row.items()})
        # absolute: the worker runs in the repository root, where a relative path names another file (or none)
        cmd = [sys.executable, "-m", "benchmarks.host_worker", os.path.abspath(model_path), npz, str(threads),
               str(runs), str(warmup)]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                              cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark of {model_path} failed:\n{proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    latencies = result.pop("latencies_ms")
    result.update(summarize(latencies))
    if keep_latencies:
        result["latencies_ms"] = latencies
    result["size_mb"] = os.path.getsize(model_path) / 1e6
    return result
