"""Distillation: layer maps, strategy schedules, which weights each progressive stage trains (frozen
and LR-multiplier modes, checked by which variables change and by how much), the transfer loss
going down, resume in the middle of a stage, the CLI and its errors. Teacher: a tiny random
IB-BERT (LayerNorm, 3 layers); student: a tiny MobileBERT (NoNorm, 2 layers); data: BERT's sample
text at seq 32."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from conftest import CORPUS, VOCAB
from mobilebert_tf.cli import main
from mobilebert_tf.config import ConfigError, MobileBertConfig
from mobilebert_tf.data.pretraining import PretrainingDataConfig, create_pretraining_data
from mobilebert_tf.distillation import DistillConfig, Distiller, make_schedule, resolve_layer_map
from mobilebert_tf.distillation.strategies import EMBEDDINGS
from mobilebert_tf.models import MobileBertForPreTraining
from mobilebert_tf.training import OptimizerConfig
from mobilebert_tf.weights import weights_to_numpy

SHARED = dict(hidden_size=64, embedding_size=32, num_attention_heads=2, attention_probs_dropout_prob=0.0)
TEACHER = MobileBertConfig.from_preset("ib_bert_large", num_hidden_layers=3, intra_bottleneck_size=64,
                                       intermediate_size=128, hidden_dropout_prob=0.0, **SHARED)
STUDENT = MobileBertConfig.from_preset("mobilebert", num_hidden_layers=2, intra_bottleneck_size=32,
                                       intermediate_size=64, num_feedforward_networks=1, **SHARED)
STUDENT_FLAGS = ["--num-layers", "2", "--override", "intra_bottleneck_size=32", "--override", "intermediate_size=64",
                 "--override", "num_feedforward_networks=1"] + [a for k, v in SHARED.items()
                                                                for a in ("--override", f"{k}={v}")]
LR = 1e-2


def run_config(**kw):
    base = dict(steps_per_stage=2, final_steps=1, batch_size=8, warmup_fraction=0.0, seed=5, checkpoint_every=100,
                log_every=1, optimizer=OptimizerConfig(learning_rate=LR))
    return DistillConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("distill") / "data"
    create_pretraining_data([CORPUS / "bert_sample_text.txt"], VOCAB, out,
                            PretrainingDataConfig(seq_len=32, max_predictions=5, dupe_factor=2, seed=2, shards=2))
    return str(out)


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("teacher") / "model"
    MobileBertForPreTraining(TEACHER).build_with_dummy().save_pretrained(path, vocab_file=str(VOCAB))
    return str(path)


# ------------------------------------------------------------------ layer maps and schedules
def test_layer_maps():
    assert resolve_layer_map("uniform", 2, 3) == (1, 2)
    assert resolve_layer_map("uniform", 24, 24) == tuple(range(24))
    assert resolve_layer_map("uniform", 4, 2) == (0, 0, 1, 1)
    assert resolve_layer_map("uniform", 3, 12) == (3, 7, 11)
    assert resolve_layer_map("last", 2, 3) == (1, 2)
    assert resolve_layer_map(" 0:0, 1:2", 2, 3) == (0, 2)
    for spec, message in [("0:3,1:1", "teacher layer 3 in '0:3' is out of range"), ("0:1", r"student layer\(s\) \[1\]"),
                          ("0:1,0:2", "mapped twice"), ("zero:one", "bad entry 'zero:one'"),
                          ("2:0,0:1", "student layer 2")]:
        with pytest.raises(ConfigError, match=message):
            resolve_layer_map(spec, 2, 3)
    with pytest.raises(ConfigError, match="at least as deep"):
        resolve_layer_map("last", 4, 2)


def test_strategy_schedules():
    prog = make_schedule("progressive", 3, 10, 7)
    assert [s.name for s in prog] == ["transfer_layer_0", "transfer_layer_1", "transfer_layer_2",
                                      "pretraining_distillation"]
    assert [s.steps for s in prog] == [10, 10, 10, 7]
    assert [s.transfer_layers for s in prog] == [(0,), (1,), (2,), ()]
    assert prog[0].train_layers == (EMBEDDINGS, 0) and prog[2].lower_layers == () and prog[3].train_all
    mult = make_schedule("progressive", 3, 10, 0, lower_layers="lr-mult", lower_lr_mult=0.3)
    assert len(mult) == 3 and mult[2].lower_layers == (EMBEDDINGS, 0, 1) and mult[2].lower_lr_mult == 0.3
    assert mult[2].lr_multiplier(1, copied=False) == 0.3 and mult[2].lr_multiplier(2, copied=False) == 1.0
    assert mult[2].lr_multiplier(EMBEDDINGS, copied=True) == 0.0 and mult[2].lr_multiplier(None, False) == 0.0
    joint = make_schedule("joint", 3, 10, 7)
    assert [(s.name, s.steps, s.transfer_layers, s.distill) for s in joint] == [
        ("joint_transfer", 30, (0, 1, 2), False), ("pretraining_distillation", 7, (), True)]
    aux = make_schedule("auxiliary", 3, 10, 7)
    assert [(s.name, s.steps, s.transfer_layers, s.distill, s.train_all) for s in aux] == [
        ("auxiliary", 37, (0, 1, 2), True, True)]
    with pytest.raises(ConfigError, match="unknown distillation strategy 'staged'"):
        make_schedule("staged", 3, 10, 7)
    with pytest.raises(ConfigError, match="'strategy'"):
        DistillConfig(strategy="staged")
    with pytest.raises(ConfigError, match="'lower_layers'"):
        DistillConfig(lower_layers="half")
    config = run_config(strategy="joint", layer_map="0:1,1:2")
    assert DistillConfig.from_json(config.to_json()) == config  # nested optimizer and loss configs


# ------------------------------------------------------------------ stages in action
def changed(before: dict, after: dict) -> set[str]:
    return {k for k in after if not np.array_equal(before[k], after[k])}


def layer(weights, i):
    return {k for k in weights if k.startswith(f"encoder/layer_{i}/")}


def decayed(names):
    """Weights under weight decay move at every step they train (LAMB: by lr * |w|); a norm
    parameter or bias with a near-zero gradient may move by less than float32 resolves."""
    return {k for k in names if k.endswith(("kernel", "_embeddings", "extra_output_weights"))}


def assert_trains(before, after, allowed):
    moved = changed(before, after)
    assert moved <= allowed, sorted(moved - allowed)
    assert decayed(allowed) <= moved, sorted(decayed(allowed) - moved)
    return moved


def relative_step(before, after, path):
    return float(np.linalg.norm(after[path] - before[path]) / np.linalg.norm(before[path]))


@pytest.fixture(scope="module")
def progressive_run(teacher_dir, data_dir, tmp_path_factory):
    """Progressive, lower layers frozen, 2 steps per stage + 1 final step; weights snapshot at
    every stage boundary (the run stops there and continues in the same process)."""
    out = str(tmp_path_factory.mktemp("prog") / "student")
    d = Distiller(teacher_dir, STUDENT, data_dir, out, run_config(), progress=False)
    snaps = [weights_to_numpy(d.student)]
    teacher_before = weights_to_numpy(d.teacher)
    histories = []
    for stop in (2, 4, None):
        result = d.run(stop_at=stop)
        histories += result.history
        snaps.append(weights_to_numpy(d.student))
    return {"distiller": d, "snaps": snaps, "history": histories, "result": result, "out": out,
            "teacher_before": teacher_before}


def test_copied_weights_and_frozen_progressive_stages(progressive_run):
    d, snaps = progressive_run["distiller"], progressive_run["snaps"]
    teacher = weights_to_numpy(d.teacher)
    assert sorted(d.not_copied) == ["encoder/embeddings/norm/beta", "encoder/embeddings/norm/gamma"]
    assert "normalization_type differs (teacher layer_norm, student no_norm)" in d.not_copied[
        "encoder/embeddings/norm/gamma"]
    assert len(d.copied) == 13 and "mlm/extra_output_weights" in d.copied and "nsp/seq_relationship/kernel" in d.copied
    for path in d.copied:
        np.testing.assert_array_equal(snaps[0][path], teacher[path])
    norm = {"encoder/embeddings/norm/gamma", "encoder/embeddings/norm/beta"}
    # stage 0: layer 0 and the embedding norm (not copied) train; everything else is frozen
    assert norm <= assert_trains(snaps[0], snaps[1], layer(snaps[0], 0) | norm)
    # stage 1: layer 1 only
    assert_trains(snaps[1], snaps[2], layer(snaps[0], 1))
    # pre-training distillation: every weight, the copied embeddings and heads included
    moved = assert_trains(snaps[2], snaps[3], set(snaps[0]))
    assert {"mlm/transform/kernel", "nsp/seq_relationship/kernel", "encoder/embeddings/word_embeddings"} <= moved
    assert len(moved) > 0.9 * len(snaps[0])
    # the teacher never changes
    assert not changed(progressive_run["teacher_before"], teacher)
    stages = [h["stage"] for h in progressive_run["history"]]
    assert stages == ["transfer_layer_0"] * 2 + ["transfer_layer_1"] * 2 + ["pretraining_distillation"]
    assert progressive_run["result"].finished and d.state.as_dict() == {"global_step": 5, "stage": 3,
                                                                         "stage_step": 0, "batches": 5}
    final = progressive_run["history"][-1]
    assert {"mlm_loss", "nsp_loss", "mlm_accuracy"} <= set(final) and "transfer_loss" not in final
    assert {"feature_map_loss", "attention_loss", "mean_loss", "variance_loss"} <= set(progressive_run["history"][0])


def test_stage_loss_goes_down_and_lower_layers_train_at_lr_multiplier(teacher_dir, data_dir, tmp_path):
    d = Distiller(teacher_dir, STUDENT, data_dir, str(tmp_path / "s"),
                  run_config(steps_per_stage=25, final_steps=0, warmup_fraction=0.1, lower_layers="lr-mult",
                             lower_lr_mult=0.1), progress=False)
    h = d.run(stop_at=25).history  # stage 0: 25 steps
    assert len(h) == 25 and {x["stage"] for x in h} == {"transfer_layer_0"}
    first, last = np.mean([x["transfer_loss"] for x in h[:3]]), np.mean([x["transfer_loss"] for x in h[-3:]])
    fm_first, fm_last = (np.mean([x["feature_map_loss"] for x in part]) for part in (h[:3], h[-3:]))
    assert last < 0.6 * first, (first, last)                   # measured: 0.31
    assert fm_last < 0.3 * fm_first, (fm_first, fm_last)       # measured: 0.12
    # first step of stage 1: layer 1 at the LR, layer 0 and the embedding norm at 0.1 x LR
    before = weights_to_numpy(d.student)
    step = d.run(stop_at=26).history
    after = weights_to_numpy(d.student)
    norm = {"encoder/embeddings/norm/gamma", "encoder/embeddings/norm/beta"}
    assert_trains(before, after, layer(before, 0) | layer(before, 1) | norm)
    lr = step[0]["lr"]
    assert step[0]["stage"] == "transfer_layer_1" and lr == pytest.approx(LR / 2)  # warmup: 2 steps
    # LAMB's trust ratio makes a decayed weight's step exactly lr * mult * |w|
    kernel = "encoder/layer_{}/attention/query/kernel"
    assert relative_step(before, after, kernel.format(1)) == pytest.approx(lr, rel=1e-4)
    assert relative_step(before, after, kernel.format(0)) == pytest.approx(lr * 0.1, rel=1e-4)


def test_resume_mid_stage_matches_uninterrupted(progressive_run, teacher_dir, data_dir, tmp_path):
    """Stopped in the middle of stage 1, resumed by the CLI. Without the final stage (it would
    retrace the heaviest step twice more); the first 4 steps are those of ``progressive_run``."""
    out = str(tmp_path / "student")
    stopped = Distiller(teacher_dir, STUDENT, data_dir, out, run_config(final_steps=0), progress=False).run(stop_at=3)
    assert not stopped.finished
    assert stopped.state == {"global_step": 3, "stage": 1, "stage_step": 1, "batches": 3}
    rc = main(["distill", "--teacher", teacher_dir, "--data", data_dir, "--out", out, "--resume",
               "--steps-per-stage", "2", "--final-steps", "0", "--batch-size", "8", "--warmup-fraction", "0",
               "--seed", "5", "--lr", str(LR), "--checkpoint-every", "100", "--log-every", "1", "--no-progress",
               *STUDENT_FLAGS])
    assert rc == 0
    with open(os.path.join(out, "logs", "metrics.jsonl")) as f:
        resumed = [json.loads(line) for line in f]
    straight = progressive_run["history"][:4]
    assert [(h["step"], h["stage"]) for h in resumed] == [(h["step"], h["stage"]) for h in straight]
    for key in ("loss", "feature_map_loss", "attention_loss", "mean_loss", "variance_loss", "lr"):
        np.testing.assert_allclose([h[key] for h in resumed], [h[key] for h in straight], rtol=0, atol=1e-6)
    got = weights_to_numpy(MobileBertForPreTraining.from_pretrained(out))
    want = progressive_run["snaps"][2]  # after stage 1
    assert max(float(np.abs(got[k] - want[k]).max()) for k in want) <= 1e-6
    info = json.loads(open(os.path.join(out, "model.json")).read())["distilled_from"]
    assert info["strategy"] == "progressive" and info["layer_map"] == [1, 2] and info["steps"] == 4
    assert open(os.path.join(out, "vocab.txt"), "rb").read() == VOCAB.read_bytes()


def test_errors(teacher_dir, data_dir, tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="teacher model directory not found"):
        Distiller(str(tmp_path / "nope"), STUDENT, data_dir, str(tmp_path / "s"), run_config())
    wide = STUDENT.replace(hidden_size=128, num_attention_heads=4)
    with pytest.raises(ConfigError, match=r"hidden_size \(teacher 64, student 128\), num_attention_heads "
                                          r"\(teacher 2, student 4\)"):
        Distiller(teacher_dir, wide, data_dir, str(tmp_path / "s"), run_config())
    args = ["distill", "--teacher", teacher_dir, "--data", data_dir, "--out", str(tmp_path / "c")]
    with pytest.raises(SystemExit):
        main(args + ["--strategy", "staged"])
    assert "invalid choice: 'staged'" in capsys.readouterr().err
    assert main(args + ["--layer-map", "0:7", *STUDENT_FLAGS]) == 1
    assert "teacher layer 7 in '0:7' is out of range [0, 3)" in capsys.readouterr().err
    assert main(["distill", "--teacher", str(tmp_path / "nope"), "--data", data_dir, "--out", "x"]) == 1
    assert "teacher model directory not found" in capsys.readouterr().err
