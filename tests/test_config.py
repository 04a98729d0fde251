import dataclasses
import json

import pytest

from mobilebert_tf import PRESETS, ConfigError, MobileBertConfig


@pytest.mark.parametrize("preset", list(PRESETS))
def test_json_round_trip(preset, tmp_path):
    config = MobileBertConfig.from_preset(preset)
    assert MobileBertConfig.from_json(config.to_json()) == config
    path = tmp_path / "config.json"
    config.to_json(path)
    assert MobileBertConfig.from_json(path) == config


def test_presets_follow_design():
    mb = MobileBertConfig.from_preset("mobilebert")
    assert (mb.intra_bottleneck_size, mb.intermediate_size, mb.num_feedforward_networks) == (128, 512, 4)
    assert mb.key_query_shared_bottleneck and not mb.use_bottleneck_attention
    assert (mb.normalization_type, mb.hidden_act, mb.attention_mask_mode) == ("no_norm", "relu", "google")
    tiny = MobileBertConfig.from_preset("mobilebert_tiny")
    assert tiny.use_bottleneck_attention and not tiny.key_query_shared_bottleneck
    assert tiny.num_feedforward_networks == 2
    assert MobileBertConfig.from_preset("mobilebert_qat").hidden_act == "relu6"
    teacher = MobileBertConfig.from_preset("ib_bert_large")
    assert (teacher.intra_bottleneck_size, teacher.intermediate_size, teacher.hidden_dropout_prob) == (1024, 4096, 0.1)
    assert teacher.attention_head_size == 256
    base = MobileBertConfig.from_preset("bert_base")
    assert not base.use_bottleneck and base.true_hidden_size == 768 and base.attention_head_size == 64


def test_frozen():
    config = MobileBertConfig.from_preset("mobilebert")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.hidden_size = 3


def test_unknown_key_named(tmp_path):
    values = json.loads(MobileBertConfig().to_json())
    values["hiden_size"] = 512
    path = tmp_path / "config.json"
    path.write_text(json.dumps(values))
    with pytest.raises(ConfigError, match="'hiden_size'"):
        MobileBertConfig.from_json(path)


@pytest.mark.parametrize("overrides, field", [
    (dict(intra_bottleneck_size=130), "intra_bottleneck_size"),  # 130 % 4 heads != 0
    (dict(use_bottleneck=False, hidden_size=510, embedding_size=128, key_query_shared_bottleneck=False), "hidden_size"),
    (dict(num_hidden_layers=0), "num_hidden_layers"),
    (dict(hidden_act="swish"), "hidden_act"),
    (dict(normalization_type="batch_norm"), "normalization_type"),
    (dict(attention_mask_mode="bool"), "attention_mask_mode"),
    (dict(hidden_dropout_prob=1.5), "hidden_dropout_prob"),
    (dict(embedding_size=1024), "embedding_size"),
    (dict(use_bottleneck_attention=True), "use_bottleneck_attention"),
    (dict(vocab_size="30522"), "vocab_size"),
])
def test_impossible_values_name_the_field(overrides, field):
    with pytest.raises(ConfigError, match=field):
        MobileBertConfig.from_preset("mobilebert", **overrides)


def test_unknown_preset_lists_valid_ones():
    with pytest.raises(ConfigError, match="mobilebert_tiny"):
        MobileBertConfig.from_preset("mobilebert_huge")


def test_invalid_json_names_file(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("{\"hidden_size\": 512,,}")
    with pytest.raises(ConfigError, match="config.json.*line 1"):
        MobileBertConfig.from_json(path)
