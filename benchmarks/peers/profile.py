"""Per-op profiles where a target is missed: every distinct TFLite op timed alone under XNNPACK
(``profile_tflite_ops``), operator counts, XNNPACK partitions, and ORT's own per-node profiler."""
from __future__ import annotations

import copy
import json
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from mobilebert_tf.benchmarks.peers.runtimes import INPUT_NAMES, ort_session


def xnnpack_partitions(path, inputs, threads: int = 2) -> int:
    """How many XNNPACK delegate partitions the whole model runs as (each boundary between delegated
    and builtin ops hands the tensors over between the two runtimes)."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path), num_threads=threads)
    interp.allocate_tensors()
    interp.get_signature_runner("serving_default")(**inputs[0])  # the default delegate applies lazily
    return sum(d["op_name"] == "DELEGATE" for d in interp._get_ops_details())


def tflite_op_stats(path) -> dict:
    """Operator counts by type, and the ops whose inputs are float32 (in an int8 model: the boundary)."""
    from tensorflow.lite.python import schema_py_generated as schema

    from mobilebert_tf.export.tflite_io import float_ops, op_names, read_tflite

    data = read_tflite(path)
    model = schema.Model.GetRootAsModel(data, 0)
    codes = op_names(data)
    sg = model.Subgraphs(0)
    counts = Counter(codes[sg.Operators(i).OpcodeIndex()] for i in range(sg.OperatorsLength()))
    return {"ops": sg.OperatorsLength(), "by_type": dict(counts.most_common()),
            "float_ops": dict(Counter(float_ops(data)).most_common())}


def _single_op_models(data: bytes):
    """Yield (op index, signature key, op type, single-op ModelT, dynamic input tensor indices, FLOPs) for
    every op of subgraph 0 (FLOPs: 2 x multiply-accumulates of FULLY_CONNECTED and BATCH_MATMUL, else 0)."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    from mobilebert_tf.export.tflite_io import op_names

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    names = op_names(data)
    sg = model.subgraphs[0]

    def is_const(t):
        buf = model.buffers[sg.tensors[t].buffer]
        return buf.data is not None and len(buf.data) > 0

    for index, op in enumerate(sg.operators):
        ins = [int(t) for t in op.inputs]
        outs = [int(t) for t in op.outputs]
        tensors, remap, buffers = [], {}, [schema.BufferT()]
        for t in [t for t in ins if t >= 0] + outs:
            if t in remap:
                continue
            tensor = copy.copy(sg.tensors[t])
            if is_const(t):
                buffers.append(model.buffers[tensor.buffer])
                tensor.buffer = len(buffers) - 1
            else:
                tensor.buffer = 0
            remap[t] = len(tensors)
            tensors.append(tensor)
        new_op = copy.copy(op)
        new_op.inputs = [remap[t] if t >= 0 else -1 for t in ins]
        new_op.outputs = [remap[t] for t in outs]
        dyn_inputs = [t for t in dict.fromkeys(ins) if t >= 0 and not is_const(t)]
        sub = schema.SubGraphT()
        sub.tensors, sub.operators = tensors, [new_op]
        sub.inputs = [remap[t] for t in dyn_inputs]
        sub.outputs = new_op.outputs
        m = schema.ModelT()
        m.version, m.operatorCodes, m.description = model.version, model.operatorCodes, b"single op"
        m.subgraphs, m.buffers = [sub], buffers
        opts = op.builtinOptions
        flops = 0
        out_size = int(np.prod(sg.tensors[outs[0]].shape)) if outs else 0
        if names[op.opcodeIndex] == "FULLY_CONNECTED":
            flops = 2 * out_size * int(sg.tensors[ins[1]].shape[-1])          # weights [N, K]
        elif names[op.opcodeIndex] == "BATCH_MATMUL":
            lhs = sg.tensors[ins[0]].shape
            flops = 2 * out_size * int(lhs[-2] if getattr(opts, "adjX", False) else lhs[-1])
        key = (names[op.opcodeIndex],
               tuple((tuple(sg.tensors[t].shape), int(sg.tensors[t].type), is_const(t)) if t >= 0 else None for t in ins),
               tuple((tuple(sg.tensors[t].shape), int(sg.tensors[t].type)) for t in outs),
               repr(sorted(vars(opts).items())) if opts is not None else "")
        yield index, key, names[op.opcodeIndex], m, dyn_inputs, flops


def profile_tflite_ops(path, inputs, threads: int = 2, runs: int = 20, log=print) -> dict:
    """Per-op latency without a C++ benchmark tool: every distinct op (type, shapes, dtypes, options)
    is cut out into a one-op model, fed the tensors it sees in a real run, and timed alone under
    XNNPACK with ``threads``; totals are time x occurrences. The sum is an estimate (no cache or
    delegate-partition effects): it is reported next to the whole model's p50."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    from tensorflow.lite.tools import flatbuffer_utils

    data = Path(path).read_bytes()
    ref = Interpreter(model_content=data, experimental_preserve_all_tensors=True,
                      experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    ref.allocate_tensors()
    ref.get_signature_runner("serving_default")(**inputs[0])

    groups: dict = {}
    for index, key, op_type, m, dyn_inputs, flops in _single_op_models(data):
        if key in groups:
            groups[key]["count"] += 1
            continue
        groups[key] = {"op": op_type, "count": 1, "model": m, "inputs": dyn_inputs, "first_index": index,
                       "flops": flops}

    def time_model(content: bytes, feeds: list, resolver) -> tuple[float, bool]:
        interp = Interpreter(model_content=content, num_threads=threads, experimental_op_resolver_type=resolver)
        interp.allocate_tensors()
        details = interp.get_input_details()
        for d, value in zip(details, feeds):
            interp.set_tensor(d["index"], value)
        for _ in range(3):
            interp.invoke()
        # (the default delegate is applied lazily: look after the first invokes)
        delegated = any(d["op_name"] == "DELEGATE" for d in interp._get_ops_details())
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            interp.invoke()
            times.append(time.perf_counter() - start)
        return float(np.median(times)) * 1e3, delegated

    rows = []
    for key, g in groups.items():
        feeds = [ref.get_tensor(t) for t in g["inputs"]]
        content = bytes(flatbuffer_utils.convert_object_to_bytearray(g.pop("model")))
        note = ""
        try:
            ms, delegated = time_model(content, feeds, OpResolverType.AUTO)
        except RuntimeError as e:
            # e.g. a DEQUANTIZE of a constant: nothing dynamic to feed, XNNPACK refuses the lone op (the
            # whole model folds it at prepare time)
            ms, delegated = time_model(content, feeds, OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
            note = f"XNNPACK refused the lone op ({str(e).splitlines()[0][:80]}); timed with builtin kernels"
        rows.append({"op": g["op"], "count": g["count"], "ms_each": ms, "xnnpack": delegated, "flops": g["flops"],
                     "shapes": [list(map(int, s[0])) if s else None for s in key[1]],
                     "out_shapes": [list(map(int, s[0])) for s in key[2]], "example_op_index": g["first_index"],
                     **({"note": note} if note else {})})
    # the cost of invoke() itself (Python binding, delegate entry): the fastest single-op call seen, an
    # op that moves a few bytes; subtracted from every op
    overhead_ms = min(r["ms_each"] for r in rows)
    by_type = defaultdict(lambda: {"count": 0, "ms": 0.0, "xnnpack": 0, "gflop": 0.0})
    for r in rows:
        r["ms_each_net"] = max(0.0, r["ms_each"] - overhead_ms)
        if r["flops"] and r["ms_each_net"] > 0:
            r["gflops_per_s"] = r["flops"] / r["ms_each_net"] / 1e6
        t = by_type[r["op"]]
        t["count"] += r["count"]
        t["ms"] += r["count"] * r["ms_each_net"]
        t["xnnpack"] += r["count"] if r["xnnpack"] else 0
        t["gflop"] += r["count"] * r["flops"] / 1e9
    total = sum(t["ms"] for t in by_type.values())
    table = sorted(({"op": k, **v, "share": v["ms"] / total if total else 0.0,
                     **({"gflops_per_s": v["gflop"] / v["ms"] * 1e3} if v["gflop"] and v["ms"] else {})}
                    for k, v in by_type.items()), key=lambda r: -r["ms"])
    top = sorted(rows, key=lambda r: -r["count"] * r["ms_each_net"])[:15]
    # the whole model in this same session (same load), at ``threads`` and at one thread
    whole = {}
    for t in dict.fromkeys([threads, 1]):
        interp = Interpreter(model_content=data, num_threads=t)
        interp.allocate_tensors()
        runner = interp.get_signature_runner("serving_default")
        times = []
        for i in range(3 + max(5, runs // 2)):
            start = time.perf_counter()
            runner(**inputs[i % len(inputs)])
            times.append(time.perf_counter() - start)
        whole[str(t)] = float(np.median(times[3:])) * 1e3
        del runner, interp
    return {"sum_ms": total, "invoke_overhead_ms": overhead_ms, "distinct_ops": len(rows), "threads": threads,
            "whole_model_ms": whole, "by_type": table, "top_ops": top}


def profile_ort(path, inputs, threads: int = 2, runs: int = 20, warmup: int = 5, spinning: bool = True) -> dict:
    """ORT's own profiler: time per node op type (after ORT's graph optimizations), per run; the
    ``warmup`` first runs of the session are left out."""
    with tempfile.TemporaryDirectory(prefix="mobilebert-ortprof-") as tmp:
        session = ort_session(path, threads, profile_prefix=str(Path(tmp) / "ort"), spinning=spinning)
        feeds = [{k: row[k] for k in INPUT_NAMES} for row in inputs]
        for i in range(warmup + runs):
            session.run(None, feeds[i % len(feeds)])
        events = json.loads(Path(session.end_profiling()).read_text())
    windows = sorted((e["ts"], e["ts"] + e["dur"]) for e in events if e.get("name") == "model_run")[warmup:]
    if not windows:
        raise RuntimeError("ORT profile has no model_run events")
    by_type = defaultdict(lambda: {"count": 0, "us": 0.0})
    for e in events:
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time"):
            continue
        if not any(a <= e["ts"] <= b for a, b in windows):
            continue
        op = e.get("args", {}).get("op_name", "?")
        by_type[op]["count"] += 1
        by_type[op]["us"] += e.get("dur", 0)
    n = len(windows)
    total = sum(v["us"] for v in by_type.values())
    wall = sum(b - a for a, b in windows) / n / 1e3
    table = sorted(({"op": k, "count": v["count"] // n, "ms": v["us"] / n / 1e3,
                     "share": v["us"] / total if total else 0.0} for k, v in by_type.items()), key=lambda r: -r["ms"])
    return {"sum_ms": total / n / 1e3, "run_ms": wall, "runs": n, "by_type": table}

