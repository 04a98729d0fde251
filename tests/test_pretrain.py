"""Pre-training: MLM/NSP losses on hand values, a tiny model trained on real text (BERT's sample
text, seq 32), checkpoint + resume giving the same weights and losses as an uninterrupted run,
TensorBoard scalars, the final model directory, the CLI and its errors."""
from __future__ import annotations

import dataclasses
import glob
import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import CORPUS, VOCAB
from mobilebert_tf.cli import main
from mobilebert_tf.config import ConfigError, MobileBertConfig
from mobilebert_tf.data.pretraining import PretrainingDataConfig, create_pretraining_data
from mobilebert_tf.models import MobileBertForPreTraining
from mobilebert_tf.training import OptimizerConfig, PretrainConfig, pretrain
from mobilebert_tf.training.losses import masked_lm_loss, next_sentence_loss
from mobilebert_tf.weights import weights_to_numpy

TINY = dict(num_hidden_layers=2, hidden_size=64, embedding_size=32, intra_bottleneck_size=32, num_attention_heads=2,
            intermediate_size=64, num_feedforward_networks=1, attention_probs_dropout_prob=0.0)
# The same model as CLI flags.
TINY_FLAGS = ["--num-layers", "2"] + [a for k, v in TINY.items() if k != "num_hidden_layers"
                                      for a in ("--override", f"{k}={v}")]
STEPS, STOP = 8, 3
RUN = PretrainConfig(steps=STEPS, batch_size=8, optimizer=OptimizerConfig(learning_rate=1e-2), seed=3,
                     checkpoint_every=4, log_every=1)


def make_data(out, seq_len=32, seed=1):
    create_pretraining_data([CORPUS / "bert_sample_text.txt"], VOCAB, out,
                            PretrainingDataConfig(seq_len=seq_len, max_predictions=5, dupe_factor=2, seed=seed,
                                                  shards=2))
    return str(out)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return make_data(tmp_path_factory.mktemp("pretrain") / "data")


def test_masked_lm_and_nsp_losses_hand_values():
    # prediction 0: logits [ln 2, 0, 0] -> p(label 0) = 1/2; prediction 1 is padding (weight 0)
    logits = tf.constant([[[math.log(2.0), 0.0, 0.0], [0.0, 0.0, 9.0]]])
    loss, acc = masked_lm_loss(logits, tf.constant([[0, 1]]), tf.constant([[1.0, 0.0]]))
    assert float(loss) == pytest.approx(math.log(2.0), rel=1e-6) and float(acc) == 1.0
    # two real predictions: mean of ln 2 and -ln(e^9/(2+e^9)); label 1 at the second is wrong
    loss, acc = masked_lm_loss(logits, tf.constant([[0, 2]]), tf.constant([[1.0, 1.0]]))
    assert float(loss) == pytest.approx((math.log(2.0) + math.log1p(2 * math.exp(-9.0))) / 2, rel=1e-6)
    assert float(acc) == 1.0
    # soft targets replace the one-hot labels: CE = -(0.5 ln 0.5 + 0.5 ln 0.25)
    loss, _ = masked_lm_loss(logits[:, :1], tf.constant([[0]]), tf.constant([[1.0]]),
                             targets=tf.constant([[[0.5, 0.5, 0.0]]]))
    assert float(loss) == pytest.approx(0.5 * math.log(2.0) + 0.5 * math.log(4.0), rel=1e-6)
    nsp, nsp_acc = next_sentence_loss(tf.constant([[0.0, 0.0], [2.0, 0.0]]), tf.constant([0, 1]))
    assert float(nsp) == pytest.approx((math.log(2.0) + math.log1p(math.exp(2.0))) / 2, rel=1e-6)
    assert float(nsp_acc) == 0.5


@pytest.fixture(scope="module")
def runs(data_dir, tmp_path_factory):
    """A: 8 steps straight. B: stopped after step 3 (checkpoints every 4), then resumed by the CLI."""
    root = tmp_path_factory.mktemp("runs")
    config = MobileBertConfig.from_preset("mobilebert", **TINY)
    a = pretrain(config, data_dir, str(root / "a"), RUN, progress=False)
    b1 = pretrain(config, data_dir, str(root / "b"), RUN, progress=False, stop_at=STOP)
    b_files_after_stop = sorted(os.listdir(root / "b"))
    rc = main(["pretrain", "--data", data_dir, "--out", str(root / "b"), "--resume", "--steps", str(STEPS),
               "--batch-size", "8", "--lr", "1e-2", "--seed", "3", "--checkpoint-every", "4", "--log-every", "1",
               "--no-progress", *TINY_FLAGS])
    return {"config": config, "a": a, "b1": b1, "rc": rc, "root": root, "b_files_after_stop": b_files_after_stop}


def test_resume_gives_the_uninterrupted_run(runs):
    a, b1 = runs["a"], runs["b1"]
    assert runs["rc"] == 0
    assert a.finished and not b1.finished and b1.state == {"global_step": 3, "stage": 0, "stage_step": 3, "batches": 3}
    assert "config.json" not in runs["b_files_after_stop"]  # no model until the run is finished
    with open(runs["root"] / "b" / "logs" / "metrics.jsonl") as f:
        b_history = [json.loads(line) for line in f]
    assert [h["step"] for h in b_history] == list(range(1, STEPS + 1))
    for key in ("loss", "mlm_loss", "nsp_loss", "mlm_accuracy", "lr"):
        np.testing.assert_allclose([h[key] for h in b_history], [h[key] for h in a.history], rtol=0, atol=1e-6)
    resumed = weights_to_numpy(MobileBertForPreTraining.from_pretrained(runs["root"] / "b"))
    straight = weights_to_numpy(a.model)
    assert resumed.keys() == straight.keys()
    assert max(float(np.abs(resumed[k] - straight[k]).max()) for k in straight) <= 1e-6
    # training did something: the weights moved and the MLM loss went down on real text
    init = weights_to_numpy(MobileBertForPreTraining(runs["config"]).build_with_dummy())
    assert a.history[-1]["mlm_loss"] < a.history[0]["mlm_loss"]
    assert a.history[0]["mlm_loss"] == pytest.approx(math.log(30522), abs=0.3)  # uniform guess over the vocab
    assert any(np.abs(init[k] - straight[k]).max() > 1e-3 for k in straight)


def test_run_directory_and_tensorboard_scalars(runs):
    a_dir = runs["root"] / "a"
    assert {"config.json", "weights.safetensors", "model.json", "vocab.txt", "checkpoints", "logs"} <= set(
        os.listdir(a_dir))
    assert (a_dir / "vocab.txt").read_bytes() == VOCAB.read_bytes()
    model = MobileBertForPreTraining.from_pretrained(a_dir)
    assert model.config == runs["config"]
    assert json.loads((a_dir / "model.json").read_text())["trained_by"]["steps"] == STEPS
    ckpts = tf.train.get_checkpoint_state(str(a_dir / "checkpoints")).all_model_checkpoint_paths
    assert [os.path.basename(p) for p in ckpts] == ["ckpt-4", "ckpt-8"]
    scalars = {}
    for path in glob.glob(str(a_dir / "logs" / "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                scalars.setdefault(value.tag, {})[event.step] = float(tf.make_ndarray(value.tensor))
                assert value.metadata.plugin_data.plugin_name == "scalars"
    assert {"loss", "mlm_loss", "mlm_accuracy", "nsp_loss", "nsp_accuracy", "lr"} <= set(scalars)
    assert sorted(scalars["loss"]) == list(range(1, STEPS + 1))
    assert scalars["loss"][STEPS] == pytest.approx(runs["a"].history[-1]["loss"], rel=1e-6)
    # no warmup (10% of 8 steps rounds to 0): linear decay from the peak, last step at peak / 8
    assert scalars["lr"][1] == pytest.approx(1e-2, rel=1e-6) and scalars["lr"][STEPS] == pytest.approx(1e-2 / STEPS)


def test_resume_and_restart_errors(runs, data_dir):
    a_dir = str(runs["root"] / "a")
    config = runs["config"]
    with pytest.raises(ConfigError, match="already holds training checkpoints"):
        pretrain(config, data_dir, a_dir, RUN, progress=False)
    with pytest.raises(ConfigError, match=r"training\.batch_size: checkpoint 8, now 4"):
        pretrain(config, data_dir, a_dir, dataclasses.replace(RUN, batch_size=4), resume=True, progress=False)
    with pytest.raises(ConfigError, match=r"model_config\.num_hidden_layers"):
        pretrain(config.replace(num_hidden_layers=3), data_dir, a_dir, RUN, resume=True, progress=False)
    # resuming a finished run trains nothing and returns at once
    done = pretrain(config, data_dir, a_dir, RUN, resume=True, progress=False)
    assert done.finished and done.history == [] and done.state["global_step"] == STEPS


def test_config_errors(data_dir, tmp_path):
    assert PretrainConfig.from_json(RUN.to_json()) == RUN  # nested OptimizerConfig included
    with pytest.raises(ConfigError, match="unknown key\\(s\\) 'stpes'"):
        PretrainConfig.from_dict({"stpes": 3})
    with pytest.raises(ConfigError, match="'steps'"):
        PretrainConfig(steps=0)
    with pytest.raises(ConfigError, match="'warmup_steps'"):
        PretrainConfig(steps=5, warmup_steps=6)
    with pytest.raises(ConfigError, match="'learning_rate'"):
        OptimizerConfig(learning_rate=-1.0)
    model_dir = MobileBertForPreTraining(MobileBertConfig.from_preset("mobilebert", **TINY)).save_pretrained(
        tmp_path / "model")
    with pytest.raises(ConfigError, match="already holds a model"):
        pretrain(None, data_dir, model_dir, RUN, init_from=model_dir, progress=False)
    small_vocab = MobileBertConfig.from_preset("mobilebert", **TINY, vocab_size=1000)
    with pytest.raises(ConfigError, match="'vocab_size' \\(1000\\) is smaller than the data's vocab \\(30522"):
        pretrain(small_vocab, data_dir, str(tmp_path / "x"), RUN, progress=False)


def test_cli_errors(data_dir, tmp_path, capsys):
    out = str(tmp_path / "y")
    assert main(["pretrain", "--data", data_dir, "--out", out, "--override", "hidden_sise=3"]) == 1
    assert "unknown config key 'hidden_sise'" in capsys.readouterr().err
    assert main(["pretrain", "--data", data_dir, "--out", out, "--override", "hidden_size=big"]) == 1
    assert "hidden_size='big': expected a value of type int" in capsys.readouterr().err
    assert main(["pretrain", "--data", str(tmp_path / "missing"), "--out", out, "--steps", "1"]) == 1
    assert "pre-training data not found" in capsys.readouterr().err
    assert not os.path.exists(out)  # refused before anything was written
