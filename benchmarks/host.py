"""Host latency, one model per subprocess: .tflite with the LiteRT interpreter (XNNPACK), and the peers'
ONNX Runtime and torch models (``mobilebert_tf.benchmarks.peers``) through the same worker.

Each measurement runs in a fresh ``mobilebert_tf.benchmarks.host_worker`` process so that peak RSS and init
time belong to that model alone. Inputs are real tokenized examples in one format
(``mobilebert_tf.benchmarks.inputs``), not zeros.

Measuring processes start through ``light_command``: ``mobilebert_tf``'s ``__init__`` imports the model API
and with it TensorFlow (hundreds of MB, seconds of start-up), which would land in every worker's peak RSS
and in the peers' figures. A light process gets the package's namespace (its ``__path__``) without running
that ``__init__``, then runs the module as ``__main__``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import numpy as np

import mobilebert_tf

LIGHT_MAIN = ("import runpy, sys, types; package = types.ModuleType('mobilebert_tf'); package.__path__ = {path!r}; "
              "sys.modules['mobilebert_tf'] = package; runpy.run_module({module!r}, run_name='__main__', alter_sys=True)")


def light_command(module: str, *args: str) -> list[str]:
    """The command line that runs ``module`` (``python -m`` style) without ``mobilebert_tf/__init__.py``.

    Args:
        module: a module of this package, e.g. ``"mobilebert_tf.benchmarks.host_worker"``.
        *args: its command-line arguments.

    Returns:
        ``[sys.executable, "-c", ..., *args]`` for ``subprocess.run``.

    Example:
    >>> subprocess.run(light_command("mobilebert_tf.benchmarks.host_worker", "tflite", ...))  # doctest: +SKIP
    """
    return [sys.executable, "-c", LIGHT_MAIN.format(path=list(mobilebert_tf.__path__), module=module), *args]


def summarize(latencies_ms) -> dict:
    """p50/p90/mean/std/min of per-run latencies (ms)."""
    a = np.asarray(latencies_ms, dtype=np.float64)
    if a.size == 0:
        raise ValueError("no latencies to summarize")
    return {"p50_ms": float(np.percentile(a, 50)), "p90_ms": float(np.percentile(a, 90)), "mean_ms": float(a.mean()),
            "std_ms": float(a.std()), "min_ms": float(a.min()), "runs": int(a.size)}


def measure(kind: str, model_path, inputs: list[dict[str, np.ndarray]], threads: int = 2, runs: int = 50,
            warmup: int = 5, options: dict | None = None, timeout: float = 1800,
            keep_latencies: bool = False) -> dict:
    """Latency of one model in a fresh ``mobilebert_tf.benchmarks.host_worker`` process (``light_command``).

    Args:
        kind: ``"tflite"`` (LiteRT + XNNPACK), ``"ort"`` (an .onnx, ONNX Runtime CPU EP) or ``"torch"``
            (an HF directory, torch eager).
        model_path: the .tflite / .onnx file or the HF directory.
        inputs: rows of {tensor name -> array} (``mobilebert_tf.benchmarks.inputs``), cycled in order; a
            dynamic-length .tflite takes each at its own length.
        threads: intra-op threads of the runtime.
        runs: timed runs after ``warmup`` untimed ones.
        options: ``hf_class`` (torch), ``spinning`` (ORT intra-op spinning, default on),
            ``omp_wait_policy`` (torch: the ``OMP_WAIT_POLICY`` of the worker), ``interpreter`` (tflite:
            keyword arguments of LiteRT's ``Interpreter``, ``experimental_op_resolver_type`` by name).
        timeout: seconds before the worker is killed.
        keep_latencies: also return ``latencies_ms``.

    Returns:
        ``summarize(...)`` plus ``init_ms``, ``first_inference_ms``, ``peak_rss_mb`` (the worker's own
        VmHWM), ``size_mb`` (files), ``threads`` and ``kind``.

    Example:
    >>> measure("tflite", "model.tflite", real_inputs("model.tflite"), threads=2, runs=30)  # doctest: +SKIP
    """
    from mobilebert_tf.benchmarks.inputs import save_inputs

    options = options or {}
    if not os.path.exists(model_path):
        raise FileNotFoundError(f"model not found: {model_path}")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if kind != "tflite":
        env["OMP_NUM_THREADS"] = str(threads)
    if options.get("omp_wait_policy"):
        env["OMP_WAIT_POLICY"] = options["omp_wait_policy"]
    with tempfile.TemporaryDirectory(prefix="mobilebert-bench-") as tmp:
        npz = os.path.join(tmp, "inputs.npz")
        save_inputs(inputs, npz)
        cmd = light_command("mobilebert_tf.benchmarks.host_worker", kind, os.path.abspath(model_path), npz,
                            str(threads), str(runs), str(warmup), json.dumps(options))
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} benchmark of {model_path} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    latencies = result.pop("latencies_ms")
    result.update(summarize(latencies))
    if keep_latencies:
        result["latencies_ms"] = latencies
    result["size_mb"] = model_size_bytes(model_path) / 1e6
    return result


def model_size_bytes(path) -> int:
    """Bytes of a model file, or of the files of a model directory (an HF directory)."""
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)
    return os.path.getsize(path)


def measure_tflite(model_path: str, inputs: list[dict[str, np.ndarray]], threads: int = 2, runs: int = 50,
                   warmup: int = 5, timeout: float = 1800, keep_latencies: bool = False) -> dict:
    """``measure("tflite", ...)``: a .tflite under the LiteRT interpreter with XNNPACK; the result also
    says ``xnnpack``."""
    return measure("tflite", model_path, inputs, threads=threads, runs=runs, warmup=warmup, timeout=timeout,
                   keep_latencies=keep_latencies)
