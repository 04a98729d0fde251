"""Quantization-aware training (tfmot) and its full-integer export."""
import collections
import json

import numpy as np
import pytest
import tf_keras as keras
import tensorflow_model_optimization as tfmot

from mobilebert_tf.export.tflite_io import float_ops, read_tflite
from mobilebert_tf import MobileBertConfig, MobileBertForPreTraining, MobileBertForSequenceClassification
from mobilebert_tf import cli
from mobilebert_tf.qat import apply_qat
from mobilebert_tf.weights import is_qat_variable, named_weights, weights_to_numpy
from tests.conftest import SHARED_DATA

SEQ = 64


def _config(**kw):
    return MobileBertConfig.from_preset("mobilebert_qat", num_hidden_layers=2, **kw)


# Sentences of different lengths (padded), so the logits spread over a range rather than one point.
IDS = np.array([[101, 2023, 3185, 2001, 2307, 102, 0, 0, 0, 0],
                [101, 1045, 2293, 2009, 1012, 2307, 3185, 999, 102, 0],
                [101, 6659, 102, 0, 0, 0, 0, 0, 0, 0],
                [101, 2025, 2204, 2012, 2035, 1010, 2053, 4569, 1012, 102]], np.int32)
BATCH = {"input_ids": IDS, "input_mask": (IDS > 0).astype(np.int32)}


# A fresh moving-average range is [-6, 6] (tfmot's initial value; its EMA moves it only over many training
# steps), so 8 bits put every fake-quantized activation on a grid of this step.
FRESH_STEP = 12.0 / 255


def assert_same_model_fake_quantized(qat_model, float_model):
    """Fake quantization changes the numbers, not the model: the real weights are the float model's, bit for
    bit, and the logits (which pass through an output quantizer on the fresh range) differ from the float
    logits by rounding to that grid: at most half a step plus the small upstream error (measured: 0.021 of
    a 0.047 step), and not zero (the quantizers are in the graph)."""
    qat_weights, float_weights = weights_to_numpy(qat_model), weights_to_numpy(float_model)
    assert {n for n in qat_weights if not is_qat_variable(n)} == set(float_weights)
    for name, value in float_weights.items():
        np.testing.assert_array_equal(qat_weights[name], value, err_msg=name)
    diff = float(np.abs(np.asarray(qat_model(BATCH)["logits"]) - np.asarray(float_model(BATCH)["logits"])).max())
    assert 0.0 < diff <= 0.6 * FRESH_STEP, f"max |qat - float| logits {diff:.3e}, grid step {FRESH_STEP:.3e}"


def test_apply_qat_wraps_dense_and_norms_and_keeps_names():
    float_model = MobileBertForSequenceClassification(_config(), num_labels=2).build_with_dummy()
    qat_model = apply_qat(MobileBertForSequenceClassification(_config(), num_labels=2)).build_with_dummy()
    wrappers = [layer for layer in qat_model._flatten_layers() if isinstance(layer, tfmot.quantization.keras.QuantizeWrapperV2)]
    kinds = collections.Counter(type(w.layer).__name__ for w in wrappers)
    # per block: 7 Dense + 4x2 FFN Dense, 8 NoNorm; embeddings: 1 Dense + 1 NoNorm; head: 1 Dense (every
    # Dense is layers.SequenceDense, a keras Dense)
    assert kinds == {"SequenceDense": 2 * 15 + 2, "NoNorm": 2 * 8 + 1}
    assert all(isinstance(w.layer, keras.layers.Dense) for w in wrappers if type(w.layer).__name__ != "NoNorm")
    real = {n for n in named_weights(qat_model) if not is_qat_variable(n)}
    assert real == set(named_weights(float_model))
    ranges = [n for n in named_weights(qat_model) if n.endswith(("scores_fq_min", "probs_fq_max", "word_embeddings_fq_min"))]
    assert len(ranges) == 2 * 2 + 1


def test_qat_declared_in_the_constructor_equals_apply_qat():
    declared = MobileBertForSequenceClassification(_config(), num_labels=2, qat=True)
    applied = apply_qat(MobileBertForSequenceClassification(_config(), num_labels=2))
    assert declared.qat and applied.qat
    assert sorted(named_weights(declared.build_with_dummy())) == sorted(named_weights(applied.build_with_dummy()))
    assert not MobileBertForSequenceClassification(_config(), num_labels=2).qat


def test_qat_needs_relu():
    gelu = MobileBertConfig.from_preset("mobilebert_no_opt", num_hidden_layers=1)
    with pytest.raises(ValueError, match="hidden_act"):
        apply_qat(MobileBertForSequenceClassification(gelu))
    with pytest.raises(ValueError, match="hidden_act"):
        MobileBertForSequenceClassification(gelu, qat=True)


def test_float_checkpoint_into_qat_and_qat_round_trip(tmp_path):
    keras.utils.set_random_seed(0)
    float_model = MobileBertForSequenceClassification(_config(), num_labels=2).build_with_dummy()
    float_model.save_pretrained(tmp_path / "float")
    qat_model = MobileBertForSequenceClassification.from_pretrained(tmp_path / "float", qat=True)
    assert qat_model.qat
    assert_same_model_fake_quantized(qat_model, float_model)
    batch = BATCH
    qat_model.save_pretrained(tmp_path / "qat")
    again = MobileBertForSequenceClassification.from_pretrained(tmp_path / "qat")
    assert again.qat
    np.testing.assert_array_equal(again(batch)["logits"].numpy(), qat_model(batch)["logits"].numpy())


def test_finetune_init_qat_from_a_float_model(tmp_path):
    """--qat on a float fine-tuned directory: same weights, fake quantization added, ranges fresh."""
    from mobilebert_tf.finetuning import get_finetune_task, init_model

    task = get_finetune_task("sst2")
    keras.utils.set_random_seed(0)
    float_model = MobileBertForSequenceClassification(_config(), num_labels=2).build_with_dummy()
    float_model.save_pretrained(tmp_path / "float", metadata={"task": "sst-2"})
    model, how = init_model(task, str(tmp_path / "float"), qat=True)
    assert model.qat and "continued fine-tuning, quantization-aware" in how
    assert_same_model_fake_quantized(model, float_model)
    # the encoder of a pre-training directory, too (new head)
    pre = MobileBertForPreTraining(_config()).build_with_dummy()
    pre.save_pretrained(tmp_path / "pre")
    model, how = init_model(task, str(tmp_path / "pre"), qat=True)
    assert model.qat and "new head" in how


def test_cli_finetune_qat_refuses_gelu(tmp_path, capsys):
    rc = cli.main(["finetune", "--task", "sst2", "--init", "random", "--preset", "mobilebert_no_opt", "--qat",
                   "--override", "num_hidden_layers=1", "--out", str(tmp_path / "m"), "--no-progress"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "quantization-aware training needs hidden_act" in err and "'gelu'" in err
    assert not (tmp_path / "m" / "weights.safetensors").exists()


@pytest.mark.slow
def test_cli_finetune_qat_exports_full_integer(tmp_path, capsys):
    """mobilebert finetune --qat, then mobilebert export --quantize qat: a full-integer model that passes the gate."""
    glue = SHARED_DATA / "glue" / "SST-2"
    train_file, dev_file = tmp_path / "train.tsv", tmp_path / "dev.tsv"
    header, *rows = (glue / "train.tsv").read_text(encoding="utf-8").split("\n")[:65]
    train_file.write_text("\n".join([header] + rows * 25) + "\n")  # 64 sentences, 25 times: one epoch
    dev_file.write_text("\n".join([header] + rows) + "\n")
    out = tmp_path / "qat"
    # one epoch of 100 steps, evaluated (and saved) once at the end: the moving-average activation ranges
    # start at [-6, 6] and need the steps to settle, so an early "best epoch" would export unsettled ranges
    rc = cli.main(["finetune", "--task", "sst2", "--init", "random", "--preset", "mobilebert_qat", "--qat",
                   "--override", "num_hidden_layers=2", "--train-file", str(train_file), "--dev-file", str(dev_file),
                   "--seq-len", str(SEQ), "--batch-size", "16", "--epochs", "1", "--lr", "2e-3", "--warmup", "0",
                   "--out", str(out), "--no-progress"])
    assert rc == 0
    assert "export --quantize qat" in capsys.readouterr().out
    info = json.loads((out / "model.json").read_text())
    history = json.loads((out / "history.json").read_text())
    assert info["qat"] is True and history[-1]["step"] == 100
    with capsys.disabled():
        print(f"\nqat fine-tune: train loss {history[-1]['train_loss']:.3f}, "
              f"dev accuracy {info['dev_metrics']['accuracy']:.3f}")
    assert info["dev_metrics"]["accuracy"] >= 0.9  # it learned its 64 sentences

    tflite = tmp_path / "qat.tflite"
    rc = cli.main(["export", "--model", str(out), "--quantize", "qat", "--out", str(tflite),
                   "--calibration-examples", "16", "--gate-examples", "200", "--data", str(SHARED_DATA)])
    assert rc == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "qat.tflite.report.json").read_text())
    with capsys.disabled():
        print(f"\nqat via CLI: {tflite.stat().st_size / 1e6:.2f} MB, agreement {report['agreement']:.3f} "
              f"(threshold {report['threshold']}), max diff {report['max_abs_diff']}")
    assert report["passed"] and report["agreement"] >= 0.97 and report["seq_len"] == SEQ
    # full integer: only the input Quantize reads float (the int32 mask is cast, then quantized)
    assert collections.Counter(float_ops(read_tflite(tflite))) == {"QUANTIZE": 1}
    capsys.readouterr()
    rc = cli.main(["export", "--model", str(out), "--quantize", "int8", "--out", str(tmp_path / "x.tflite"),
                   "--data", str(SHARED_DATA)])
    assert rc == 1 and "--quantize qat" in capsys.readouterr().err
