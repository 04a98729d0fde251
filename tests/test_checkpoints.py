"""Our model directories and HF safetensors directories: round trips and bad input."""
import json
import os

import numpy as np
import pytest

from mobilebert_tf import (CheckpointError, ConfigError, InputError, MobileBertConfig, MobileBertForPreTraining,
                           MobileBertForQuestionAnswering, MobileBertForSequenceClassification)
from mobilebert_tf.checkpoints import hf
from mobilebert_tf.weights import load_safetensors, save_safetensors, weights_to_numpy
from tests.hf_utils import padded_batch, random_hf_pretraining_model

SMALL = dict(num_hidden_layers=2)


@pytest.fixture(scope="module")
def small_model():
    return MobileBertForPreTraining(MobileBertConfig.from_preset("mobilebert", **SMALL)).build_with_dummy()


def test_save_load_round_trip_identical(small_model, tmp_path):
    small_model.save_pretrained(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["config.json", "model.json", "weights.safetensors"]
    loaded = MobileBertForPreTraining.from_pretrained(tmp_path)
    batch = padded_batch(batch=2, seq=10)
    for key in ("sequence_output", "mlm_logits", "nsp_logits"):
        np.testing.assert_array_equal(loaded(batch)[key].numpy(), small_model(batch)[key].numpy())


def test_task_model_round_trip_keeps_head(tmp_path):
    config = MobileBertConfig.from_preset("mobilebert_tiny", **SMALL)
    model = MobileBertForSequenceClassification(config, num_labels=3).build_with_dummy()
    model.save_pretrained(tmp_path)
    loaded = MobileBertForSequenceClassification.from_pretrained(tmp_path)
    assert loaded.num_labels == 3
    batch = padded_batch(batch=2, seq=10)
    np.testing.assert_array_equal(loaded(batch)["logits"].numpy(), model(batch)["logits"].numpy())


def test_pretraining_dir_into_task_models_takes_encoder(small_model, tmp_path):
    small_model.save_pretrained(tmp_path)
    batch = padded_batch(batch=2, seq=10)
    qa = MobileBertForQuestionAnswering.from_pretrained(tmp_path)
    np.testing.assert_array_equal(qa(batch)["sequence_output"].numpy(), small_model(batch)["sequence_output"].numpy())
    clf = MobileBertForSequenceClassification.from_pretrained(tmp_path, num_labels=5)
    assert clf(batch)["logits"].shape == (2, 5)


def test_hf_round_trip_bit_exact(tmp_path):
    config = MobileBertConfig.from_preset("mobilebert", **SMALL)
    hf_model = random_hf_pretraining_model(config, classifier_activation=True)
    hf_model.save_pretrained(tmp_path)
    original = load_safetensors(tmp_path / "model.safetensors")
    ours = MobileBertForPreTraining.from_pretrained(tmp_path)
    back = hf.ours_to_hf(weights_to_numpy(ours))
    assert sorted(back) == sorted(original)
    for name, value in original.items():
        np.testing.assert_array_equal(back[name], value, err_msg=name)


def test_hf_config_defaults_and_quirks(tmp_path):
    config = MobileBertConfig.from_preset("mobilebert", **SMALL)
    random_hf_pretraining_model(config).save_pretrained(tmp_path)
    loaded = MobileBertForPreTraining.from_pretrained(tmp_path)
    assert loaded.config.hf_norm_eps_quirk and loaded.config.attention_mask_mode == "google"
    values = json.loads((tmp_path / "config.json").read_text())
    values.pop("classifier_activation")  # HF's default is True, Google's False
    assert hf.config_from_hf_dict(values).classifier_activation is True


def test_hf_shape_mismatch_lists_weights(tmp_path):
    config = MobileBertConfig.from_preset("mobilebert", **SMALL)
    random_hf_pretraining_model(config).save_pretrained(tmp_path)
    values = json.loads((tmp_path / "config.json").read_text())
    values["intermediate_size"] = 256
    (tmp_path / "config.json").write_text(json.dumps(values))
    with pytest.raises(CheckpointError) as err:
        MobileBertForPreTraining.from_pretrained(tmp_path)
    msg = str(err.value)
    assert "wrong shape (24)" in msg  # 2 layers x 4 FFNs x (intermediate kernel + bias, output kernel)
    assert "mobilebert.encoder.layer.1.ffn.2.intermediate.dense.weight" in msg
    assert "(checkpoint (128, 512), model (128, 256))" in msg


def test_hf_unknown_config_key(tmp_path):
    config = MobileBertConfig.from_preset("mobilebert", **SMALL)
    random_hf_pretraining_model(config).save_pretrained(tmp_path)
    values = json.loads((tmp_path / "config.json").read_text())
    values["num_expert_layers"] = 3
    (tmp_path / "config.json").write_text(json.dumps(values))
    with pytest.raises(ConfigError, match="num_expert_layers"):
        MobileBertForPreTraining.from_pretrained(tmp_path)


def test_missing_and_extra_weights_listed(small_model, tmp_path):
    small_model.save_pretrained(tmp_path)
    arrays = load_safetensors(tmp_path / "weights.safetensors")
    del arrays["encoder/layer_1/attention/key/kernel"]
    arrays["encoder/layer_1/attention/extra/kernel"] = np.zeros((2, 2), np.float32)
    save_safetensors(arrays, tmp_path / "weights.safetensors")
    with pytest.raises(CheckpointError) as err:
        MobileBertForPreTraining.from_pretrained(tmp_path)
    msg = str(err.value)
    assert "missing (1): encoder/layer_1/attention/key/kernel" in msg
    assert "unexpected (1): encoder/layer_1/attention/extra/kernel" in msg


def test_truncated_weights_file(small_model, tmp_path):
    small_model.save_pretrained(tmp_path)
    path = tmp_path / "weights.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        MobileBertForPreTraining.from_pretrained(tmp_path)
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty or truncated"):
        MobileBertForPreTraining.from_pretrained(tmp_path)


def test_pickle_refused(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(CheckpointError, match="refusing to unpickle.*safetensors"):
        MobileBertForPreTraining.from_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="refusing to load a pickled"):
        MobileBertForPreTraining.from_pretrained(tmp_path / "pytorch_model.bin")


def test_missing_dir_and_missing_weights(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        MobileBertForPreTraining.from_pretrained(tmp_path / "nope")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="no weights"):
        MobileBertForPreTraining.from_pretrained(tmp_path)


def test_interrupted_save_keeps_previous_weights(small_model, tmp_path, monkeypatch):
    """A save that dies mid-write leaves the earlier weights intact (temp file + rename)."""
    small_model.save_pretrained(tmp_path)
    before = (tmp_path / "weights.safetensors").read_bytes()
    import safetensors.numpy

    def dying_save(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(safetensors.numpy, "save_file", dying_save)
    with pytest.raises(KeyboardInterrupt):
        small_model.save_pretrained(tmp_path)
    assert (tmp_path / "weights.safetensors").read_bytes() == before
    assert [p for p in os.listdir(tmp_path) if ".tmp-" in p] == []


@pytest.mark.parametrize("inputs, match", [
    ({"input_ids": np.ones((1, 513), np.int32)}, "exceeds max_position_embeddings"),
    ({"input_ids": np.ones((1, 8), np.int32), "input_mask": np.ones((1, 7), np.int32)}, "input_mask"),
    ({"input_ids": np.full((1, 8), 40000, np.int32)}, r"\[0, 30522\)"),
    ({"input_ids": np.ones((8,), np.int32)}, r"\[batch, seq\]"),
    ({"ids": np.ones((1, 8), np.int32)}, "unknown model input"),
    ({"input_ids": np.ones((1, 8), np.float32)}, "integer"),
])
def test_bad_inputs_named(small_model, inputs, match):
    with pytest.raises(InputError, match=match):
        small_model(inputs)
