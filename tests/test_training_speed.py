"""``benchmarks/training_speed.py --quick``: our pre-training step and HF transformers' (torch CPU) on the same
tiny config and the same real batches, side by side; the report's numbers come from the measured steps."""
from __future__ import annotations

import json
import statistics

import pytest

from mobilebert_tf.benchmarks import training_speed


@pytest.mark.slow
def test_training_speed_quick(tmp_path, shared_data):
    assert training_speed.main(["--quick", "--data", str(shared_data), "--work-dir", str(tmp_path / "work"),
                                "--results", str(tmp_path / "results")]) == 0
    r = json.loads((tmp_path / "results" / "training_speed.json").read_text())
    row = r["models"]["quick"]
    assert r["quick"] and r["batch_size"] == 4 and r["seq_len"] == 32
    assert len(row["ours_step_seconds"]) == len(row["torch_step_seconds"]) == 2
    for side in ("ours", "torch"):
        assert row[f"{side}_tokens_per_second"] == pytest.approx(
            4 * 32 / statistics.median(row[f"{side}_step_seconds"]), rel=1e-2)
    assert row["ratio_ours_over_torch"] == pytest.approx(
        row["ours_tokens_per_second"] / row["torch_tokens_per_second"], rel=1e-2)
    md = (tmp_path / "results" / "training_speed.md").read_text()
    assert "QUICK smoke run" in md and f"{row['ratio_ours_over_torch']}x" in md
