"""ModelDir (the one model-directory reader), the task table, and the one loader's rule across formats."""
import numpy as np
import pytest

from mobilebert_tf import (CheckpointError, MobileBertConfig, MobileBertForPreTraining, MobileBertForQuestionAnswering,
                           MobileBertForSequenceClassification)
from mobilebert_tf.checkpoints import hf, loader, tf1
from mobilebert_tf.model_tasks import (EXPORT_NAMES, HEAD_PREFIXES, IMPORT_NAMES, MODEL_TASKS, UnknownTaskError,
                                       get_model_task, task_of_model)
from mobilebert_tf.modeldir import ModelDir, ModelDirError
from mobilebert_tf.models import dummy_inputs
from mobilebert_tf.weights import is_qat_variable, named_weights, weights_to_numpy

SMALL = dict(num_hidden_layers=1)


def _vocab(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n")
    return str(path)


def test_model_dir_reads_what_save_pretrained_wrote(tmp_path):
    model = MobileBertForSequenceClassification(MobileBertConfig.from_preset("mobilebert_tiny", **SMALL), num_labels=3)
    out = tmp_path / "clf"
    model.build_with_dummy().save_pretrained(out, vocab_file=_vocab(tmp_path), metadata={
        "task": "mnli", "labels": ["contradiction", "entailment", "neutral"], "seq_len": 96, "lowercase": False,
        "distilled_from": {"teacher": "runs/teacher"}})
    d = ModelDir.read(out)
    assert (d.model_class, d.task_type, d.task, d.num_labels, d.qat) == (
        "MobileBertForSequenceClassification", "classification", "mnli", 3, False)
    assert d.labels == ["contradiction", "entailment", "neutral"] and (d.seq_len, d.lowercase) == (96, False)
    assert d.provenance == {"distilled_from": {"teacher": "runs/teacher"}}
    assert d.vocab_file == str(out / "vocab.txt") and d.is_ours
    assert d.read_config() == model.config
    # the directory travels with the loaded model, so its tokenizer does too
    loaded = MobileBertForSequenceClassification.from_pretrained(out)
    assert loaded.model_dir == d and loaded.num_labels == 3


def test_model_dir_without_model_json_and_of_a_checkpoint_file(tmp_path):
    (tmp_path / "model.ckpt.index").write_bytes(b"")
    _vocab(tmp_path)
    for path in (tmp_path, tmp_path / "model.ckpt", tmp_path / "model.ckpt.index"):
        d = ModelDir.read(path)
        assert d.info == {} and d.task_type is None and d.vocab_file == str(tmp_path / "vocab.txt")
        assert not d.is_ours


@pytest.mark.parametrize("text, match", [("{not json", "invalid JSON"), ("[1, 2]", "expected a JSON object"),
                                         (b"\xff\xfe{}", "not a UTF-8 JSON file")])
def test_corrupt_model_json_is_named(tmp_path, text, match):
    path = tmp_path / "model.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ModelDirError, match=match) as err:
        ModelDir.read(tmp_path)
    assert str(path) in str(err.value)
    assert isinstance(err.value, CheckpointError)  # the CLI prints it as a checkpoint problem, exit 1


def test_missing_model_dir_and_config(tmp_path):
    with pytest.raises(ModelDirError, match="not found"):
        ModelDir.read(tmp_path / "nope")
    with pytest.raises(ModelDirError, match="no config.json"):
        ModelDir.read(tmp_path).read_config()


# ------------------------------------------------------------------ the task table
def test_task_table_names_every_vocabulary():
    assert IMPORT_NAMES == ("pretraining", "classifier", "qa")
    assert EXPORT_NAMES == ("encoder", "classifier", "qa")
    for name, task_type in [("pretraining", "pretraining"), ("encoder", "pretraining"), ("classifier", "classification"),
                            ("classification", "classification"), ("qa", "qa"),
                            ("MobileBertForQuestionAnswering", "qa")]:
        assert get_model_task(name).task_type == task_type
    with pytest.raises(UnknownTaskError, match="choose one of"):
        get_model_task("span")


def test_task_table_matches_the_models():
    config = MobileBertConfig.from_preset("mobilebert_tiny", **SMALL)
    for task in MODEL_TASKS:
        assert task.model_class.task_type == task.task_type
        model = task.model_class(config)
        assert task_of_model(model) is task
        outputs = model(dummy_inputs(config))
        assert set(task.outputs) <= set(outputs)
        heads = {n.split("/")[0] + "/" for n in named_weights(model) if not n.startswith("encoder/")}
        assert heads == set(task.head_prefixes) and set(task.head_prefixes) <= set(HEAD_PREFIXES)


# ------------------------------------------------------------------ one loader, one rule, every format
@pytest.fixture(scope="module")
def qat_classifier_in_three_formats(tmp_path_factory):
    """A float ReLU6 classifier saved as our directory, an HF directory and a TF1 checkpoint."""
    root = tmp_path_factory.mktemp("formats")
    config = MobileBertConfig.from_preset("mobilebert_qat", **SMALL)
    model = MobileBertForSequenceClassification(config, num_labels=3).build_with_dummy()
    model.save_pretrained(root / "ours")
    hf.save_hf_pretrained(model, str(root / "hf"))
    tf1.save_tf1_checkpoint(model, str(root / "tf1"))
    return model, {fmt: str(root / fmt) for fmt in ("ours", "hf", "tf1")}


@pytest.mark.parametrize("fmt", ["ours", "hf", "tf1"])
def test_qat_passes_the_same_way_for_every_format(fmt, qat_classifier_in_three_formats):
    """from_pretrained(path, qat=True) declares QAT on the model whatever the format: same weights, fresh ranges."""
    model, paths = qat_classifier_in_three_formats
    qat = MobileBertForSequenceClassification.from_pretrained(paths[fmt], qat=True)
    assert qat.qat and qat.num_labels == 3  # num_labels from the checkpoint's head in every format
    assert any(is_qat_variable(n) for n in named_weights(qat))
    ours, theirs = weights_to_numpy(model), weights_to_numpy(qat)
    for name, value in ours.items():
        np.testing.assert_array_equal(theirs[name], value, err_msg=name)
    assert MobileBertForSequenceClassification.from_pretrained(paths[fmt]).qat is False


@pytest.mark.parametrize("fmt", ["ours", "hf", "tf1"])
def test_encoder_only_and_other_task(fmt, qat_classifier_in_three_formats):
    model, paths = qat_classifier_in_three_formats
    fresh, report = loader.load(MobileBertForSequenceClassification, paths[fmt], encoder_only=True, num_labels=3)
    weights, saved = weights_to_numpy(fresh), weights_to_numpy(model)
    np.testing.assert_array_equal(weights["encoder/layer_0/attention/query/kernel"],
                                  saved["encoder/layer_0/attention/query/kernel"])
    assert not np.array_equal(weights["classifier_head/classifier/kernel"], saved["classifier_head/classifier/kernel"])
    assert report["unused"]  # the classifier head (and the pooler, re-initialized for classifiers)
    qa, report = loader.load(MobileBertForQuestionAnswering, paths[fmt])
    assert "qa_head/qa_outputs/kernel" in named_weights(qa) and report["unused"]
    with pytest.raises(CheckpointError, match="wrong shape"):
        MobileBertForSequenceClassification.from_pretrained(paths[fmt], num_labels=2)  # its own head: strict


def test_from_config_keeps_qat():
    model = MobileBertForPreTraining(MobileBertConfig.from_preset("mobilebert_qat", **SMALL), qat=True)
    clone = MobileBertForPreTraining.from_config(model.get_config())
    assert clone.qat and sorted(named_weights(clone.build_with_dummy())) == sorted(
        named_weights(model.build_with_dummy()))
