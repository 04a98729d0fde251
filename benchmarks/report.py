"""Latency rows as a text table and a p50 bar chart (``mobilebert bench``, ``benchmarks/latency.py``), and a
report's JSON + Markdown pair (``write_report``)."""
from __future__ import annotations

import os
from pathlib import Path

from mobilebert_tf.argtypes import positive_int
from mobilebert_tf.errors import UsageError
from mobilebert_tf.fileio import atomic_write_json, atomic_write_text
from mobilebert_tf.paths import default_data_dir


def add_export_measure_flags(parser, work: str) -> None:
    """The flags of a report that exports models, then measures them (latency, real_length, runtime_options).

    ``--out`` (results folder), ``--work`` (where the .tflite files go), ``--threads`` (>= 1), ``--data``,
    and ``--export-only`` / ``--reuse``, which split the (single-core) exports from the measurements that
    want an idle machine.

    Args:
        parser: the script's ``argparse.ArgumentParser``.
        work: the default ``--work`` folder, e.g. ``"runs/latency"``.

    Example:
    >>> add_export_measure_flags(argparse.ArgumentParser(), "runs/latency")  # doctest: +SKIP
    """
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--work", default=work, help="where the .tflite files go")
    parser.add_argument("--threads", type=positive_int, default=2)
    parser.add_argument("--data", default=str(default_data_dir()))
    parser.add_argument("--export-only", action="store_true", help="write the .tflite files, measure nothing")
    parser.add_argument("--reuse", action="store_true", help="measure the exports a previous run left in --work")


def write_report(out, stem: str, result: dict, markdown: str) -> None:
    """Write ``{stem}.json`` (``result``) and ``{stem}.md`` (``markdown``) into ``out`` atomically; print the Markdown.

    Args:
        out: the results folder (created if missing).
        stem: the report's name, e.g. ``"runtime_options"``.
        result: the measured data.
        markdown: the report rendered from ``result``.

    Example:
    >>> write_report("benchmarks/results", "runtime_options", result, markdown(result))  # doctest: +SKIP
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / f"{stem}.json", result, indent=2)
    atomic_write_text(out / f"{stem}.md", markdown)
    print(markdown)


def format_table(rows) -> str:
    head = f"{'model':<40}{'thr':>4}{'size MB':>9}{'p50 ms':>9}{'p90 ms':>9}{'mean':>9}{'std':>8}{'init ms':>9}{'RSS MB':>8}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{os.path.basename(r['model'])[:39]:<40}{r['threads']:>4}{r['size_mb']:>9.1f}"
                     f"{r.get('p50_ms', r.get('mean_ms', 0)):>9.2f}{r.get('p90_ms', float('nan')):>9.2f}"
                     f"{r['mean_ms']:>9.2f}{r.get('std_ms', float('nan')):>8.2f}{r.get('init_ms', 0):>9.1f}"
                     f"{r.get('peak_rss_mb', float('nan')):>8.0f}")
    return "\n".join(lines)


def plot(rows, path: str, title: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("--plot needs matplotlib (pip install matplotlib)") from None
    labels = [f"{os.path.basename(r['model'])}\n{r['threads']} thr" for r in rows]
    values = [r.get("p50_ms", r["mean_ms"]) for r in rows]
    fig, ax = plt.subplots(figsize=(max(6, len(rows) * 1.1), 4))
    ax.bar(range(len(rows)), values, color="#3b7dd8")
    ax.set_xticks(range(len(rows)), labels, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("p50 latency (ms)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
