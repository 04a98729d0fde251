"""``mobilebert demo --quick`` end to end (README's first command, at smoke size): every step runs, the
summary's figures are the ones the steps wrote, and a second invocation skips every finished step."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SHARED_DATA

ROOT = Path(__file__).resolve().parents[1]
STEPS = ("pre-training data", "pre-train the IB-BERT teacher", "knowledge transfer to the MobileBERT student",
         "held-out MLM / NSP", "fine-tune the student on SST-2", "export float + int8", "benchmark")


def _demo(out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MOBILEBERT_SHARED_DATA": str(SHARED_DATA), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "mobilebert_tf.cli", "demo", "--quick", "--out", str(out),
                           "--data", str(SHARED_DATA), *extra], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=1800)


@pytest.mark.slow
def test_demo_quick_end_to_end(tmp_path):
    out, results = tmp_path / "demo", tmp_path / "results"
    first = _demo(out, "--results", str(results))
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    for step in STEPS:
        assert any(step in line and line.rstrip().endswith(" s") for line in first.stdout.splitlines()), step

    record = json.loads((out / "summary.json").read_text())
    assert json.loads((results / "demo.json").read_text()) == record
    assert (results / "demo.md").read_text() == (out / "summary.md").read_text()
    assert record["settings"]["quick"] is True and record["command"] == "mobilebert demo --quick"
    # the summary's accuracies are the export reports' (gated on real SST-2 dev sentences)
    for name in ("student_none", "student_int8-mixed", "student_none_dynamic", "student_int8-mixed_dynamic"):
        report = json.loads((out / "tflite" / f"{name}.tflite.report.json").read_text())
        assert record["accuracy"][name]["metric"] == report["metric"]
        if not name.endswith("dynamic"):  # the table shows the fixed exports' accuracy
            assert f"{report['metric']['tflite']:.3f}" in (out / "summary.md").read_text(), name
    # every model was timed; the real-length run timed fixed and dynamic on the same sentences
    real = record["latency"]["real_length"]
    assert real["examples"] == 32 and 2 < real["mean_tokens"] <= real["max_tokens"] <= 64
    for name, r in {**record["latency"]["results"], **real["results"]}.items():
        assert r["p50_ms"] > 0 and r["runs"] >= 20, name
    # held-out metrics of both models, on the same held-out examples
    heldout = record["heldout"]
    assert heldout["teacher"]["examples"] == heldout["student"]["examples"] > 0
    summary = (out / "summary.md").read_text()
    assert "Real-length latency" in summary and "masked-LM accuracy student" in summary

    # a second invocation finds every step done and rewrites the same summary
    second = _demo(out)
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.stdout.count("done already") == len(STEPS)
    assert (out / "summary.md").read_text() == summary
