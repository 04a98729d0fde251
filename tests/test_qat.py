"""Quantization-aware training (tfmot) and its full-integer export."""
import collections

import numpy as np
import pytest
import tf_keras as keras
import tensorflow_model_optimization as tfmot

from export import ExportError
from export.exporter import export_tflite
from export.task_data import sst2_inputs
from export.tflite_io import float_ops, read_tflite
from mobilebert_tf import MobileBertConfig, MobileBertForSequenceClassification
from mobilebert_tf.qat import apply_qat
from mobilebert_tf.tokenization import BertTokenizer
from mobilebert_tf.weights import is_qat_variable, named_weights
from tests.conftest import SHARED_DATA, VOCAB
from tests.fit_utils import fit_classifier

SEQ = 64


def _config(**kw):
    return MobileBertConfig.from_preset("mobilebert_qat", num_hidden_layers=2, **kw)


def test_apply_qat_wraps_dense_and_norms_and_keeps_names():
    float_model = MobileBertForSequenceClassification(_config(), num_labels=2).build_with_dummy()
    qat_model = apply_qat(MobileBertForSequenceClassification(_config(), num_labels=2)).build_with_dummy()
    wrappers = [l for l in qat_model._flatten_layers() if isinstance(l, tfmot.quantization.keras.QuantizeWrapperV2)]
    kinds = collections.Counter(type(w.layer).__name__ for w in wrappers)
    # per block: 7 Dense + 4x2 FFN Dense, 8 NoNorm; embeddings: 1 Dense + 1 NoNorm; head: 1 Dense
    assert kinds == {"Dense": 2 * 15 + 2, "NoNorm": 2 * 8 + 1}
    real = {n for n in named_weights(qat_model) if not is_qat_variable(n)}
    assert real == set(named_weights(float_model))
    ranges = [n for n in named_weights(qat_model) if n.endswith(("scores_fq_min", "probs_fq_max", "word_embeddings_fq_min"))]
    assert len(ranges) == 2 * 2 + 1


def test_qat_needs_relu():
    with pytest.raises(ValueError, match="hidden_act"):
        apply_qat(MobileBertForSequenceClassification(MobileBertConfig.from_preset("mobilebert_no_opt",
                                                                                  num_hidden_layers=1)))


def test_float_checkpoint_into_qat_and_qat_round_trip(tmp_path):
    keras.utils.set_random_seed(0)
    float_model = MobileBertForSequenceClassification(_config(), num_labels=2).build_with_dummy()
    float_model.save_pretrained(tmp_path / "float")
    qat_model = MobileBertForSequenceClassification.from_pretrained(tmp_path / "float", qat=True)
    assert qat_model.qat
    ids = np.array([[101, 2023, 3185, 2001, 2307, 102, 0, 0]], np.int32)
    batch = {"input_ids": ids, "input_mask": (ids > 0).astype(np.int32)}
    # fake quantization changes the numbers a little, not the model
    np.testing.assert_allclose(qat_model(batch)["logits"], float_model(batch)["logits"], atol=0.05)
    qat_model.save_pretrained(tmp_path / "qat")
    again = MobileBertForSequenceClassification.from_pretrained(tmp_path / "qat")
    assert again.qat
    np.testing.assert_array_equal(again(batch)["logits"].numpy(), qat_model(batch)["logits"].numpy())


@pytest.mark.slow
def test_qat_finetune_exports_full_integer(tmp_path):
    tokenizer = BertTokenizer(str(VOCAB))
    keras.utils.set_random_seed(0)
    model = apply_qat(MobileBertForSequenceClassification(_config(), num_labels=2)).build_with_dummy()
    data = sst2_inputs(tokenizer, SHARED_DATA, "train", 64, SEQ)
    # 100 steps: the moving-average activation ranges start at [-6, 6] and need steps to settle
    loss = fit_classifier(model, data, steps=100)
    assert loss < 0.1
    result = export_tflite(model, "classifier", tmp_path / "qat.tflite", seq_len=SEQ, quantize="qat",
                           tokenizer=tokenizer, vocab_file=str(VOCAB), labels=["negative", "positive"],
                           data_dir=SHARED_DATA, calibration_examples=16, gate_examples=64, progress=False)
    r = result.report
    print(f"\nqat: {result.size_bytes / 1e6:.2f} MB, agreement {r['agreement']:.3f} (threshold {r['threshold']}), "
          f"max diff {r['max_abs_diff']}")
    assert r["passed"] and r["agreement"] >= 0.97
    # full integer: only the input Quantize reads float (the int32 mask is cast, then quantized)
    assert collections.Counter(float_ops(read_tflite(result.path))) == {"QUANTIZE": 1}
    with pytest.raises(ExportError, match="--quantize qat"):
        export_tflite(model, "classifier", tmp_path / "x.tflite", seq_len=SEQ, quantize="int8", tokenizer=tokenizer,
                      vocab_file=str(VOCAB), labels=["n", "p"], data_dir=SHARED_DATA, progress=False)
