"""Subprocess body of ``mobilebert_tf.benchmarks.host.measure``: load one model, time it, print one JSON line.

    python -m mobilebert_tf.benchmarks.host_worker KIND MODEL INPUTS.npz THREADS RUNS WARMUP [OPTIONS_JSON]

(``benchmarks.host.measure`` starts it through ``light_command``, without the package's ``__init__``).

KIND is ``tflite`` (the LiteRT interpreter, XNNPACK), ``ort`` (an .onnx in ONNX Runtime, CPU EP) or
``torch`` (an HF directory in torch eager; OPTIONS_JSON names its ``hf_class``). Inputs are
``mobilebert_tf.benchmarks.inputs.save_inputs`` rows, fed by name. A tflite worker imports only LiteRT and numpy (no
TensorFlow), so that init time and peak RSS are the model's and the runtime's.
"""
import json
import resource
import sys
import time

from mobilebert_tf.benchmarks.inputs import load_inputs

KINDS = ("tflite", "ort", "torch")


def peak_rss_mb() -> float:
    """This process's own peak RSS (MB). ``ru_maxrss`` is carried across exec on Linux, so a worker
    started from a process holding TensorFlow would report the parent's peak; VmHWM is reset by exec."""
    try:
        with open("/proc/self/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_runner(kind: str, path: str, inputs: list, threads: int, options: dict):
    """(call(feed), feeds, extra result fields) for one model of ``kind``; feeds are ``inputs`` as the
    runtime takes them."""
    if kind == "tflite":
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        kwargs = dict(options.get("interpreter", {}))  # e.g. experimental_default_delegate_latest_features
        if "experimental_op_resolver_type" in kwargs:  # by name in the JSON options
            kwargs["experimental_op_resolver_type"] = OpResolverType[kwargs["experimental_op_resolver_type"]]
        interpreter = Interpreter(model_path=path, num_threads=threads, **kwargs)
        interpreter.allocate_tensors()
        runner = interpreter.get_signature_runner("serving_default")
        return (lambda feed: runner(**feed)), inputs, {"interpreter": interpreter}
    if kind == "ort":
        from mobilebert_tf.benchmarks.peers.runtimes import INPUT_NAMES, ort_session

        session = ort_session(path, threads, spinning=options.get("spinning", True))
        return (lambda feed: session.run(None, feed)), [{k: row[k] for k in INPUT_NAMES} for row in inputs], {}
    if kind == "torch":
        import torch

        from mobilebert_tf.benchmarks.peers.runtimes import INPUT_NAMES, load_torch

        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)
        model = load_torch(path, options["hf_class"], threads)

        def call(feed):
            with torch.inference_mode():
                return model(*feed)

        return call, [tuple(torch.from_numpy(row[k]) for k in INPUT_NAMES) for row in inputs], {}
    raise ValueError(f"unknown model kind {kind!r} (one of {KINDS})")


def main(kind, model_path, npz_path, threads, runs, warmup, options=None) -> dict:
    """Load, run once (first inference), ``warmup`` runs, ``runs`` timed runs cycling over the inputs.

    Returns:
        ``init_ms``, ``first_inference_ms``, ``latencies_ms`` (run i fed input i mod len), ``peak_rss_mb``,
        ``threads``, ``kind`` (and for tflite ``xnnpack``: whether XNNPACK took any part of the graph).
    """
    inputs = load_inputs(npz_path)
    start = time.perf_counter()
    call, feeds, extra = load_runner(kind, model_path, inputs, threads, options or {})
    init_ms = (time.perf_counter() - start) * 1e3
    start = time.perf_counter()
    call(feeds[0])
    first_ms = (time.perf_counter() - start) * 1e3
    interpreter = extra.pop("interpreter", None)
    if interpreter is not None:  # the default XNNPACK delegate applies at the first invoke: look now
        extra["xnnpack"] = any(d["op_name"] == "DELEGATE" for d in interpreter._get_ops_details())
    for i in range(warmup):
        call(feeds[i % len(feeds)])
    latencies = []
    for i in range(runs):
        feed = feeds[i % len(feeds)]
        start = time.perf_counter()
        call(feed)
        latencies.append((time.perf_counter() - start) * 1e3)
    return {"init_ms": init_ms, "first_inference_ms": first_ms, "latencies_ms": latencies,
            "peak_rss_mb": peak_rss_mb(), "threads": threads, "kind": kind,
            "tensorflow_loaded": "tensorflow" in sys.modules, **extra}


if __name__ == "__main__":
    args = sys.argv[1:]
    result = main(args[0], args[1], args[2], int(args[3]), int(args[4]), int(args[5]),
                  json.loads(args[6]) if len(args) > 6 else {})
    print(json.dumps(result))
