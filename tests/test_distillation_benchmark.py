"""``benchmarks/distillation.py --quick``: every arm of the knowledge-transfer ablation for a few steps at
tiny sizes on the real WikiText-2 splits and GLUE files, end to end (data, teacher, four students with the
same step count, held-out curves, fine-tuning over seeds beside the baselines, json/md/png); and the
fine-tuning benchmark's provenance of a distilled student (model.json ``distilled_from``)."""
from __future__ import annotations

import json

import pytest

from mobilebert_tf.benchmarks import distillation as bench
from mobilebert_tf.benchmarks.finetune import describe_student


@pytest.fixture(scope="module")
def quick(tmp_path_factory, shared_data):
    root = tmp_path_factory.mktemp("bench_distillation")
    work, results = root / "work", root / "results"
    assert bench.main(["--quick", "--data", str(shared_data), "--work-dir", str(work), "--results", str(results)]) == 0
    return {"work": work, "results": results, "json": json.loads((results / "distillation.json").read_text())}


@pytest.mark.slow
def test_quick_ablation_runs_every_arm_with_the_same_budget(quick):
    r = quick["json"]
    budget = bench.QUICK
    assert r["quick"] is True and r["command"].startswith("python benchmarks/distillation.py --quick")
    assert r["budget"]["student_steps"] == budget.student_steps == 4
    assert set(r["arms"]) == set(bench.ARMS)
    for arm, a in r["arms"].items():
        assert a["steps"] == budget.student_steps, arm
        assert [c["step"] for c in a["curve"]] == [0, 2, 4], arm  # start, every eval_every, end
        assert a["tokens_per_second"] > 0 and a["wall_seconds"] > 0
        held = a["heldout"]
        assert held["examples"] == r["data"]["heldout"]["examples"] > 0
        assert 0 <= held["mlm_accuracy"] <= 1 and 0 <= held["nsp_accuracy"] <= 1 and held["mlm_loss"] > 0
    # provenance recorded from model.json: the distiller's distilled_from, pretrain's trained_by
    assert r["arms"]["scratch"]["provenance"]["source"] == "trained_by"
    for arm in bench.KT_ARMS:
        p = r["arms"][arm]["provenance"]
        assert p["source"] == "distilled_from" and p["strategy"] == arm and p["steps"] == budget.student_steps
    assert r["data"]["train"]["corpus"][0]["path"].endswith("wikitext-2-wiki.train.tokens.head300")
    assert r["data"]["heldout"]["seed"] == bench.HELDOUT_SEED


@pytest.mark.slow
def test_quick_ablation_finetunes_over_seeds_and_reports(quick):
    r = quick["json"]
    for task in bench.TASKS:
        f = r["finetune"][task]
        assert {"majority", "tfidf_lr_same_train"} == set(f["baselines"])
        for arm in bench.ARMS:
            for metric in bench.TASK_METRICS[task]:
                m = f["arms"][arm][metric]
                assert len(m["values"]) == len(bench.QUICK.seeds)
                assert m["mean"] == pytest.approx(sum(m["values"]) / len(m["values"]), abs=0.01)
    v = r["verdicts"]
    scratch = r["arms"]["scratch"]["heldout"]["mlm_loss"]
    for arm in bench.KT_ARMS:
        assert v["kt_below_scratch_mlm_loss"][arm]["met"] == (r["arms"][arm]["heldout"]["mlm_loss"] < scratch)
    md = (quick["results"] / "distillation.md").read_text()
    assert "QUICK smoke run, not a result" in md and "| progressive |" in md and "TF-IDF" in md
    assert (quick["results"] / "distillation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_finetune_benchmark_reads_the_distillers_provenance(quick):
    """benchmarks/finetune.py used to look for strategy/teacher/steps at the top level of model.json and
    recorded "provenance": {}; the distiller writes them under distilled_from."""
    student = describe_student(quick["work"] / "progressive")
    p = student["provenance"]
    assert p["strategy"] == "progressive" and p["steps"] == bench.QUICK.student_steps
    assert p["teacher"] == str((quick["work"] / "teacher").resolve())
    assert p["stages"] == ["transfer_layer_0", "transfer_layer_1", "pretraining_distillation"]
    assert student["config"]["num_hidden_layers"] == bench.QUICK.layers
