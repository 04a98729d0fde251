"""Google TF1 checkpoints: import (parity with HF on the same weights), write-back, bad checkpoints, CLI.

Fixtures are real TF1 checkpoints: tf.compat.v1 variables in a tf.Graph saved by tf.compat.v1.train.Saver,
with Google's variable names and shapes (spelled out here independently of the production table), values
taken from a random HF model, plus adam_m/adam_v slots and global_step. Vocab is reduced to keep it fast.
"""
import json
import os
import re
import shutil

import numpy as np
import pytest
import tensorflow as tf

from mobilebert_tf import (CheckpointError, ConfigError, MobileBertConfig, MobileBertForPreTraining,
                           MobileBertForQuestionAnswering, MobileBertForSequenceClassification)
from mobilebert_tf.checkpoints import detect_format, loader, tf1
from mobilebert_tf.weights import weights_to_numpy
from tests.hf_utils import padded_batch, random_hf_model, run_hf

TOL = 1e-4
VOCAB = 2048
LAYERS = 2

# Google's released bert_config.json files (google-research/mobilebert/config), verbatim values.
BASE = {"attention_probs_dropout_prob": 0.1, "hidden_dropout_prob": 0.0, "hidden_size": 512, "initializer_range": 0.02,
        "intermediate_size": 512, "max_position_embeddings": 512, "num_attention_heads": 4, "num_hidden_layers": 24,
        "type_vocab_size": 2, "vocab_size": 30522, "embedding_size": 128, "trigram_input": True,
        "use_bottleneck": True, "intra_bottleneck_size": 128}
GOOGLE_CONFIGS = {
    "mobilebert": {**BASE, "hidden_act": "relu", "key_query_shared_bottleneck": True, "num_feedforward_networks": 4,
                   "normalization_type": "no_norm", "classifier_activation": False},
    "mobilebert_tiny": {**BASE, "hidden_act": "relu", "use_bottleneck_attention": True,
                        "num_feedforward_networks": 2, "normalization_type": "no_norm",
                        "classifier_activation": False},
    "mobilebert_qat": {**BASE, "hidden_act": "relu6", "key_query_shared_bottleneck": True,
                       "num_feedforward_networks": 4, "normalization_type": "no_norm",
                       "classifier_activation": False},
    # no released JSON: the OPT config with LayerNorm and GELU (paper's MobileBERT w/o OPT)
    "mobilebert_no_opt": {**BASE, "hidden_act": "gelu", "key_query_shared_bottleneck": True,
                          "num_feedforward_networks": 4, "normalization_type": "layer_norm",
                          "classifier_activation": False},
    # uncased_L-24_H-1024_B-512_A-4.json (the IB-BERT_LARGE teacher): most keys left to Google's defaults
    "ib_bert_large": {"attention_probs_dropout_prob": 0.1, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
                      "hidden_size": 512, "initializer_range": 0.02, "intermediate_size": 4096,
                      "max_position_embeddings": 512, "num_attention_heads": 4, "num_hidden_layers": 24,
                      "type_vocab_size": 2, "vocab_size": 30522, "embedding_size": 128, "trigram_input": True,
                      "use_bottleneck": True, "intra_bottleneck_size": 1024},
}


def small_google_config(preset, **extra):
    return {**GOOGLE_CONFIGS[preset], "num_hidden_layers": LAYERS, "vocab_size": VOCAB, **extra}


def our_config(preset, **extra):
    """The config our importer must produce for GOOGLE_CONFIGS[preset] at test size."""
    act = {"mobilebert_no_opt": "gelu_new", "ib_bert_large": "gelu_new"}.get(preset)
    values = dict(num_hidden_layers=LAYERS, vocab_size=VOCAB, classifier_activation=preset == "ib_bert_large")
    if act:
        values["hidden_act"] = act
    return MobileBertConfig.from_preset(preset, **{**values, **extra})


# ------------------------------------------------------------------ Google names, independently of tf1.TABLE
def google_name(hf_name: str, no_norm: bool):
    """HF parameter name -> (Google TF1 variable name, transpose?) following Google's modeling.py scopes."""
    if hf_name == "cls.predictions.dense.weight":
        return "cls/predictions/extra_output_weights", True  # HF [H-E, V], Google [V, H-E]
    if hf_name == "cls.predictions.bias":
        return "cls/predictions/output_bias", False
    n = hf_name.replace("mobilebert.", "bert.", 1)
    n = re.sub(r"encoder\.layer\.(\d+)\.", r"encoder.layer_\1.", n)
    n = re.sub(r"\.ffn\.(\d+)\.", r".ffn_layer_\1.", n)
    if no_norm and not n.startswith("cls."):
        n = n.replace("LayerNorm", "FakeLayerNorm")
    scope, leaf = n.rsplit(".", 1)
    scope = scope.replace(".", "/")
    heads = {"cls/seq_relationship": "cls/seq_relationship/", "classifier": "", "qa_outputs": "cls/squad/"}
    if scope in heads:  # Google's output_weights are [out, in] like torch
        return heads[scope] + ("output_weights" if leaf == "weight" else "output_bias"), False
    if scope.endswith(("word_embeddings", "position_embeddings", "token_type_embeddings")):
        return scope, False
    if scope.endswith("LayerNorm"):
        return f"{scope}/{'gamma' if leaf == 'weight' else 'beta'}", False
    return f"{scope}/{'kernel' if leaf == 'weight' else 'bias'}", leaf == "weight"


def google_variables(hf_model, no_norm: bool) -> dict:
    out = {}
    for name, tensor in hf_model.state_dict().items():
        if name.startswith("cls.predictions.decoder.") or name.endswith("position_ids"):
            continue  # tied to the word embeddings / output bias; a buffer
        value = tensor.detach().numpy()
        theirs, transpose = google_name(name, no_norm)
        out[theirs] = np.ascontiguousarray(value.T) if transpose else value
    return out


def write_google_checkpoint(folder, variables, google_config, *, slots=True, step=1000, vocab=True) -> str:
    """A TF1 checkpoint as Google's training wrote it: Saver over graph variables (+ slots, global_step)."""
    os.makedirs(folder, exist_ok=True)
    graph = tf.Graph()
    with graph.as_default():
        tf_vars = {}
        for name, value in variables.items():
            tf_vars[name] = tf.compat.v1.get_variable(name, shape=value.shape, dtype=tf.float32)
            if slots:  # Google's AdamWeightDecay / LAMB slots
                for slot in ("adam_m", "adam_v"):
                    tf.compat.v1.get_variable(f"{name}/{slot}", shape=value.shape, dtype=tf.float32,
                                              initializer=tf.compat.v1.zeros_initializer())
        tf.compat.v1.train.get_or_create_global_step()
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            for name, value in variables.items():
                tf_vars[name].load(value, sess)
            prefix = saver.save(sess, os.path.join(folder, "model.ckpt"), global_step=step, write_meta_graph=False)
    with open(os.path.join(folder, "bert_config.json"), "w") as f:
        json.dump(google_config, f, indent=2)
    if vocab:
        with open(os.path.join(folder, "vocab.txt"), "w") as f:
            f.write("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello"]) + "\n")
    return prefix


def random_hf(kind, config, seed=0, **extra):
    return random_hf_model(kind, config, seed, **extra)  # every parameter perturbed, biases included


def masked_max_diff(a, b, mask):
    return float(np.abs(np.where(mask[..., None].astype(bool), a - b, 0)).max())


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def mobilebert_ckpt(tmp_path_factory):
    """(folder, prefix, hf model, variables) for the released MobileBERT config at 2 layers."""
    config = our_config("mobilebert")
    hf_model = random_hf("MobileBertForPreTraining", config)
    variables = google_variables(hf_model, no_norm=True)
    folder = str(tmp_path_factory.mktemp("tf1") / "uncased_L-2_H-128_B-512_A-4_F-4_OPT")
    prefix = write_google_checkpoint(folder, variables, small_google_config("mobilebert"))
    return folder, prefix, hf_model, variables


# ------------------------------------------------------------------ parity with HF
@pytest.mark.parametrize("preset", ["mobilebert", "mobilebert_tiny", "mobilebert_no_opt", "mobilebert_qat"])
def test_tf1_import_matches_hf(preset, tmp_path, mobilebert_ckpt):
    config = our_config(preset)
    if preset == "mobilebert":
        folder, _, hf_model, _ = mobilebert_ckpt
    else:
        hf_model = random_hf("MobileBertForPreTraining", config)
        if preset == "mobilebert_qat":  # push FFN pre-activations past 6 so that relu6 != relu
            import torch

            with torch.no_grad():
                for name, p in hf_model.named_parameters():
                    if "intermediate.dense.weight" in name:
                        p.mul_(40.0)
        folder = str(tmp_path / "ckpt")
        write_google_checkpoint(folder, google_variables(hf_model, config.normalization_type == "no_norm"),
                                small_google_config(preset))
    quirk = config.normalization_type == "layer_norm"  # HF's eps 1e-5 in two LayerNorms
    ours = MobileBertForPreTraining.from_pretrained(folder, attention_mask_mode="additive", hf_norm_eps_quirk=quirk)
    expected = config.replace(attention_mask_mode="additive", hf_norm_eps_quirk=quirk)
    assert ours.config == expected
    batch = padded_batch(vocab=VOCAB)
    theirs = run_hf(hf_model, batch, output_hidden_states=True)
    out = ours(batch, output_hidden_states=True)
    mask = batch["input_mask"]
    diffs = {"hidden_states": max(masked_max_diff(a.numpy(), b.numpy(), mask)
                                  for a, b in zip(theirs.hidden_states, out["hidden_states"])),
             "mlm_logits": masked_max_diff(theirs.prediction_logits.numpy(), out["mlm_logits"].numpy(), mask),
             "nsp_logits": float(np.abs(theirs.seq_relationship_logits.numpy() - out["nsp_logits"].numpy()).max())}
    # float32 round-off grows with the values' magnitude: TOL absolute for O(1) tensors, relative above that.
    # Measured: about 1e-6 for three presets; 1.3e-4 of 7.4 for relu6, whose x40 FFN kernels make the FFN
    # pre-activations 40 times larger (and their round-off with them). A mis-mapped weight is off by > 1e-2.
    scales = {"hidden_states": max(float(np.abs(h.numpy()).max()) for h in theirs.hidden_states),
              "mlm_logits": float(np.abs(theirs.prediction_logits.numpy()).max()),
              "nsp_logits": float(np.abs(theirs.seq_relationship_logits.numpy()).max())}
    print(f"\n{preset} TF1 import vs HF max abs diff: " + ", ".join(f"{k} {v:.2e} (of {scales[k]:.1f})"
                                                                   for k, v in diffs.items()))
    assert all(v <= TOL * max(1.0, scales[k]) for k, v in diffs.items()), (diffs, scales)
    if preset == "mobilebert_qat":  # the clipping matters on these weights: plain relu is far off
        relu = MobileBertForPreTraining.from_pretrained(folder, attention_mask_mode="additive", hidden_act="relu")
        assert masked_max_diff(theirs.hidden_states[-1].numpy(), relu(batch)["sequence_output"].numpy(), mask) > 1e-2


def test_google_mask_mode_is_the_default_and_agrees_unpadded(mobilebert_ckpt):
    folder, _, hf_model, _ = mobilebert_ckpt
    ours = MobileBertForPreTraining.from_pretrained(folder)
    assert ours.config.attention_mask_mode == "google" and ours.config.google_mask_value == -6.0
    batch = padded_batch(batch=1, vocab=VOCAB)  # row 0 is unpadded
    diff = np.abs(run_hf(hf_model, batch).prediction_logits.numpy() - ours(batch)["mlm_logits"].numpy()).max()
    assert diff <= TOL


@pytest.mark.parametrize("kind, task", [("MobileBertForSequenceClassification", "classifier"),
                                        ("MobileBertForQuestionAnswering", "qa")])
def test_tf1_task_heads_match_hf(kind, task, tmp_path):
    config = our_config("mobilebert")
    hf_model = random_hf(kind, config, seed=1, num_labels=3 if task == "classifier" else 2)
    variables = google_variables(hf_model, no_norm=True)
    head = "output_weights" if task == "classifier" else "cls/squad/output_weights"
    assert variables[head].shape == ((3, 512) if task == "classifier" else (2, 512))  # Google: [out, in]
    folder = str(tmp_path / "ckpt")
    write_google_checkpoint(folder, variables, small_google_config("mobilebert"))
    # the CLI picks the task from the heads (and num_labels from output_weights)
    from mobilebert_tf.cli import main

    assert main(["import", "--from", "tf1", folder, "--out", str(tmp_path / "ours"),
                 "--attention-mask-mode", "additive"]) == 0
    cls = MobileBertForSequenceClassification if task == "classifier" else MobileBertForQuestionAnswering
    info = json.loads((tmp_path / "ours" / "model.json").read_text())
    assert info["model_class"] == cls.__name__
    ours = cls.from_pretrained(tmp_path / "ours")
    batch = padded_batch(vocab=VOCAB)
    theirs, out = run_hf(hf_model, batch), ours(batch)
    if task == "classifier":
        assert ours.num_labels == 3
        diff = np.abs(theirs.logits.numpy() - out["logits"].numpy()).max()
    else:
        mask = batch["input_mask"].astype(bool)
        diff = max(np.abs(np.where(mask, getattr(theirs, k).numpy() - out[k].numpy(), 0)).max()
                   for k in ("start_logits", "end_logits"))
    print(f"\n{task} TF1 import vs HF max abs diff: {diff:.2e}")
    assert diff <= TOL


def test_pretraining_checkpoint_into_task_model_takes_encoder(mobilebert_ckpt):
    folder, _, _, _ = mobilebert_ckpt
    pre = MobileBertForPreTraining.from_pretrained(folder)
    qa = MobileBertForQuestionAnswering.from_pretrained(folder)
    batch = padded_batch(batch=2, seq=10, vocab=VOCAB)
    np.testing.assert_array_equal(qa(batch)["sequence_output"].numpy(), pre(batch)["sequence_output"].numpy())
    _, report = loader.load(MobileBertForSequenceClassification, folder)
    assert report["task"] == "pretraining"
    assert "cls/predictions/extra_output_weights" in report["unused"]


# ------------------------------------------------------------------ what is skipped, paths
def test_slots_and_global_step_are_skipped(mobilebert_ckpt):
    _, prefix, _, variables = mobilebert_ckpt
    listed = dict(tf.train.list_variables(prefix))
    assert "global_step" in listed
    assert "bert/encoder/layer_0/attention/self/query/kernel/adam_m" in listed
    skipped = [n for n in listed if tf1.is_skipped(n)]
    assert len(skipped) == 2 * len(variables) + 1
    _, report = loader.load(MobileBertForPreTraining, prefix)
    assert sorted(report["skipped"]) == sorted(skipped)
    assert report["loaded"] == len(variables) == len(listed) - len(skipped)


def test_checkpoint_paths_and_format_detection(mobilebert_ckpt, tmp_path):
    folder, prefix, _, _ = mobilebert_ckpt
    assert os.path.basename(prefix) == "model.ckpt-1000"
    for path in (folder, prefix, prefix + ".index", prefix + ".data-00000-of-00001"):
        assert detect_format(path) == "tf1"
        assert tf1.resolve(path) == (prefix, os.path.join(folder, "bert_config.json"))
    # no 'checkpoint' state file (or a stale one from the training machine): the single *.index is used
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    (copy / "checkpoint").write_text('model_checkpoint_path: "/gcs/bucket/run/model.ckpt-1000"\n')
    assert tf1.resolve(str(copy))[0] == str(copy / "model.ckpt-1000")
    os.remove(copy / "checkpoint")
    assert tf1.resolve(str(copy))[0] == str(copy / "model.ckpt-1000")
    for suffix in (".index", ".data-00000-of-00001"):
        shutil.copy(copy / f"model.ckpt-1000{suffix}", copy / f"model.ckpt-2000{suffix}")
    with pytest.raises(CheckpointError, match="several TF1 checkpoints"):
        tf1.resolve(str(copy))
    os.remove(copy / "bert_config.json")
    with pytest.raises(CheckpointError, match="bert_config.json"):
        MobileBertForPreTraining.from_pretrained(str(copy / "model.ckpt-1000"))


# ------------------------------------------------------------------ write-back and round trips
def test_tf1_round_trip_bit_exact(mobilebert_ckpt, tmp_path):
    folder, _, _, variables = mobilebert_ckpt
    ours = MobileBertForPreTraining.from_pretrained(folder)
    prefix = tf1.save_tf1_checkpoint(ours, str(tmp_path / "out"), vocab_file=os.path.join(folder, "vocab.txt"))
    written = tf1.read_tf1_checkpoint(prefix)
    assert sorted(written) == sorted(variables)  # Google's names, nothing more
    for name, value in variables.items():
        np.testing.assert_array_equal(written[name], value, err_msg=name)
    assert json.loads((tmp_path / "out" / "bert_config.json").read_text()) == {
        **tf1.GOOGLE_DEFAULTS, **small_google_config("mobilebert")}
    again = MobileBertForPreTraining.from_pretrained(str(tmp_path / "out"))
    a, b = weights_to_numpy(ours), weights_to_numpy(again)
    assert sorted(a) == sorted(b)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert [p for p in os.listdir(tmp_path / "out") if ".tmp" in p] == []


@pytest.mark.parametrize("preset", ["mobilebert_tiny", "mobilebert_no_opt", "bert_base"])
def test_table_covers_every_weight_both_ways(preset):
    config = MobileBertConfig.from_preset(preset, num_hidden_layers=2, vocab_size=VOCAB,
                                          **({"hidden_act": "gelu_new"} if preset != "mobilebert_tiny" else {}))
    model = MobileBertForSequenceClassification(config, num_labels=4).build_with_dummy()
    ours = weights_to_numpy(model)
    theirs = tf1.ours_to_tf1(ours, config)
    assert theirs["output_weights"].shape == (4, config.hidden_size)
    back = tf1.tf1_to_ours(theirs, config)
    assert sorted(back) == sorted(ours)
    for name in ours:
        np.testing.assert_array_equal(back[name], ours[name], err_msg=name)


# ------------------------------------------------------------------ the teacher (no HF reference possible)
def teacher_variables(rng):
    """Google names and shapes of IB-BERT_LARGE (H 512, I 1024, FFN 4096, LayerNorm, pooler), by hand."""
    shapes = {"bert/embeddings/word_embeddings": (VOCAB, 128), "bert/embeddings/position_embeddings": (512, 512),
              "bert/embeddings/token_type_embeddings": (2, 512),
              "bert/embeddings/embedding_transformation/kernel": (384, 512),
              "bert/embeddings/embedding_transformation/bias": (512,),
              "bert/embeddings/LayerNorm/gamma": (512,), "bert/embeddings/LayerNorm/beta": (512,),
              "bert/pooler/dense/kernel": (512, 512), "bert/pooler/dense/bias": (512,),
              "cls/predictions/transform/dense/kernel": (512, 512), "cls/predictions/transform/dense/bias": (512,),
              "cls/predictions/transform/LayerNorm/gamma": (512,), "cls/predictions/transform/LayerNorm/beta": (512,),
              "cls/predictions/output_bias": (VOCAB,), "cls/predictions/extra_output_weights": (VOCAB, 384),
              "cls/seq_relationship/output_weights": (2, 512), "cls/seq_relationship/output_bias": (2,)}
    for i in range(LAYERS):
        p = f"bert/encoder/layer_{i}/"
        for name, (din, dout) in {"bottleneck/input/dense": (512, 1024), "attention/self/query": (512, 1024),
                                  "attention/self/key": (512, 1024), "attention/self/value": (512, 1024),
                                  "attention/output/dense": (1024, 1024), "intermediate/dense": (1024, 4096),
                                  "output/dense": (4096, 1024), "output/bottleneck/dense": (1024, 512)}.items():
            shapes[p + name + "/kernel"], shapes[p + name + "/bias"] = (din, dout), (dout,)
        for name, width in {"bottleneck/input/LayerNorm": 1024, "attention/output/LayerNorm": 1024,
                            "output/LayerNorm": 1024, "output/bottleneck/LayerNorm": 512}.items():
            shapes[p + name + "/gamma"], shapes[p + name + "/beta"] = (width,), (width,)
    return {n: (rng.standard_normal(s) * 0.02).astype(np.float32) for n, s in shapes.items()}


def test_teacher_ib_bert_large_imports_and_runs(tmp_path):
    variables = teacher_variables(np.random.default_rng(0))
    folder = str(tmp_path / "teacher")
    write_google_checkpoint(folder, variables, small_google_config("ib_bert_large"), slots=False)
    model = MobileBertForPreTraining.from_pretrained(folder)
    c = model.config
    assert (c.intra_bottleneck_size, c.intermediate_size, c.num_feedforward_networks) == (1024, 4096, 1)
    assert (c.key_query_shared_bottleneck, c.use_bottleneck_attention, c.normalization_type) == (False, False,
                                                                                               "layer_norm")
    assert c.hidden_act == "gelu_new" and c.classifier_activation is True  # Google's defaults for absent keys
    weights = weights_to_numpy(model)
    np.testing.assert_array_equal(weights["encoder/layer_1/attention/query/kernel"],
                                  variables["bert/encoder/layer_1/attention/self/query/kernel"])
    np.testing.assert_array_equal(weights["nsp/seq_relationship/kernel"],
                                  variables["cls/seq_relationship/output_weights"].T)
    batch = padded_batch(batch=2, seq=12, vocab=VOCAB)
    out = model(batch)
    assert out["sequence_output"].shape == (2, 12, 512) and out["mlm_logits"].shape == (2, 12, VOCAB)
    assert np.isfinite(out["mlm_logits"].numpy()).all()
    # Q/K/V read the 512-wide block input (Google semantics), so the attention kernels are [512, 1024]
    assert weights["encoder/layer_0/attention/value/kernel"].shape == (512, 1024)


# ------------------------------------------------------------------ bad checkpoints
def test_missing_extra_and_misshaped_variables_listed(mobilebert_ckpt, tmp_path):
    _, _, _, variables = mobilebert_ckpt
    bad = dict(variables)
    del bad["bert/encoder/layer_1/attention/self/key/kernel"]
    bad["bert/encoder/layer_1/attention/self/extra/kernel"] = np.zeros((2, 2), np.float32)
    bad["bert/encoder/layer_0/ffn_layer_1/intermediate/dense/bias"] = np.zeros((256,), np.float32)
    bad["cls/seq_relationship/output_weights"] = np.zeros((3, 512), np.float32)
    folder = str(tmp_path / "bad")
    write_google_checkpoint(folder, bad, small_google_config("mobilebert"), slots=False)
    with pytest.raises(CheckpointError) as err:
        MobileBertForPreTraining.from_pretrained(folder)
    msg = str(err.value)
    assert "missing (1): bert/encoder/layer_1/attention/self/key/kernel\n" in msg
    assert "unexpected (1): bert/encoder/layer_1/attention/self/extra/kernel\n" in msg
    assert ("wrong shape (2): bert/encoder/layer_0/ffn_layer_1/intermediate/dense/bias (checkpoint (256,), model (512,)), "
            "cls/seq_relationship/output_weights (checkpoint (3, 512), model (2, 512))") in msg


def test_config_that_disagrees_with_checkpoint_hints(mobilebert_ckpt, tmp_path):
    folder, _, _, _ = mobilebert_ckpt
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    (copy / "bert_config.json").write_text(json.dumps(small_google_config("mobilebert",
                                                                           normalization_type="layer_norm")))
    with pytest.raises(CheckpointError, match="hint: the checkpoint has FakeLayerNorm variables"):
        MobileBertForPreTraining.from_pretrained(str(copy))


@pytest.mark.parametrize("which", ["data", "index", "empty_index", "no_data"])
def test_truncated_checkpoint_fails_cleanly(which, mobilebert_ckpt, tmp_path):
    folder, prefix, _, _ = mobilebert_ckpt
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    name = os.path.basename(prefix)
    target = copy / (f"{name}.data-00000-of-00001" if which in ("data", "no_data") else f"{name}.index")
    if which == "no_data":
        os.remove(target)
    else:
        data = target.read_bytes()
        target.write_bytes(b"" if which == "empty_index" else data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        MobileBertForPreTraining.from_pretrained(str(copy))


# ------------------------------------------------------------------ Google config keys
@pytest.mark.parametrize("preset", ["mobilebert", "mobilebert_tiny", "mobilebert_qat", "ib_bert_large"])
def test_released_google_configs_map_onto_presets(preset):
    config = tf1.config_from_google_dict(GOOGLE_CONFIGS[preset])
    expected = MobileBertConfig.from_preset(preset)
    if preset == "ib_bert_large":  # Google: gelu = tanh approximation; classifier_activation absent = true
        expected = expected.replace(hidden_act="gelu_new", classifier_activation=True)
    assert config == expected


def test_google_config_errors_and_defaults():
    with pytest.raises(ConfigError, match="'num_expert_layers'"):
        tf1.config_from_google_dict({**GOOGLE_CONFIGS["mobilebert"], "num_expert_layers": 3})
    with pytest.raises(ConfigError, match="hidden_act"):
        tf1.config_from_google_dict({**GOOGLE_CONFIGS["mobilebert"], "hidden_act": "swish"})
    with pytest.raises(ConfigError, match="vocab_size"):
        tf1.config_from_google_dict({"hidden_size": 512})
    # keys of Google's BERT configs that modeling.py never reads are ignored
    assert tf1.config_from_google_dict({**GOOGLE_CONFIGS["mobilebert"], "directionality": "bidi"}) == \
        MobileBertConfig.from_preset("mobilebert")
    # bare BERT keys: Google's own defaults, not ours
    bert = tf1.config_from_google_dict({"vocab_size": 100, "hidden_size": 256, "num_attention_heads": 4})
    assert (bert.embedding_size, bert.intra_bottleneck_size, bert.type_vocab_size) == (256, 256, 16)
    assert (bert.use_bottleneck, bert.trigram_input, bert.key_query_shared_bottleneck) == (False, False, False)
    assert bert.classifier_activation is True and bert.normalization_type == "layer_norm"
    manual = tf1.config_from_google_dict({**GOOGLE_CONFIGS["mobilebert"], "normalization_type": "manual_layer_norm"})
    assert manual.normalization_type == "layer_norm" and manual.layer_norm_eps == 1e-6
    assert tf1.config_to_google_dict(manual)["normalization_type"] == "manual_layer_norm"
    with pytest.raises(ConfigError, match="gelu_new"):
        tf1.config_to_google_dict(MobileBertConfig.from_preset("mobilebert_no_opt"))  # exact erf GELU


# ------------------------------------------------------------------ CLI
def test_cli_import_tf1(mobilebert_ckpt, tmp_path, capsys):
    from mobilebert_tf.cli import main

    folder, prefix, _, variables = mobilebert_ckpt
    dst = str(tmp_path / "imported")
    assert main(["import", "--from", "tf1", folder, "--out", dst]) == 0
    assert f"skipped {2 * len(variables) + 1} optimizer/step variable(s)" in capsys.readouterr().out
    assert sorted(os.listdir(dst)) == ["config.json", "model.json", "vocab.txt", "weights.safetensors"]
    info = json.loads(open(os.path.join(dst, "model.json")).read())
    assert info["model_class"] == "MobileBertForPreTraining" and info["imported_from"]["format"] == "tf1"
    loaded = MobileBertForPreTraining.from_pretrained(dst)
    direct = MobileBertForPreTraining.from_pretrained(prefix)
    batch = padded_batch(batch=2, seq=10, vocab=VOCAB)
    np.testing.assert_array_equal(loaded(batch)["mlm_logits"].numpy(), direct(batch)["mlm_logits"].numpy())
    # a second import into the same directory needs --overwrite; a wrong --from is named
    assert main(["import", "--from", "tf1", folder, "--out", dst]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert main(["import", "--from", "hf", folder, "--out", str(tmp_path / "x")]) == 1
    assert "not a hf checkpoint (it looks like tf1)" in capsys.readouterr().err
