"""The Android demo's contract with the exporter.

The app (android_demo/) knows its models only through ``assets/models.json``. Here every model that the
committed manifest names is exported small (1-layer mobilebert_tiny, random init) through
``mobilebert export ... --android-assets DIR``; the manifest the exporter writes must pin the same
contract as the committed one, and each .tflite must satisfy it and the TFLite Task Library's
(BertQuestionAnswerer / BertNLClassifier): tensor names, shapes, dtypes, metadata with the vocab and the
labels, builtin ops only. Also: manifest updates are idempotent and atomic, a broken manifest is a clear
error before any export, and the Kotlin core compiles and passes its JVM unit tests (when kotlinc is here).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import types
from pathlib import Path

import numpy as np
import pytest
import tf_keras as keras

from mobilebert_tf.export import ExportError, android_assets
from mobilebert_tf.export import metadata as md
from mobilebert_tf.export.tflite_io import make_interpreter, non_builtin_ops, read_tflite
from mobilebert_tf import MobileBertConfig, MobileBertForQuestionAnswering, MobileBertForSequenceClassification
from mobilebert_tf.cli import main
from mobilebert_tf.data.glue import read_glue
from mobilebert_tf.data.squad import read_squad
from tests.conftest import GLUE, SHARED_DATA, SQUAD_SMALL, VOCAB

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "android_demo" / "app" / "src" / "main" / "assets"
COMMITTED = ASSETS / "models.json"
sys.path.insert(0, str(ROOT / "android_demo" / "host_replay"))
import kotlin_host  # noqa: E402
import task_library_replay as replay  # noqa: E402

SMALL = dict(num_hidden_layers=1)


def _committed() -> dict:
    return android_assets.parse_manifest(COMMITTED.read_text(encoding="utf-8"), str(COMMITTED))


COMMITTED_FILES = [m["file"] for m in _committed()["models"]]


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    """Small task models saved as `mobilebert finetune` would (labels in model.json)."""
    tmp = tmp_path_factory.mktemp("android_models")
    keras.utils.set_random_seed(0)
    config = MobileBertConfig.from_preset("mobilebert_tiny", **SMALL)
    qa = MobileBertForQuestionAnswering(config).build_with_dummy()
    qa.save_pretrained(tmp / "squad", vocab_file=str(VOCAB))
    labels = next(m["labels"] for m in _committed()["models"] if m["task"] == "classifier")
    classifier = MobileBertForSequenceClassification(config, num_labels=len(labels)).build_with_dummy()
    classifier.save_pretrained(tmp / "sst2", vocab_file=str(VOCAB), metadata={"labels": labels})
    return {"qa": tmp / "squad", "classifier": tmp / "sst2"}


def _export_args(model_dir, entry, out_dir, assets_dir):
    return ["export", "--model", str(model_dir), "--seq-len", str(entry["seq_len"]), "--quantize",
            entry["quantization"], "--out", str(out_dir / entry["file"]), "--android-assets", str(assets_dir),
            "--data", str(SHARED_DATA), "--gate-examples", "2", "--calibration-examples", "4",
            "--allow-accuracy-drop"]


@pytest.fixture(scope="module")
def assets(model_dirs, tmp_path_factory):
    """An assets folder holding the committed manifest, then every model it names exported into it."""
    tmp = tmp_path_factory.mktemp("android_assets")
    assets_dir, out_dir = tmp / "assets", tmp / "out"
    assets_dir.mkdir()
    shutil.copyfile(COMMITTED, assets_dir / "models.json")
    for entry in _committed()["models"]:
        assert main(_export_args(model_dirs[entry["task"]], entry, out_dir, assets_dir)) == 0, entry["file"]
    return types.SimpleNamespace(dir=assets_dir, out=out_dir)


def test_exporter_writes_the_committed_manifest(assets):
    committed = _committed()
    written = android_assets.load_manifest(assets.dir)
    # the exports replaced the committed entries in place: same files, same order, no duplicates
    assert [m["file"] for m in written["models"]] == COMMITTED_FILES
    for want, got in zip(committed["models"], written["models"]):
        assert android_assets.contract_view(got) == android_assets.contract_view(want), want["file"]
        data = (assets.dir / got["file"]).read_bytes()
        assert got["size_bytes"] == len(data)
        assert (assets.out / got["file"]).read_bytes() == data  # the copy is the exported file
        # random-init 1-layer models on 2 gate examples: the float export is the Keras model's function
        # (agreement 1.0); a quantized one may flip a near-50/50 random-model label (measured: int8 QA 1.0,
        # int8 classifier 0.5 with probabilities 5.5e-4 apart), so it gets the output bound, not a label rate
        report = json.loads((assets.out / f"{got['file']}.report.json").read_text())
        assert got["accuracy_gate"]["examples"] == 2, got["file"]
        if got["quantization"] == "none":
            assert got["accuracy_gate"]["agreement"] == 1.0, got["file"]
        assert max(report["max_abs_diff"].values()) <= (1e-5 if got["quantization"] == "none" else 5e-3), got["file"]
        assert got["description"]


@pytest.mark.parametrize("file", COMMITTED_FILES)
def test_model_satisfies_manifest_and_task_library_contract(assets, file):
    entry = next(m for m in android_assets.load_manifest(assets.dir)["models"] if m["file"] == file)
    data = read_tflite(assets.dir / file)
    seq = entry["seq_len"]
    interpreter = make_interpreter(data)
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()

    # tensors: what the manifest says, in the model's order
    assert [(d["name"], d["dtype"].__name__, list(d["shape"])) for d in inputs] == \
        [(t["name"], t["dtype"], t["shape"]) for t in entry["inputs"]]
    assert [(d["name"], d["dtype"].__name__, list(d["shape"])) for d in outputs] == \
        [(t["name"], t["dtype"], t["shape"]) for t in entry["outputs"]]
    # int32 [1, seq] named ids / mask / segment_ids; ordered ids, segment_ids, mask, which is also the
    # positional fallback of the Task Library's GetBertInputTensorIndices (and what 0.4.2 assumed)
    assert [d["name"] for d in inputs] == ["ids", "segment_ids", "mask"]
    assert all(d["dtype"] == np.int32 and list(d["shape"]) == [1, seq] for d in inputs)
    if entry["task"] == "qa":
        assert sorted(d["name"] for d in outputs) == ["end_logits", "start_logits"]
        assert all(d["dtype"] == np.float32 and list(d["shape"]) == [1, seq] for d in outputs)
        assert entry["task_library"] == {"api": "BertQuestionAnswerer", "compatible": seq == 384,
                                         "note": entry["task_library"]["note"]}
    else:
        assert [d["name"] for d in outputs] == ["probability"]
        assert outputs[0]["dtype"] == np.float32 and list(outputs[0]["shape"]) == [1, len(entry["labels"])]
        assert entry["task_library"]["api"] == "BertNLClassifier" and entry["task_library"]["compatible"]
    assert non_builtin_ops(data) == []

    # metadata: tensor names in subgraph order (the Task Library matches them by position), the
    # BertTokenizer process unit with vocab.txt packed in the model, labels on the probability tensor
    info, files = md.read(data)
    assert [t.name for t in info.inputs] == [d["name"] for d in inputs]
    assert [t.name for t in info.outputs] == [d["name"] for d in outputs]
    assert info.tokenizer_vocab == entry["tokenizer"]["vocab_file"] == "vocab.txt"
    assert files["vocab.txt"] == VOCAB.read_bytes()
    if entry["task"] == "classifier":
        label_files = [f for f in info.outputs[0].associated_files if f.type == md.TENSOR_AXIS_LABELS]
        assert len(label_files) == 1 and files[label_files[0].name].decode().splitlines() == entry["labels"]

    # one real input through the app's own pre-processing, tensors found by name as the app does
    tokenizer = replay.WordpieceTokenizer(files["vocab.txt"].decode().splitlines())
    if entry["task"] == "qa":
        ex = read_squad(SQUAD_SMALL)[0]
        feature = replay.qa_preprocess(tokenizer, ex.context_text, ex.question_text, seq)
        feed = {"ids": feature.ids, "mask": feature.mask, "segment_ids": feature.segment_ids}
    else:
        feed = replay.classifier_preprocess(tokenizer, read_glue("sst-2", GLUE / "SST-2" / "dev.tsv", "dev")[0].text_a,
                                            seq)
    index = {d["name"]: d["index"] for d in inputs}
    for name, value in feed.items():
        interpreter.set_tensor(index[name], np.asarray([value], np.int32))
    interpreter.invoke()
    result = {d["name"]: interpreter.get_tensor(d["index"]) for d in outputs}
    assert all(np.isfinite(v).all() for v in result.values())
    if entry["task"] == "qa":
        # a random model's top logits mostly fall on the question or padding, where no answer may start (the
        # Task Library then returns none), so the model's own logits are kept on the passage's positions only:
        # the post-processing must then return spans inside the passage, best first
        start, end = result["start_logits"][0], result["end_logits"][0]
        in_passage = np.array([(i + replay.OUTPUT_OFFSET) in feature.token_to_orig_map for i in range(seq)])
        answers = replay.qa_postprocess(feature, np.where(in_passage, start, -1e9), np.where(in_passage, end, -1e9),
                                        context=ex.context_text)
        assert answers, "no answer on the passage's own logits"
        assert all(a.end >= a.start and in_passage[a.start] and in_passage[a.end] for a in answers)
        assert [a.logit for a in answers] == sorted((a.logit for a in answers), reverse=True)
    else:
        assert abs(float(result["probability"].sum()) - 1.0) < 1e-3


def _result_for(assets_dir, out_dir, file):
    """An ExportedModel-like record of an export already done (path, quantization, gate report)."""
    entry = next(m for m in android_assets.load_manifest(assets_dir)["models"] if m["file"] == file)
    report = json.loads((out_dir / f"{file}.report.json").read_text())
    return types.SimpleNamespace(path=str(out_dir / file), quantize=entry["quantization"], report=report)


def test_reinstall_is_idempotent_and_replaces_in_place(assets, tmp_path):
    assets_dir = tmp_path / "assets"
    shutil.copytree(assets.dir, assets_dir)
    before = (assets_dir / "models.json").read_bytes()
    # the same export installed again: byte-identical manifest
    android_assets.install(_result_for(assets.dir, assets.out, COMMITTED_FILES[0]), assets_dir)
    assert (assets_dir / "models.json").read_bytes() == before
    # another model exported under an existing name: its entry is replaced where it was
    target = next(m["file"] for m in _committed()["models"] if m["task"] == "classifier")
    other = tmp_path / "out" / target
    other.parent.mkdir()
    qa_file = next(m["file"] for m in _committed()["models"] if m["task"] == "qa")
    shutil.copyfile(assets.out / qa_file, other)
    android_assets.install(types.SimpleNamespace(path=str(other), quantize="none", report={}), assets_dir)
    models = android_assets.load_manifest(assets_dir)["models"]
    assert [m["file"] for m in models] == COMMITTED_FILES
    replaced = models[COMMITTED_FILES.index(target)]
    assert replaced["task"] == "qa" and "accuracy_gate" not in replaced
    assert (assets_dir / target).read_bytes() == other.read_bytes()


def test_manifest_update_is_atomic(assets, tmp_path, monkeypatch):
    assets_dir = tmp_path / "assets"
    assets_dir.mkdir()
    shutil.copyfile(assets.dir / "models.json", assets_dir / "models.json")
    before = (assets_dir / "models.json").read_bytes()
    real_replace = os.replace

    def failing_replace(src, dst):
        if str(dst).endswith("models.json"):
            raise OSError("disk full")
        return real_replace(src, dst)

    monkeypatch.setattr(android_assets.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        android_assets.update_manifest(assets_dir, {"file": "new.tflite", "task": "qa"})
    monkeypatch.undo()
    assert (assets_dir / "models.json").read_bytes() == before  # never half-written
    assert not [p.name for p in assets_dir.iterdir() if ".tmp-" in p.name]  # no leftovers

    # concurrent writers (two exports into one folder) each keep their entry
    entries = [{"file": f"m{i}.tflite", "task": "qa"} for i in range(8)]
    threads = [threading.Thread(target=android_assets.update_manifest, args=(assets_dir, e)) for e in entries]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    files = [m["file"] for m in android_assets.load_manifest(assets_dir)["models"]]
    assert files[:len(COMMITTED_FILES)] == COMMITTED_FILES
    assert sorted(files[len(COMMITTED_FILES):]) == sorted(e["file"] for e in entries)


@pytest.mark.parametrize("text, message", [
    ("{\"models\": [\n  {\"file\": \"a.tflite\",}\n]}", "not valid JSON (line 2, column 23"),
    ("[]", "top level must be an object"),
    ('{"models": {}}', "'models' must be a list"),
    ('{"schema_version": 2, "models": []}', "schema_version 2 is not supported"),
    ('{"models": [{"file": "a.tflite"}, {"file": "a.tflite"}]}', "listed twice"),
    ('{"models": [{"task": "qa"}]}', "models[0].file must be a non-empty string"),
])
def test_bad_manifest_is_a_clear_error(tmp_path, text, message):
    (tmp_path / "models.json").write_text(text)
    with pytest.raises(ExportError) as err:
        android_assets.check_manifest(tmp_path)
    assert message in str(err.value) and str(tmp_path / "models.json") in str(err.value)


def test_cli_refuses_before_exporting(model_dirs, tmp_path, capsys):
    """A broken manifest (or an app-incompatible request) stops `mobilebert export` before the export;
    the manifest is left as it was."""
    assets_dir = tmp_path / "assets"
    assets_dir.mkdir()
    (assets_dir / "models.json").write_text("{bad json")
    entry = _committed()["models"][0]
    args = _export_args(model_dirs["qa"], entry, tmp_path / "out", assets_dir)
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "models.json: not valid JSON (line 1, column 2" in err and "fix it or delete it" in err
    assert not (tmp_path / "out").exists() and (assets_dir / "models.json").read_text() == "{bad json"

    (assets_dir / "models.json").unlink()
    assert main(args + ["--no-metadata"]) == 1
    assert "drop --no-metadata" in capsys.readouterr().err
    assert main(args + ["--task", "encoder"]) == 1
    assert "runs qa and classifier models, not 'encoder'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not (assets_dir / "models.json").exists()


def test_model_binaries_are_not_committed():
    """Models are generated into assets/ by the exporter, never committed: git ignores them there."""
    assert "*.tflite" in (ASSETS / ".gitignore").read_text().split()
    assert "*.tflite" in (ROOT / "android_demo" / ".gitignore").read_text().split()


@pytest.mark.needs_tool("kotlinc + JUnit")
def test_kotlin_core_compiles_and_unit_tests_pass(assets, tmp_path):
    """The app's pure-Kotlin core (no android.*) compiled with kotlinc and its JUnit tests run on the
    host JVM; the Kotlin ManifestParser then reads the manifest the exporter just wrote."""
    kotlinc = kotlin_host.find_kotlinc()
    if kotlinc is None:
        pytest.skip("no kotlinc >= 1.6: set $KOTLINC, put kotlinc on PATH, or "
                    "`npm install -g kotlin-compiler@2.1.20` (see android_demo/README.md)")
    junit = kotlin_host.find_junit()
    core = kotlin_host.compile_core(kotlinc, junit)

    cases = {"vocab_file": str(VOCAB), "qa": [], "classifier": [], "manifest_file": str(assets.dir / "models.json")}
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    kotlin_host.run_replay_check(core, tmp_path / "cases.json", tmp_path / "out.json")
    seen = json.loads((tmp_path / "out.json").read_text())["manifest"]
    written = android_assets.load_manifest(assets.dir)["models"]
    assert seen == [{"file": m["file"], "task": m["task"], "seq_len": m["seq_len"], "quantization": m["quantization"],
                     "labels": m["labels"], "task_library": m["task_library"]["compatible"],
                     "size_bytes": m["size_bytes"], "dynamic": "dynamic" in m,
                     "fallback": (m.get("dynamic") or {}).get("fallback")} for m in written]

    if junit is None:
        pytest.skip(f"core compiled with {core.version}; JUnit 4 not found ($JUNIT_CLASSPATH, apt-get install "
                    f"junit4, or ~/.m2), so its unit tests did not run")
    proc = kotlin_host.run_junit(core)
    print(f"\n{core.version}: {proc.stdout.strip().splitlines()[-1]}")
    assert proc.returncode == 0 and "OK (" in proc.stdout, proc.stdout + proc.stderr
