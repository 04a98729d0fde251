"""Android latency over adb with TFLite's ``benchmark_model`` (binary or benchmark APK).

Command construction and output parsing are pure functions (tested without a phone); ``Adb`` runs
them against a device. Facts used (TFLite performance docs): push the binary and model to
``/data/local/tmp``; run ``benchmark_model --graph=... --num_threads=N --use_xnnpack=true
--warmup_runs=W --num_runs=R`` (optionally under ``taskset MASK`` to pin big cores); it prints
``Inference timings in us: Init: …, First inference: …, Warmup (avg): …, Inference (avg): …`` and
memory lines. The APK variant is started with ``am start`` and reports the same line in logcat.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass

from mobilebert_tf.errors import MobileBertError

REMOTE_DIR = "/data/local/tmp"
APK_ACTIVITY = "org.tensorflow.lite.benchmark/.BenchmarkModelActivity"


class DeviceError(MobileBertError, RuntimeError):
    """No adb, no device, or the device run failed. The CLI exits with code 2."""


@dataclass(frozen=True)
class AndroidRun:
    threads: int = 4
    warmup: int = 5
    runs: int = 50
    use_xnnpack: bool = True
    use_gpu: bool = False
    use_nnapi: bool = False
    taskset: str | None = None      # CPU mask, e.g. "f0" = the four big cores of a Pixel


def benchmark_args(remote_model: str, run: AndroidRun) -> list[str]:
    args = [f"--graph={remote_model}", f"--num_threads={run.threads}", f"--warmup_runs={run.warmup}",
            f"--num_runs={run.runs}", f"--use_xnnpack={'true' if run.use_xnnpack else 'false'}"]
    if run.use_gpu:
        args.append("--use_gpu=true")
    if run.use_nnapi:
        args.append("--use_nnapi=true")
    return args


def binary_command(remote_binary: str, remote_model: str, run: AndroidRun) -> list[str]:
    """argv for ``adb shell``: ``[taskset MASK] /data/local/tmp/benchmark_model --graph=...``."""
    prefix = ["taskset", run.taskset] if run.taskset else []
    return prefix + [remote_binary] + benchmark_args(remote_model, run)


def apk_command(remote_model: str, run: AndroidRun) -> list[str]:
    """argv for ``adb shell`` starting the benchmark APK; results go to logcat."""
    return ["am", "start", "-S", "-n", APK_ACTIVITY, "--es", "args",
            "'" + " ".join(benchmark_args(remote_model, run)) + "'"]


_TIMINGS = re.compile(r"Inference timings in us:\s*Init:\s*([\d.]+),\s*First inference:\s*([\d.]+),\s*"
                      r"Warmup \(avg\):\s*([\d.eE+-]+),\s*Inference \(avg\):\s*([\d.eE+-]+)")
_MEMORY = re.compile(r"(Memory footprint delta from the start of the tool|Peak memory footprint) \(MB\):\s*"
                     r"init=([\d.]+)\s+overall=([\d.]+)")
_STATS = re.compile(r"count=(\d+)\s+first=(\d+)\s+curr=(\d+)\s+min=(\d+)\s+max=(\d+)\s+avg=([\d.eE+-]+)\s+"
                    r"std=(\d+)")


def parse_benchmark_output(text: str) -> dict:
    """The documented ``benchmark_model`` output -> our JSON fields (ms / MB). Raises DeviceError when
    the timings line is missing (the run failed; the message carries the tool's last lines)."""
    m = _TIMINGS.search(text)
    if not m:
        tail = "\n".join(text.strip().splitlines()[-8:])
        raise DeviceError(f"benchmark_model printed no 'Inference timings' line; its output ended with:\n{tail}")
    init, first, warmup, avg = (float(x) for x in m.groups())
    out = {"init_ms": init / 1e3, "first_inference_ms": first / 1e3, "warmup_avg_ms": warmup / 1e3,
           "mean_ms": avg / 1e3}
    for kind, init_mb, overall_mb in _MEMORY.findall(text):
        key = "peak_memory_mb" if kind.startswith("Peak") else "memory_delta_mb"
        out[key] = {"init": float(init_mb), "overall": float(overall_mb)}
    stats = _STATS.findall(text)
    if stats:  # the last block is the timed inference runs
        count, _, _, lo, hi, mean, std = stats[-1]
        out.update(runs=int(count), min_ms=float(lo) / 1e3, max_ms=float(hi) / 1e3, std_ms=float(std) / 1e3)
    return out


def parse_devices(text: str) -> list[str]:
    """Serials of attached, authorized devices from ``adb devices`` output."""
    serials = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2 and parts[1] == "device":
            serials.append(parts[0])
    return serials


def parse_getprop(text: str) -> dict:
    """``adb shell getprop`` lines ``[key]: [value]`` -> device model, SoC and Android version."""
    props = dict(re.findall(r"\[([^\]]+)\]:\s*\[([^\]]*)\]", text))
    soc = props.get("ro.soc.model") or props.get("ro.board.platform") or props.get("ro.hardware", "")
    return {"model": props.get("ro.product.model", ""), "manufacturer": props.get("ro.product.manufacturer", ""),
            "soc": soc, "android": props.get("ro.build.version.release", ""),
            "sdk": props.get("ro.build.version.sdk", ""), "abi": props.get("ro.product.cpu.abi", "")}


class Adb:
    def __init__(self, serial: str | None = None, adb: str | None = None):
        self.adb = adb or os.environ.get("MOBILEBERT_ADB") or shutil.which("adb")
        if not self.adb or not os.path.exists(self.adb):
            raise DeviceError("adb not found: install Android platform tools (Debian: apt-get install adb) or set "
                              "MOBILEBERT_ADB to its path")
        devices = parse_devices(self._run(["devices"]))
        if not devices:
            raise DeviceError("no Android device attached (`adb devices` lists none); connect a phone with USB "
                              "debugging enabled")
        if serial and serial not in devices:
            raise DeviceError(f"device {serial} not attached; attached: {', '.join(devices)}")
        self.serial = serial or devices[0]

    def _run(self, args: list[str], timeout: float = 600) -> str:
        cmd = [self.adb] + (["-s", self.serial] if getattr(self, "serial", None) else []) + args
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise DeviceError(f"{' '.join(cmd)} failed: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc.stdout

    def shell(self, argv: list[str]) -> str:
        return self._run(["shell"] + argv)

    def push(self, local: str, remote: str) -> None:
        self._run(["push", local, remote])

    def device_info(self) -> dict:
        return {"serial": self.serial, **parse_getprop(self.shell(["getprop"]))}


def run_on_device(model_path: str, run: AndroidRun, serial: str | None = None, benchmark_binary: str | None = None,
                  apk: bool = False) -> dict:
    adb = Adb(serial)
    remote_model = f"{REMOTE_DIR}/{os.path.basename(model_path)}"
    adb.push(model_path, remote_model)
    if apk:
        adb._run(["logcat", "-c"])
        adb.shell(apk_command(remote_model, run))
        import time

        deadline = time.time() + 600
        text = ""
        while time.time() < deadline and "Inference timings" not in text:
            time.sleep(5)
            text = adb._run(["logcat", "-d", "-s", "tflite"])
    else:
        if not benchmark_binary or not os.path.isfile(benchmark_binary):
            raise DeviceError("--benchmark-binary PATH (TFLite's benchmark_model for the phone's ABI) is required "
                              "for --device android (or pass --apk for the benchmark APK)")
        remote_binary = f"{REMOTE_DIR}/benchmark_model"
        adb.push(benchmark_binary, remote_binary)
        adb.shell(["chmod", "+x", remote_binary])
        text = adb.shell(binary_command(remote_binary, remote_model, run))
    result = parse_benchmark_output(text)
    result.update(device=adb.device_info(), threads=run.threads, xnnpack=run.use_xnnpack, gpu=run.use_gpu,
                  nnapi=run.use_nnapi, taskset=run.taskset, size_mb=os.path.getsize(model_path) / 1e6)
    return result
