"""The machine a benchmark ran on, as measured: CPU model, cores, ISA, Python / TensorFlow versions,
system, load averages at start and end, and the CPU time other processes took during a measurement.

One descriptor for every report (``mobilebert_tf.benchmarks.latency``, ``mobilebert_tf.benchmarks.peers``, ``mobilebert_tf.benchmarks.finetune``
and the scripts that import ``machine`` from it). The load caveat printed under a table is derived from
the recorded numbers (``load_caveat``), never a fixed sentence.
"""
from __future__ import annotations

import os
import platform
import resource
import time

ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")
QUIET_CORES = 0.25  # other processes' CPU use during every measurement (cores) under which a host is quiet
QUIET_LOAD = 0.5  # without such measurements: others' 1-minute load average under which a host is quiet


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (``platform`` as a fallback).

    Returns:
        A string such as ``"AMD EPYC 7B13"``.
    """
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return cpu


def cpu_isa() -> list[str]:
    """The SIMD extensions relevant to XNNPACK / ORT kernels that /proc/cpuinfo lists."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        flags = []
    return [f for f in ISA_FLAGS if f in flags]


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask), else ``os.cpu_count()``."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def machine_name() -> str:
    """``"<cpu model>, <n> cores"``, for one-line report headers.

    Returns:
        The CPU model and the logical core count, e.g. ``"Intel(R) Xeon(R) Processor, 2 cores"``.

    Example:
        >>> machine_name()
    """
    return f"{cpu_model()}, {os.cpu_count()} cores"


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, rounded to 0.01 (None where the OS has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def package_versions(names) -> dict:
    """Installed versions of the distributions ``names`` (None for a missing one).

    Example:
    >>> package_versions(["numpy"])["numpy"]  # doctest: +SKIP
    '2.1.3'
    """
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in names:
        try:
            out[name] = version(name.replace("_", "-"))
        except PackageNotFoundError:
            out[name] = None
    return out


def machine() -> dict:
    """Describe this machine now; call ``finish`` on the dict when the benchmark ends.

    Returns:
        ``cpu``, ``cores`` (logical), ``usable_cores``, ``isa``, ``python``, ``tensorflow`` (installed
        version, None without TensorFlow), ``system``, ``platform`` and ``load_average_start``
        ([1, 5, 15] minutes).

    Example:
    >>> m = machine()
    >>> # ... run the benchmark ...
    >>> finish(m)["load_average_end"]  # doctest: +SKIP
    [1.02, 0.97, 0.91]
    """
    tf_version = package_versions(["tensorflow"])["tensorflow"] or package_versions(["tensorflow-cpu"])["tensorflow-cpu"]
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "usable_cores": usable_cores(), "isa": cpu_isa(),
            "python": platform.python_version(), "tensorflow": tf_version,
            "system": f"{platform.system()} {platform.release()}", "platform": platform.platform(),
            "load_average_start": load_average()}


def finish(descriptor: dict) -> dict:
    """Record the end-of-run load average (``load_average_end``) in ``descriptor``; returns it."""
    descriptor["load_average_end"] = load_average()
    return descriptor


def load_averages(descriptor: dict) -> tuple[list | None, list | None]:
    """(start, end) load averages of a descriptor (also reads the ``loadavg_*`` keys of older reports)."""
    return (descriptor.get("load_average_start", descriptor.get("loadavg_start")),
            descriptor.get("load_average_end", descriptor.get("loadavg_end")))


def load_caveat(descriptor: dict, foreign_cores=None, own_threads: int | None = None) -> str:
    """What the recorded load says about the numbers, derived from them (one sentence, no final period).

    The 1-minute load average at start is mostly other processes' work; at the end it also holds this
    benchmark's own threads (``own_threads``, subtracted when given). ``foreign_cores`` are the
    per-measurement CPU use of other processes (``ForeignLoad``): where recorded they decide (quiet when
    every one is at most ``QUIET_CORES``), else the load averages do (at most ``QUIET_LOAD``).

    Args:
        descriptor: a ``machine()`` dict (after ``finish`` for the end load).
        foreign_cores: other processes' cores during each measurement (None entries are skipped).
        own_threads: threads this benchmark itself ran in the last minute before ``finish``.

    Returns:
        e.g. ``"quiet host: load average 0.1 at start, 2.1 at end (2 of it this benchmark's threads)
        on 2 usable cores; other processes used at most 0.03 cores during a measurement"``.
    """
    cores = descriptor.get("usable_cores") or descriptor.get("cores") or 1
    start, end = load_averages(descriptor)
    others = []
    parts = []
    if start:
        others.append(start[0])
        parts.append(f"load average {start[0]:.2f} at start")
    if end:
        own = own_threads or 0
        others.append(max(0.0, end[0] - own))
        parts.append(f"{end[0]:.2f} at end" + (f" (up to {own} of it this benchmark's own threads)" if own else ""))
    text = (", ".join(parts) or "no load average recorded") + f" on {cores} usable cores"
    foreign = [f for f in (foreign_cores or []) if f is not None]
    if foreign:  # measured during the measurements themselves: this decides
        text += f"; other processes used at most {max(foreign):.2f} cores during a measurement"
        quiet = max(foreign) <= QUIET_CORES
    elif others:  # a load average also counts this run's own start-up and the minutes before it
        quiet = max(others) <= QUIET_LOAD
    else:
        return "load not recorded: " + text
    if quiet:
        return "quiet host: " + text
    return ("shared, loaded host: " + text + "; absolute numbers are noisy, configurations measured "
            "interleaved in one run are comparable as ratios")


class ForeignLoad:
    """CPU time that other processes used while we measured, in cores: all CPUs' busy time from
    /proc/stat minus our children's CPU time, over the wall time. On a shared host a second thread
    only helps while no one else holds the second core; this says whether it was free.

    Example:
    >>> load = ForeignLoad()
    >>> # ... run a measurement in a child process ...
    >>> load.cores()  # doctest: +SKIP
    0.02
    """

    def __init__(self):
        self.start = self._sample()

    @staticmethod
    def _sample():
        try:
            with open("/proc/stat", encoding="utf-8") as f:
                vals = [int(v) for v in f.readline().split()[1:9]]
        except OSError:
            vals = None
        ours = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.perf_counter(), vals, ours.ru_utime + ours.ru_stime

    def cores(self) -> float | None:
        """Other processes' average CPU use since construction, in cores (None without /proc/stat)."""
        (t0, v0, c0), (t1, v1, c1) = self.start, self._sample()
        if v0 is None or v1 is None or t1 <= t0:
            return None
        busy = (sum(v1) - v1[3] - v1[4]) - (sum(v0) - v0[3] - v0[4])
        total = sum(v1) - sum(v0)
        if total <= 0:
            return None
        ncpu = os.cpu_count() or 1
        return max(0.0, busy / total * ncpu - (c1 - c0) / (t1 - t0))
