"""Held-out evaluation of the pre-training objectives (``evaluate-pretraining``, ``--eval-data`` of
pretrain and distill) and truncated encoders (progressive stage k runs layers 1..k only).

Models are tiny real ones saved on disk (an IB-BERT-shaped teacher, a MobileBERT-shaped student);
the held-out set is built from the first lines of the WikiText-2 test split with the pre-training
data code, seeded, exactly as docs/training.md describes."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import CORPUS, VOCAB
from mobilebert_tf.cli import main
from mobilebert_tf.config import ConfigError, MobileBertConfig
from mobilebert_tf.data.pretraining import PretrainingDataConfig, create_pretraining_data, make_pretraining_dataset
from mobilebert_tf.distillation import DistillConfig, Distiller
from mobilebert_tf.models import MobileBertEncoder, MobileBertForPreTraining, MobileBertForSequenceClassification
from mobilebert_tf.training import OptimizerConfig
from mobilebert_tf.training.evaluation import PretrainingEvaluator, evaluate_pretraining
from mobilebert_tf.weights import weights_to_numpy

SHARED = dict(hidden_size=64, embedding_size=32, num_attention_heads=2, attention_probs_dropout_prob=0.0)
TEACHER = MobileBertConfig.from_preset("ib_bert_large", num_hidden_layers=3, intra_bottleneck_size=64,
                                       intermediate_size=128, hidden_dropout_prob=0.0, **SHARED)
STUDENT = MobileBertConfig.from_preset("mobilebert", num_hidden_layers=3, intra_bottleneck_size=32,
                                       intermediate_size=64, num_feedforward_networks=1, **SHARED)
HELDOUT = PretrainingDataConfig(seq_len=32, max_predictions=5, dupe_factor=1, seed=12345)


@pytest.fixture(scope="module")
def heldout_dir(tmp_path_factory):
    """The first 120 lines of the WikiText-2 test split as a held-out pre-training data directory."""
    root = tmp_path_factory.mktemp("heldout")
    lines = (CORPUS / "wikitext-2-wiki.test.tokens").read_text(encoding="utf-8").splitlines(keepends=True)[:120]
    corpus = root / "wiki.test.head.tokens"
    corpus.write_text("".join(lines), encoding="utf-8")
    create_pretraining_data([corpus], VOCAB, root / "data", HELDOUT)
    return str(root / "data")


@pytest.fixture(scope="module")
def train_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "data"
    create_pretraining_data([CORPUS / "bert_sample_text.txt"], VOCAB, out,
                            PretrainingDataConfig(seq_len=32, max_predictions=5, dupe_factor=2, seed=2))
    return str(out)


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("teacher") / "model"
    tf.keras.utils.set_random_seed(1)
    MobileBertForPreTraining(TEACHER).build_with_dummy().save_pretrained(path, vocab_file=str(VOCAB))
    return str(path)


# ------------------------------------------------------------------ truncated encoders
def test_truncated_encoder_equals_full_run_layer_k():
    tf.keras.utils.set_random_seed(3)
    encoder = MobileBertEncoder(STUDENT)
    ids = tf.constant(np.random.RandomState(0).randint(1000, 2000, size=(2, 12)), tf.int32)
    mask = tf.constant([[1] * 12, [1] * 7 + [0] * 5], tf.int32)  # padded: the mask path is exercised too
    inputs = {"input_ids": ids, "input_mask": mask}
    full = encoder(inputs, output_hidden_states=True, output_attentions=True)
    for k in range(1, STUDENT.num_hidden_layers + 1):
        cut = encoder(inputs, output_hidden_states=True, output_attentions=True, num_layers=k)
        assert len(cut["hidden_states"]) == k + 1 and len(cut["attention_probs"]) == k
        np.testing.assert_array_equal(cut["sequence_output"], full["hidden_states"][k])
        np.testing.assert_array_equal(cut["attention_probs"][k - 1], full["attention_probs"][k - 1])
        np.testing.assert_array_equal(cut["attention_scores"][k - 1], full["attention_scores"][k - 1])
    with pytest.raises(ValueError, match="num_layers must be an integer in \\[1, 3\\]"):
        encoder(inputs, num_layers=4)
    with pytest.raises(ValueError, match="num_layers"):
        encoder(inputs, num_layers=0)


@pytest.mark.slow
def test_progressive_stages_truncate_and_train_the_same(teacher_dir, train_dir, tmp_path):
    config = DistillConfig(strategy="progressive", steps_per_stage=2, final_steps=1, batch_size=8, seed=4,
                           warmup_fraction=0.0, checkpoint_every=100, log_every=1,
                           optimizer=OptimizerConfig(learning_rate=1e-2))
    runs = {}
    for truncate in (True, False):
        d = Distiller(teacher_dir, STUDENT, train_dir, tmp_path / f"t{truncate}", config, truncate=truncate,
                      progress=False)
        depths = [d.stage_depths(s) for s in d.stages]
        # uniform map 3 -> 3 layers: stage k compares student k with teacher k; the final stage runs all
        assert depths == ([(1, 1), (2, 2), (3, 3), (None, None)] if truncate else [(None, None)] * 4)
        d.run()
        runs[truncate] = weights_to_numpy(d.student)
    for name, value in runs[True].items():
        np.testing.assert_allclose(value, runs[False][name], rtol=1e-4, atol=1e-6, err_msg=name)


# ------------------------------------------------------------------ evaluate-pretraining
def _reference_metrics(model, data, limit):
    """The same metrics from the model's own call (MLM logits at every position), in NumPy."""
    ce_sum = correct = weights_sum = nsp_correct = n = 0.0
    for batch in make_pretraining_dataset(data, 5, shuffle=False, drop_remainder=False):
        out = model({k: batch[k] for k in ("input_ids", "input_mask", "segment_ids")})
        logits = tf.gather(out["mlm_logits"], batch["masked_lm_positions"], batch_dims=1).numpy()
        logits = logits - logits.max(-1, keepdims=True)
        log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        labels, w = batch["masked_lm_ids"].numpy(), batch["masked_lm_weights"].numpy()
        for i in range(len(labels)):
            if n >= limit:
                break
            n += 1
            ce_sum += float(-(np.take_along_axis(log_probs[i], labels[i][:, None], -1)[:, 0] * w[i]).sum())
            correct += float(((log_probs[i].argmax(-1) == labels[i]) * w[i]).sum())
            weights_sum += float(w[i].sum())
            nsp_correct += float(out["nsp_logits"].numpy()[i].argmax() == batch["next_sentence_labels"].numpy()[i])
    return {"mlm_loss": ce_sum / weights_sum, "mlm_accuracy": correct / weights_sum, "nsp_accuracy": nsp_correct / n}


def test_evaluate_pretraining_cli(teacher_dir, heldout_dir, tmp_path, capsys):
    manifest = json.loads(open(os.path.join(heldout_dir, "manifest.json")).read())
    assert manifest["num_instances"] >= 40 and manifest["settings"]["seed"] == 12345
    assert main(["evaluate-pretraining", "--model", teacher_dir, "--data", heldout_dir, "--max-examples", "40",
                 "--batch-size", "16"]) == 0
    assert "MLM accuracy" in capsys.readouterr().out
    result = json.loads(open(os.path.join(teacher_dir, "eval_pretraining.json")).read())
    assert result["examples"] == 40 and result["data_seed"] == 12345
    reference = _reference_metrics(MobileBertForPreTraining.from_pretrained(teacher_dir), heldout_dir, 40)
    for key, value in reference.items():
        assert result[key] == pytest.approx(value, rel=1e-4), key
    # untrained: about ln(vocab) and chance accuracy
    assert abs(result["mlm_loss"] - np.log(TEACHER.vocab_size)) < 1.5
    # deterministic, and independent of the batch size
    out = tmp_path / "again.json"
    assert main(["evaluate-pretraining", "--model", teacher_dir, "--data", heldout_dir, "--max-examples", "40",
                 "--batch-size", "7", "--output", str(out)]) == 0
    again = json.loads(out.read_text())
    for key in ("mlm_loss", "mlm_accuracy", "nsp_accuracy", "masked_predictions"):
        assert again[key] == pytest.approx(result[key], rel=1e-5), key


def test_evaluate_pretraining_errors(teacher_dir, heldout_dir, tmp_path, capsys):
    assert main(["evaluate-pretraining", "--model", teacher_dir, "--data", str(tmp_path / "nope")]) == 1
    assert "held-out data directory not found" in capsys.readouterr().err
    clf = tmp_path / "clf"
    MobileBertForSequenceClassification(TEACHER, num_labels=2).build_with_dummy().save_pretrained(clf)
    assert main(["evaluate-pretraining", "--model", str(clf), "--data", heldout_dir]) == 1
    assert "holds a classification model" in capsys.readouterr().err
    other = tmp_path / "other_vocab"
    MobileBertForPreTraining(TEACHER).build_with_dummy().save_pretrained(other)
    (other / "vocab.txt").write_text("[PAD]\n[UNK]\n", encoding="utf-8")
    assert main(["evaluate-pretraining", "--model", str(other), "--data", heldout_dir]) == 1
    assert "differs from the vocab the held-out data was written with" in capsys.readouterr().err
    small = tmp_path / "small_vocab"
    MobileBertForPreTraining(TEACHER.replace(vocab_size=100)).build_with_dummy().save_pretrained(small)
    assert main(["evaluate-pretraining", "--model", str(small), "--data", heldout_dir]) == 1
    assert "30522-token vocab but the model has vocab_size 100" in capsys.readouterr().err


# ------------------------------------------------------------------ --eval-data during training
def _events(log_dir):
    tags = {}
    for name in os.listdir(log_dir):
        if name.startswith("events.out.tfevents"):
            for raw in tf.data.TFRecordDataset(os.path.join(log_dir, name)):
                event = tf.compat.v1.Event.FromString(raw.numpy())
                for v in event.summary.value:
                    tags.setdefault(v.tag, []).append(event.step)
    return tags


def test_pretrain_cli_logs_heldout_metrics(train_dir, heldout_dir, tmp_path, capsys):
    out = tmp_path / "run"
    flags = [a for k, v in SHARED.items() for a in ("--override", f"{k}={v}")]
    assert main(["pretrain", "--preset", "mobilebert", "--num-layers", "2", "--override", "intra_bottleneck_size=32",
                 "--override", "intermediate_size=64", "--override", "num_feedforward_networks=1", *flags,
                 "--data", train_dir, "--out", str(out), "--steps", "6", "--warmup", "0", "--batch-size", "8",
                 "--lr", "5e-2",
                 "--eval-data", heldout_dir, "--eval-every", "3", "--eval-examples", "24", "--no-progress"]) == 0
    assert "held-out at step 6" in capsys.readouterr().out
    records = [json.loads(line) for line in (out / "logs" / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if "eval" in r]
    assert [r["step"] for r in evals] == [0, 3, 6]
    assert all(r["eval"]["examples"] == 24 for r in evals)
    assert evals[-1]["eval"]["mlm_loss"] < evals[0]["eval"]["mlm_loss"] - 0.1  # it learns something real
    tags = _events(out / "logs")
    assert tags["eval/mlm_accuracy"] == [0, 3, 6] and tags["eval/nsp_accuracy"] == [0, 3, 6]
    # the final model's held-out numbers are what evaluate-pretraining gives
    model = MobileBertForPreTraining.from_pretrained(out)
    again = evaluate_pretraining(model, heldout_dir, max_examples=24)
    assert again["mlm_loss"] == pytest.approx(evals[-1]["eval"]["mlm_loss"], rel=1e-4)
    assert main(["pretrain", "--data", train_dir, "--out", str(tmp_path / "bad"), "--eval-every", "3"]) == 1
    assert "--eval-every needs --eval-data" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_distill_logs_student_heldout_metrics(teacher_dir, train_dir, heldout_dir, tmp_path):
    config = DistillConfig(strategy="joint", steps_per_stage=1, final_steps=2, batch_size=8, seed=4,
                           checkpoint_every=100, optimizer=OptimizerConfig(learning_rate=1e-2))
    d = Distiller(teacher_dir, STUDENT, train_dir, tmp_path / "student", config, eval_data=heldout_dir,
                  eval_every=2, eval_examples=16, progress=False)
    result = d.run()
    assert [e["step"] for e in result.evals] == [0, 2, 4, 5]
    jsonl = [json.loads(line) for line in (tmp_path / "student" / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in jsonl if "eval" in r] == [0, 2, 4, 5]
    final = PretrainingEvaluator(heldout_dir, max_examples=16)(MobileBertForPreTraining.from_pretrained(
        tmp_path / "student"))
    assert final["mlm_accuracy"] == pytest.approx(result.evals[-1]["eval"]["mlm_accuracy"], abs=1e-6)
    with pytest.raises(ConfigError, match="eval-every must be a positive integer"):
        Distiller(teacher_dir, STUDENT, train_dir, tmp_path / "x", config, eval_data=heldout_dir, eval_every=0)
