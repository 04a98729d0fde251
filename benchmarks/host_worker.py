"""Subprocess body of benchmarks.host.measure_tflite: load, time, print one JSON line.

Imports only LiteRT and numpy (no TensorFlow) so that peak RSS is the model's and the runtime's.
"""
import json
import resource
import sys
import time

import numpy as np


def _peak_rss_kb() -> float:
    """This process's own peak RSS. ``ru_maxrss`` is carried across exec on Linux, so a worker started
    from a process holding TensorFlow would report the parent's peak; VmHWM is reset by exec."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return float(line.split()[1])
    except OSError:
        pass
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def main(model_path, npz_path, threads, runs, warmup):
    from ai_edge_litert.interpreter import Interpreter

    data = np.load(npz_path)
    rows = {}
    for key in data.files:
        i, name = key.split("__", 1)
        rows.setdefault(int(i), {})[name] = data[key]
    inputs = [rows[i] for i in sorted(rows)]
    start = time.perf_counter()
    interpreter = Interpreter(model_path=model_path, num_threads=threads)
    interpreter.allocate_tensors()
    runner = interpreter.get_signature_runner("serving_default")
    init_ms = (time.perf_counter() - start) * 1e3
    start = time.perf_counter()
    runner(**inputs[0])
    first_ms = (time.perf_counter() - start) * 1e3
    for i in range(warmup):
        runner(**inputs[i % len(inputs)])
    latencies = []
    for i in range(runs):
        feed = inputs[i % len(inputs)]
        start = time.perf_counter()
        runner(**feed)
        latencies.append((time.perf_counter() - start) * 1e3)
    peak_kb = _peak_rss_kb()
    print(json.dumps({"init_ms": init_ms, "first_inference_ms": first_ms, "latencies_ms": latencies,
                      "peak_rss_mb": peak_kb / 1024, "threads": threads, "xnnpack": True}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
