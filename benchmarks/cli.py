"""``mobilebert benchmark MODEL.tflite...``: latency on the host (LiteRT + XNNPACK) or a phone (adb)."""
from __future__ import annotations

import json

from mobilebert_tf.argtypes import non_negative_int, positive_int
from mobilebert_tf.benchmarks.machine import machine_name
from mobilebert_tf.benchmarks.report import format_table, plot
from mobilebert_tf.errors import UsageError

HELP = "latency of .tflite models on the host or an Android phone"


def configure(parser):
    parser.add_argument("models", nargs="+", help=".tflite files")
    parser.add_argument("--threads", default="2", help="comma-separated thread counts (default: %(default)s)")
    parser.add_argument("--runs", type=positive_int, default=50)
    parser.add_argument("--warmup", type=non_negative_int, default=5)
    parser.add_argument("--device", default="host", help="host | android | android:SERIAL")
    parser.add_argument("--benchmark-binary", help="TFLite benchmark_model for the phone (android)")
    parser.add_argument("--apk", action="store_true", help="use the benchmark APK (am start + logcat) instead")
    parser.add_argument("--taskset", help="CPU mask for the phone run, e.g. f0 (big cores)")
    parser.add_argument("--use-gpu", action="store_true")
    parser.add_argument("--use-nnapi", action="store_true")
    parser.add_argument("--examples", type=positive_int, default=8, help="real examples cycled as inputs (host)")
    parser.add_argument("--data", help="shared data folder (default: ../shared/data)")
    parser.add_argument("--json", help="write results as JSON")
    parser.add_argument("--plot", help="write a p50 bar chart (PNG)")


def parse_threads(text: str) -> list[int]:
    try:
        threads = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise UsageError(f"--threads must be comma-separated integers, got {text!r}") from None
    if not threads or min(threads) < 1:
        raise UsageError(f"--threads must be positive, got {text!r}")
    return threads


def run(args) -> int:
    import sys

    from mobilebert_tf.benchmarks.android import AndroidRun, DeviceError, run_on_device
    from mobilebert_tf.export.tflite_io import read_tflite

    threads = parse_threads(args.threads)
    for model in args.models:
        read_tflite(model)  # a clear error for missing/corrupt files before anything runs
    rows = []
    if args.device == "host":
        from mobilebert_tf.benchmarks.host import measure_tflite
        from mobilebert_tf.benchmarks.inputs import real_inputs

        where = f"host: {machine_name()}, LiteRT + XNNPACK"
        for model in args.models:
            inputs = real_inputs(model, args.examples, args.data)
            for t in threads:
                r = measure_tflite(model, inputs, threads=t, runs=args.runs, warmup=args.warmup)
                rows.append({"model": model, **r})
    elif args.device == "android" or args.device.startswith("android:"):
        serial = args.device.split(":", 1)[1] if ":" in args.device else None
        try:
            for model in args.models:
                for t in threads:
                    run_cfg = AndroidRun(threads=t, warmup=args.warmup, runs=args.runs, use_gpu=args.use_gpu,
                                         use_nnapi=args.use_nnapi, taskset=args.taskset)
                    rows.append({"model": model, **run_on_device(model, run_cfg, serial, args.benchmark_binary,
                                                                 args.apk)})
        except DeviceError as e:
            print(f"mobilebert benchmark: {e}", file=sys.stderr)
            return 2
        d = rows[0]["device"]
        where = f"android: {d['manufacturer']} {d['model']} ({d['soc']}, Android {d['android']})"
    else:
        raise UsageError(f"--device must be host, android or android:SERIAL, got {args.device!r}")
    print(where)
    print(format_table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": where, "results": rows}, f, indent=2)
    if args.plot:
        plot(rows, args.plot, where)
    return 0
