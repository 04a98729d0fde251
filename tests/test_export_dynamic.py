"""``--seq-len dynamic`` exports: [1, -1] inputs run through LiteRT at each real SST-2 sentence's own length
agree with the fixed-length export of the same model (padded, masked), in every quantization mode."""
import json

import numpy as np
import pytest
import tf_keras as keras

from mobilebert_tf.export import ExportError
from mobilebert_tf.export import metadata as md
from mobilebert_tf.export.exporter import ExportOptions, export_tflite
from mobilebert_tf.export.quantization import DEFAULT_THRESHOLD
from mobilebert_tf.export.serving import keras_outputs, signature_feed
from mobilebert_tf.export.task_data import file_inputs, sst2_inputs
from mobilebert_tf.export.tflite_io import make_interpreter, read_tflite, run_tflite, seq_spec
from mobilebert_tf import MobileBertConfig, MobileBertForSequenceClassification
from mobilebert_tf.cli import main
from mobilebert_tf.data import DataError
from mobilebert_tf.tokenization import BertTokenizer
from tests.conftest import SHARED_DATA, VOCAB
from tests.fit_utils import fit_classifier

FIXED = 64         # the fixed export's length: the fitted models' training length (SST-2 dev sentences fit)
N_DEV = 100        # real SST-2 dev sentences compared at their own length
LAYERS = 1
LABELS = ["negative", "positive"]


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer(str(VOCAB))


@pytest.fixture(scope="module")
def dev(tokenizer):
    """The first N_DEV SST-2 dev sentences, padded to the fixed export's length (all fit in it)."""
    data = sst2_inputs(tokenizer, SHARED_DATA, "dev", N_DEV, FIXED + 1)
    data.check_fits(FIXED)
    return data


def _fitted(tokenizer, preset, **overrides):
    """A small classifier fitted to 64 real SST-2 train sentences (confident outputs, not 50/50 ties)."""
    keras.utils.set_random_seed(0)
    config = MobileBertConfig.from_preset(preset, num_hidden_layers=LAYERS, **overrides)
    model = MobileBertForSequenceClassification(config, num_labels=2).build_with_dummy()
    fit_classifier(model, sst2_inputs(tokenizer, SHARED_DATA, "train", 64, 64), steps=60)
    return model


@pytest.fixture(scope="module")
def additive_model(tokenizer):
    """HF's additive mask (padded keys get float32.min): padded and unpadded runs are the same function,
    so the fixed and the dynamic export must agree to float precision."""
    return _fitted(tokenizer, "mobilebert_tiny", attention_mask_mode="additive")


@pytest.fixture(scope="module")
def google_model(tokenizer):
    """Google's mask (padded keys get score -6, which int8 represents): the default, and the one full int8 needs."""
    return _fitted(tokenizer, "mobilebert_tiny")


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """(model name, mode, 'fixed'|'dynamic') -> ExportedModel, made once per module."""
    return {}


def _export(exports, tmp_path_factory, tokenizer, model, name, mode, dynamic):
    key = (name, mode, "dynamic" if dynamic else "fixed")
    if key not in exports:
        out = tmp_path_factory.mktemp("dyn") / f"{'_'.join(key)}.tflite"
        options = ExportOptions(seq_len="dynamic" if dynamic else FIXED, quantize=mode, tokenizer=tokenizer,
                                vocab_file=str(VOCAB), data_dir=SHARED_DATA, labels=LABELS,
                                gate_examples=N_DEV if dynamic else 8, calibration_examples=32, progress=False)
        exports[key] = export_tflite(model, "classifier", out, options)
    return exports[key]


def _run_own_length(path, data):
    """Each sentence at its own length, the way an app does it: resize_tensor_input (strict: only the -1
    axis may change), allocate_tensors, set, invoke."""
    interpreter = make_interpreter(read_tflite(path))
    details = {d["name"]: d for d in interpreter.get_input_details()}
    out_index = interpreter.get_output_details()[0]["index"]
    probs = []
    for i in range(len(data)):
        feed = signature_feed(data.own_length(i))
        n = feed["ids"].shape[1]
        for name in feed:
            interpreter.resize_tensor_input(details[name]["index"], [1, n], strict=True)
        interpreter.allocate_tensors()
        for name, value in feed.items():
            interpreter.set_tensor(details[name]["index"], value)
        interpreter.invoke()
        probs.append(interpreter.get_tensor(out_index).copy())
    return np.concatenate(probs)


def _run_fixed(path, data):
    interpreter = make_interpreter(read_tflite(path))
    return np.concatenate([run_tflite(interpreter, {k: v[:, :FIXED] for k, v in signature_feed(data.batch(i)).items()})
                           ["probability"] for i in range(len(data))])


def _float_level(model, data):
    """Label agreement of the Keras model itself, padded to FIXED vs each sentence at its own length."""
    keys = ("input_ids", "input_mask", "segment_ids")
    padded = keras_outputs(model, "classifier", {k: getattr(data, k)[:, :FIXED] for k in keys})["probability"]
    own = np.concatenate([keras_outputs(model, "classifier", data.own_length(i), dynamic=True)["probability"]
                          for i in range(len(data))])
    print(f"\nKeras ({model.config.attention_mask_mode} mask) padded to {FIXED} vs own length: max |dp| "
          f"{np.abs(padded - own).max():.2e}")
    return float((padded.argmax(-1) == own.argmax(-1)).mean())


def test_dynamic_float_contract_and_agreement(additive_model, tokenizer, dev, exports, tmp_path_factory):
    dyn = _export(exports, tmp_path_factory, tokenizer, additive_model, "additive", "none", dynamic=True)
    fixed = _export(exports, tmp_path_factory, tokenizer, additive_model, "additive", "none", dynamic=False)
    data = read_tflite(dyn.path)
    interpreter = make_interpreter(data)
    for d in interpreter.get_input_details():
        assert d["name"] in ("ids", "mask", "segment_ids") and d["dtype"] == np.int32
        assert list(d["shape_signature"]) == [1, -1]
    # one slot of the 512-position table is the padding token the graph appends (ServingModule)
    assert seq_spec(data).dynamic and seq_spec(data).max_len == 511 == additive_model.config.max_position_embeddings - 1
    assert not seq_spec(read_tflite(fixed.path)).dynamic and seq_spec(read_tflite(fixed.path)).max_len == FIXED
    # the Task Library metadata is the fixed export's, but for the description naming the length
    info, files = md.read(data)
    fixed_info, fixed_files = md.read(read_tflite(fixed.path))
    assert "dynamic, at most 511 tokens" in info.description
    assert (info.inputs, info.outputs, info.tokenizer_vocab) == (fixed_info.inputs, fixed_info.outputs,
                                                                 fixed_info.tokenizer_vocab)
    assert files == fixed_files
    r = dyn.report
    assert r["seq_len"] == "dynamic" and r["max_seq_len"] == 511 and r["passed"] and r["examples"] == N_DEV
    assert r["lengths"]["max"] <= FIXED and r["lengths"]["mean"] < 32  # SST-2 sentences are short
    assert r["max_abs_diff"]["probability"] <= 1e-4  # the gate ran every sentence at its own length
    assert r["padded_reference"]["agreement"] == 1.0  # additive mask: padding changes nothing
    assert r["padded_reference"]["max_abs_diff"]["probability"] <= 1e-4

    own, padded = _run_own_length(dyn.path, dev), _run_fixed(fixed.path, dev)
    diff = float(np.abs(own - padded).max())
    print(f"\nfloat: dynamic (own length) vs fixed-{FIXED} (padded) on {N_DEV} SST-2 dev sentences: "
          f"max |dp| {diff:.2e}")
    assert diff <= 1e-4
    assert (own.argmax(-1) == padded.argmax(-1)).all()
    assert padded.max() > 0.9  # a fitted model: confident outputs, so agreement means something


@pytest.mark.parametrize("mode", ["fp16", "dynamic", "int8-mixed", "int8"])
def test_dynamic_quantized_agrees_with_fixed(mode, google_model, tokenizer, dev, exports,
                                             tmp_path_factory):
    """Same mode, fixed padded vs dynamic at own length: the labels agree within the gate's tolerance. With
    Google's -6 mask (the default; full int8 needs it, float32.min has no int8 scale) the padded keys keep a
    little attention, so padding itself moves the float model slightly: the bound subtracts that float-level
    disagreement."""
    name, model = "google", google_model
    dyn = _export(exports, tmp_path_factory, tokenizer, model, name, mode, dynamic=True)
    fixed = _export(exports, tmp_path_factory, tokenizer, model, name, mode, dynamic=False)
    assert dyn.report["passed"] and dyn.report["seq_len"] == "dynamic"
    own, padded = _run_own_length(dyn.path, dev), _run_fixed(fixed.path, dev)
    agreement = float((own.argmax(-1) == padded.argmax(-1)).mean())
    float_level = _float_level(model, dev)
    print(f"\n{mode} (google mask): dynamic vs fixed-{FIXED} label agreement {agreement:.3f}, max |dp| "
          f"{np.abs(own - padded).max():.2e}; gate (vs Keras, own length) {dyn.report['agreement']:.3f}, "
          f"max |dp| {dyn.report['max_abs_diff']['probability']:.2e}; float padded-vs-own agreement {float_level:.3f}")
    assert agreement >= float_level - (1 - DEFAULT_THRESHOLD[mode])


def test_over_long_input_is_a_clear_error(google_model, tokenizer, tmp_path, exports, tmp_path_factory):
    dyn = _export(exports, tmp_path_factory, tokenizer, google_model, "google", "int8", dynamic=True)
    data = read_tflite(dyn.path)
    spec = seq_spec(data)
    feed = {k: np.ones([1, 512], np.int32) for k in ("ids", "mask", "segment_ids")}
    with pytest.raises(ExportError, match="512 tokens, longer than this model's maximum of 511"):
        run_tflite(make_interpreter(data), feed, spec)
    spec.check(511)
    # gate/calibration/benchmark texts: packed one past the maximum, so a cut shows
    long_text = tmp_path / "long.txt"
    long_text.write_text("a short one.\n" + "word " * 600 + "\n")
    texts = file_inputs(tokenizer, long_text, 10, 512)
    with pytest.raises(DataError, match="example 2 has more than 511 tokens"):
        texts.check_fits(511)
    with pytest.raises(DataError, match="more than 511 tokens"):  # before converting anything
        export_tflite(google_model, "classifier", tmp_path / "x.tflite",
                      ExportOptions(seq_len="dynamic", tokenizer=tokenizer, vocab_file=str(VOCAB), data_dir=SHARED_DATA,
                                    gate_file=long_text, progress=False))
    assert not (tmp_path / "x.tflite").exists()


@pytest.mark.slow
def test_dynamic_qat(tokenizer, dev, tmp_path):
    """--quantize qat with --seq-len dynamic: full integer, passes the gate, labels agree with the fixed QAT export."""
    from mobilebert_tf.qat import apply_qat

    keras.utils.set_random_seed(0)
    config = MobileBertConfig.from_preset("mobilebert_qat", num_hidden_layers=1)
    model = apply_qat(MobileBertForSequenceClassification(config, num_labels=2)).build_with_dummy()
    fit_classifier(model, sst2_inputs(tokenizer, SHARED_DATA, "train", 64, 64), steps=100)
    options = ExportOptions(quantize="qat", tokenizer=tokenizer, vocab_file=str(VOCAB), data_dir=SHARED_DATA,
                            labels=LABELS, calibration_examples=16, progress=False)
    # keyword arguments override fields of the options
    dyn = export_tflite(model, "classifier", tmp_path / "dyn.tflite", options, seq_len="dynamic", gate_examples=N_DEV)
    fixed = export_tflite(model, "classifier", tmp_path / "fixed.tflite", options, seq_len=FIXED, gate_examples=8)
    own, padded = _run_own_length(dyn.path, dev), _run_fixed(fixed.path, dev)
    agreement = float((own.argmax(-1) == padded.argmax(-1)).mean())
    float_level = _float_level(model, dev)
    print(f"\nqat: gate {dyn.report['agreement']:.3f}, dynamic vs fixed label agreement {agreement:.3f}, "
          f"float padded-vs-own {float_level:.3f}")
    assert dyn.report["passed"] and agreement >= float_level - (1 - DEFAULT_THRESHOLD["qat"])


def test_cli_dynamic_encoder_benchmark_and_errors(tmp_path, capsys):
    out = tmp_path / "enc.tflite"
    rc = main(["export", "--preset", "mobilebert_tiny", "--random-init", "--override", "num_hidden_layers=1",
               "--task", "encoder", "--seq-len", "dynamic", "--out", str(out), "--gate-examples", "8",
               "--data", str(SHARED_DATA)])
    assert rc == 0, capsys.readouterr().err
    assert "seq dynamic <= 511" in capsys.readouterr().out
    report = json.loads(out.with_name("enc.tflite.report.json").read_text())
    assert report["seq_len"] == "dynamic" and report["passed"] and report["min_cosine"] > 0.999
    assert seq_spec(read_tflite(out)).dynamic
    rc = main(["benchmark", str(out), "--runs", "3", "--warmup", "1", "--examples", "4", "--data", str(SHARED_DATA)])
    assert rc == 0 and "enc.tflite" in capsys.readouterr().out
    assert main(["export", "--preset", "mobilebert_tiny", "--random-init", "--task", "qa", "--seq-len", "dynamic",
                 "--out", str(tmp_path / "qa.tflite")]) == 1
    assert "BertQuestionAnswerer" in capsys.readouterr().err
    # a dynamic classifier goes into the app assets with its fixed-length fallback, paired in the manifest
    assets = tmp_path / "assets"
    assert main(["export", "--preset", "mobilebert_tiny", "--random-init", "--override", "num_hidden_layers=1",
                 "--task", "classifier", "--seq-len", "dynamic", "--gate-examples", "8", "--android-assets", str(assets),
                 "--out", str(tmp_path / "c.tflite"), "--data", str(SHARED_DATA)]) == 0, capsys.readouterr().err
    assert "fixed-length fallback" in capsys.readouterr().out
    manifest = json.loads((assets / "models.json").read_text())
    entries = {e["file"]: e for e in manifest["models"]}
    assert entries["c.tflite"]["dynamic"]["fallback"] in entries
    with pytest.raises(SystemExit):
        main(["export", "--preset", "mobilebert_tiny", "--random-init", "--seq-len", "dyn", "--out", str(out)])
    assert "number of tokens or 'dynamic'" in capsys.readouterr().err
