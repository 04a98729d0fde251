"""``export-hf``: our model directories -> HF config.json + model.safetensors that HF loads cleanly."""
import json
import os

import numpy as np
import pytest

from mobilebert_tf import (ConfigError, MobileBertConfig, MobileBertForPreTraining, MobileBertForQuestionAnswering,
                           MobileBertForSequenceClassification)
from mobilebert_tf.checkpoints import hf, tf1
from mobilebert_tf.cli import main
from mobilebert_tf.weights import load_safetensors
from tests.hf_utils import padded_batch, random_hf_pretraining_model, run_hf

TOL = 1e-4
VOCAB = 2048
SMALL = dict(num_hidden_layers=2, vocab_size=VOCAB)


def load_hf(kind, path):
    import transformers

    model, info = getattr(transformers, kind).from_pretrained(path, output_loading_info=True)
    return model.eval(), info


def assert_clean(info):
    problems = {k: v for k, v in info.items() if v}
    assert not problems, problems


def test_hf_ours_hf_round_trip_bit_exact(tmp_path):
    """HF -> import -> our dir -> export-hf -> HF: same tensors, same outputs, no missing/unexpected keys."""
    config = MobileBertConfig.from_preset("mobilebert", **SMALL)
    original = random_hf_pretraining_model(config, classifier_activation=True)  # with the pooler dense
    original.save_pretrained(tmp_path / "hf")
    assert main(["import", "--from", "hf", str(tmp_path / "hf"), "--out", str(tmp_path / "ours")]) == 0
    assert main(["export-hf", str(tmp_path / "ours"), "--out", str(tmp_path / "back")]) == 0
    assert sorted(os.listdir(tmp_path / "back")) == ["config.json", "model.safetensors"]

    before = load_safetensors(tmp_path / "hf" / "model.safetensors")
    after = load_safetensors(tmp_path / "back" / "model.safetensors")
    assert sorted(after) == sorted(before)
    for name, value in before.items():
        np.testing.assert_array_equal(after[name], value, err_msg=name)

    reloaded, info = load_hf("MobileBertForPreTraining", tmp_path / "back")
    assert_clean(info)
    batch = padded_batch(vocab=VOCAB)
    a, b = run_hf(original, batch), run_hf(reloaded, batch)
    np.testing.assert_array_equal(a.prediction_logits.numpy(), b.prediction_logits.numpy())
    np.testing.assert_array_equal(a.seq_relationship_logits.numpy(), b.seq_relationship_logits.numpy())
    values = json.loads((tmp_path / "back" / "config.json").read_text())
    assert values["architectures"] == ["MobileBertForPreTraining"] and values["classifier_activation"] is True
    assert not set(values) & set(hf.OUR_ONLY_FIELDS)


@pytest.mark.parametrize("cls, kind", [(MobileBertForSequenceClassification, "MobileBertForSequenceClassification"),
                                       (MobileBertForQuestionAnswering, "MobileBertForQuestionAnswering")])
def test_task_models_export_and_match_hf(cls, kind, tmp_path):
    config = MobileBertConfig.from_preset("mobilebert_tiny", attention_mask_mode="additive",
                                          classifier_activation=True, **SMALL)
    kwargs = {"num_labels": 3} if cls is MobileBertForSequenceClassification else {}
    ours = cls(config, **kwargs).build_with_dummy()
    ours.save_pretrained(tmp_path / "ours")
    assert main(["export-hf", str(tmp_path / "ours"), "--out", str(tmp_path / "hf")]) == 0
    theirs, info = load_hf(kind, tmp_path / "hf")
    assert_clean(info)  # the QA export leaves out the pooler: HF's QA model has none
    batch = padded_batch(vocab=VOCAB)
    out, ref = ours(batch), run_hf(theirs, batch)
    if kwargs:
        diff = np.abs(out["logits"].numpy() - ref.logits.numpy()).max()
        assert MobileBertForSequenceClassification.from_pretrained(tmp_path / "hf").num_labels == 3
    else:
        mask = batch["input_mask"].astype(bool)
        diff = max(np.abs(np.where(mask, out[k].numpy() - getattr(ref, k).numpy(), 0)).max()
                   for k in ("start_logits", "end_logits"))
        back = MobileBertForQuestionAnswering.from_pretrained(tmp_path / "hf", attention_mask_mode="additive")
        np.testing.assert_array_equal(back(batch)["start_logits"].numpy(), out["start_logits"].numpy())
    print(f"\n{kind} export-hf vs ours max abs diff: {diff:.2e}")
    assert diff <= TOL


def test_teacher_refused_with_clear_error(tmp_path, capsys):
    config = MobileBertConfig.from_preset("ib_bert_large", **SMALL)
    model = MobileBertForPreTraining(config).build_with_dummy()
    model.save_pretrained(tmp_path / "teacher")
    assert main(["export-hf", str(tmp_path / "teacher"), "--out", str(tmp_path / "hf")]) == 1
    err = capsys.readouterr().err
    assert "HF transformers cannot run this config" in err and "intra_bottleneck_size (1024)" in err
    assert not (tmp_path / "hf").exists()
    with pytest.raises(ConfigError, match="teacher layout"):
        hf.save_hf_pretrained(model, str(tmp_path / "hf"))
    assert not (tmp_path / "hf").exists()


def test_mask_mode_and_eps_warnings(tmp_path, capsys):
    google = MobileBertForPreTraining(MobileBertConfig.from_preset("mobilebert_no_opt", **SMALL)).build_with_dummy()
    google.save_pretrained(tmp_path / "g")
    assert main(["export-hf", str(tmp_path / "g"), "--out", str(tmp_path / "g_hf")]) == 0
    err = capsys.readouterr().err
    assert "attention_mask_mode 'google' is not an HF concept" in err and "eps 1e-5" in err
    additive = MobileBertConfig.from_preset("mobilebert", attention_mask_mode="additive", **SMALL)
    assert hf.save_hf_pretrained(MobileBertForPreTraining(additive), str(tmp_path / "a_hf")) == []


def test_bert_base_layout_loads_in_hf(tmp_path):
    """Without trigram input and with E == H, HF still allocates embedding_transformation and a [0, V] MLM
    matrix: export fills them with zeros (unused), import drops them again."""
    config = MobileBertConfig.from_preset("bert_base", attention_mask_mode="additive", hf_norm_eps_quirk=True,
                                          **{**SMALL, "vocab_size": 512})
    ours = MobileBertForPreTraining(config).build_with_dummy()
    assert hf.save_hf_pretrained(ours, str(tmp_path / "hf")) == []
    theirs, info = load_hf("MobileBertForPreTraining", tmp_path / "hf")
    assert_clean(info)
    batch = padded_batch(vocab=512)
    mask = batch["input_mask"][..., None].astype(bool)
    diff = np.abs(np.where(mask, ours(batch)["mlm_logits"].numpy() - run_hf(theirs, batch).prediction_logits.numpy(),
                           0)).max()
    assert diff <= TOL
    again = MobileBertForPreTraining.from_pretrained(tmp_path / "hf", attention_mask_mode="additive")
    np.testing.assert_array_equal(again(batch)["mlm_logits"].numpy(), ours(batch)["mlm_logits"].numpy())


def test_tf1_checkpoint_straight_to_hf(tmp_path):
    """Google's release layout -> export-hf (no intermediate directory) -> HF loads it cleanly."""
    config = MobileBertConfig.from_preset("mobilebert", **SMALL)
    ours = MobileBertForPreTraining(config).build_with_dummy()
    tf1.save_tf1_checkpoint(ours, str(tmp_path / "google"))
    assert main(["export-hf", str(tmp_path / "google"), "--out", str(tmp_path / "hf")]) == 0
    theirs, info = load_hf("MobileBertForPreTraining", tmp_path / "hf")
    assert_clean(info)
    batch = padded_batch(batch=1, vocab=VOCAB)  # unpadded: Google masking and HF's agree
    diff = np.abs(ours(batch)["mlm_logits"].numpy() - run_hf(theirs, batch).prediction_logits.numpy()).max()
    assert diff <= TOL


def test_interrupted_export_writes_no_config(tmp_path, monkeypatch):
    import safetensors.numpy

    model = MobileBertForPreTraining(MobileBertConfig.from_preset("mobilebert", **SMALL)).build_with_dummy()

    def dying_save(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(safetensors.numpy, "save_file", dying_save)
    with pytest.raises(KeyboardInterrupt):
        hf.save_hf_pretrained(model, str(tmp_path / "hf"))
    assert os.listdir(tmp_path / "hf") == []  # no config.json, no half-written weights, no temp files
