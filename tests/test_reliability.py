"""Ordinary faults get one message and exit 1 (no traceback), nothing is silently wrong, one writer per output
(issue 14). Fault injection: a small tmpfs (full disk, read-only folder; needs root, a failure under CI=true),
real TFLite conversions of a tiny module, real TF checkpoints, real subprocesses holding the lock."""
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from mobilebert_tf.export import ExportError
from mobilebert_tf.export import metadata as md
from mobilebert_tf.export.exporter import check_precision
from mobilebert_tf import cli
from mobilebert_tf.config import ConfigError, MobileBertConfig
from mobilebert_tf.errors import MobileBertError, PathError
from mobilebert_tf.fileio import atomic_write_bytes, clean_leftovers, lock_dir
from conftest import GLUE, VOCAB

REPO = Path(__file__).resolve().parents[1]
CORPUS = VOCAB.parents[1] / "corpus" / "bert_sample_text.txt"


# ----------------------------------------------------------------------------- fixtures
def _mount_tmpfs(path: Path, options: str) -> None:
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("fault-injection tests need root (a tmpfs mount); CI runs them as root")
        pytest.skip("needs root to mount a tmpfs (runs under CI)")
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], check=True)


@pytest.fixture
def small_disk(tmp_path):
    """A 64 KiB tmpfs: writes past that fail with ENOSPC."""
    path = tmp_path / "small"
    _mount_tmpfs(path, "size=64k")
    yield path
    subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.fixture
def read_only_dir(tmp_path):
    path = tmp_path / "ro"
    _mount_tmpfs(path, "ro,size=64k")
    yield path
    subprocess.run(["umount", "-l", str(path)], check=False)


def _run_cli(argv, capsys):
    """(exit code, stderr) of ``mobilebert ARGV`` in this process; argparse errors are exit code 2."""
    capsys.readouterr()
    try:
        rc = cli.main([str(a) for a in argv])
    except SystemExit as e:
        rc = e.code
    return rc, capsys.readouterr().err


def _tiny_tflite(quantize: str = "none") -> bytes:
    """A real converted model: ids [1, 8] int32 -> a 64x64 matmul (4096-element weight)."""
    class Tiny(tf.Module):
        def __init__(self):
            self.w = tf.Variable(np.random.default_rng(0).normal(size=(64, 64)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([1, 64], tf.float32, name="x")])
        def __call__(self, x):
            return {"y": tf.matmul(x, self.w)}

    m = Tiny()
    conv = tf.lite.TFLiteConverter.from_concrete_functions([m.__call__.get_concrete_function()], m)
    if quantize == "dynamic":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    return conv.convert()


# ----------------------------------------------------------------------------- silent wrong results
def test_export_refuses_a_model_without_the_requested_precision():
    float_model, dynamic_model = _tiny_tflite(), _tiny_tflite("dynamic")
    for mode in ("int8", "int8-mixed", "dynamic", "qat", "fp16"):
        with pytest.raises(ExportError, match=f"--quantize {mode} produced a model whose weights are not"):
            check_precision(float_model, mode)
    assert check_precision(dynamic_model, "dynamic") == {"INT8": 4096}
    assert check_precision(float_model, "none") == {"FLOAT32": 4096}


@pytest.mark.parametrize("argv, flag", [
    (["export", "--preset", "mobilebert_tiny", "--random-init", "--out", "m.tflite", "--calibration-examples", "0"],
     "--calibration-examples"),
    (["export", "--preset", "mobilebert_tiny", "--random-init", "--out", "m.tflite", "--calibration-examples", "-10"],
     "--calibration-examples"),
    (["export", "--preset", "mobilebert_tiny", "--random-init", "--out", "m.tflite", "--gate-examples", "-3"],
     "--gate-examples"),
    (["export", "--preset", "mobilebert_tiny", "--random-init", "--out", "m.tflite", "--seq-len", "0"], "--seq-len"),
    (["export", "--preset", "mobilebert_tiny", "--random-init", "--out", "m.tflite", "--threshold", "1.5"],
     "--threshold"),
    (["finetune", "--task", "sst2", "--init", "random", "--out", "o", "--lr", "0"], "--lr"),
    (["finetune", "--task", "sst2", "--init", "random", "--out", "o", "--epochs", "x"], "--epochs"),
    (["pretrain", "--data", "d", "--out", "o", "--steps", "0"], "--steps"),
    (["pretrain", "--data", "d", "--out", "o", "--lr", "nan"], "--lr"),
    (["distill", "--teacher", "t", "--data", "d", "--out", "o", "--temperature", "0"], "--temperature"),
    (["create-pretraining-data", "--corpus", "c", "--vocab", "v", "--out", "o", "--masked-lm-prob", "2"],
     "--masked-lm-prob"),
    (["benchmark", "m.tflite", "--runs", "-1"], "--runs"),
])
def test_numeric_flags_out_of_range_name_the_flag(argv, flag, capsys):
    rc, err = _run_cli(argv, capsys)
    assert rc == 2 and f"argument {flag}:" in err and "Traceback" not in err


def test_every_numeric_flag_of_every_command_has_a_range():
    """No command keeps a bare type=int / type=float: each numeric flag is checked by mobilebert_tf.argtypes."""
    bare = []
    for name in cli.COMMANDS:
        parser = cli.build_parser(load=name)
        sub = next(a for a in parser._actions if a.dest == "command").choices[name]
        bare += [f"{name} {a.option_strings[0]}" for a in sub._actions if a.type in (int, float)]
    # squad-eval --version uses choices=(1, 2), a range of its own
    assert bare == ["squad-eval --version"]


def test_config_json_missing_a_field_is_an_error_naming_it(tmp_path):
    values = json.loads(MobileBertConfig().to_json())
    for field in ("hidden_act", "normalization_type"):
        path = tmp_path / f"no_{field}.json"
        path.write_text(json.dumps({k: v for k, v in values.items() if k != field}))
        with pytest.raises(ConfigError, match=f"missing config field.*'{field}'"):
            MobileBertConfig.from_json(path)
    # HF / TF1 imports keep their documented defaults (from_dict, not require_all)
    assert MobileBertConfig.from_dict({"hidden_size": 512}).hidden_act == "relu"


def test_config_json_of_random_bytes_names_the_file(tmp_path):
    path = tmp_path / "config.json"
    path.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8)))
    with pytest.raises(ConfigError, match="config.json"):
        MobileBertConfig.from_json(path)


def test_export_gates_a_sentence_pair_model_on_its_own_task(vocab_file):
    from mobilebert_tf.export import task_data
    from mobilebert_tf.tokenization import BertTokenizer

    tok = BertTokenizer(vocab_file)
    gate = task_data.gate_inputs("classifier", tok, GLUE.parent, 20, 64, glue_task="rte")
    assert "RTE" in gate.source and len(gate) == 20 and gate.labels is not None
    assert (gate.segment_ids.max(axis=1) == 1).all()  # packed as pairs: every row has a second segment
    calib = task_data.calibration_inputs("classifier", tok, GLUE.parent, 5, 64, glue_task="rte")
    assert "train" in calib.source and "RTE" in calib.source
    assert "SST-2" in task_data.gate_inputs("classifier", tok, GLUE.parent, 5, 64).source  # random-init presets


# ----------------------------------------------------------------------------- one writer per output
HOLDER = textwrap.dedent("""
    import sys, time
    from mobilebert_tf.fileio import lock_dir
    name = sys.argv[2] if len(sys.argv) > 2 else ".lock"
    with lock_dir(sys.argv[1], lock_name=name, clean=False):
        print("locked", flush=True)
        time.sleep(120)
""")


@pytest.fixture(scope="module")
def held_dirs(tmp_path_factory):
    """Folders locked by another process (the run that is "in use"): a run dir, and one export file."""
    base = tmp_path_factory.mktemp("held")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", HOLDER, str(base / "run")], stdout=subprocess.PIPE, env=env),
             subprocess.Popen([sys.executable, "-c", HOLDER, str(base), ".m.tflite.lock"], stdout=subprocess.PIPE,
                              env=env)]
    for p in procs:
        assert p.stdout.readline().strip() == b"locked"
    yield base, procs
    for p in procs:
        p.kill()
        p.wait()


@pytest.mark.parametrize("command", ["pretrain", "distill", "finetune", "export", "create-pretraining-data",
                                     "import"])
def test_a_second_writer_is_refused_with_the_holders_pid(command, held_dirs, tmp_path, capsys):
    base, procs = held_dirs
    run, pid = base / "run", procs[0].pid
    argv = {"pretrain": ["pretrain", "--data", tmp_path, "--out", run],
            "distill": ["distill", "--teacher", tmp_path, "--data", tmp_path, "--out", run],
            "finetune": ["finetune", "--task", "sst2", "--init", "random", "--out", run],
            "export": ["export", "--preset", "mobilebert_tiny", "--random-init", "--out", base / "m.tflite"],
            "create-pretraining-data": ["create-pretraining-data", "--corpus", CORPUS, "--vocab", VOCAB, "--out", run],
            "import": ["import", tmp_path, "--from", "hf", "--out", run]}[command]
    if command == "export":
        pid = procs[1].pid
    rc, err = _run_cli(argv, capsys)
    assert rc == 1 and f"is in use by PID {pid}" in err and "Traceback" not in err, err


def test_lock_is_released_and_leaves_nothing(tmp_path):
    with lock_dir(tmp_path / "a") as d:
        assert (d / ".lock").read_text().strip() == str(os.getpid())
    assert not (tmp_path / "a").exists()  # created by the lock, nothing written: removed
    with lock_dir(tmp_path / "c" / "d" / "e"):
        pass
    assert not (tmp_path / "c").exists()  # every folder it created
    (tmp_path / "b").mkdir()
    with lock_dir(tmp_path / "b"):
        (tmp_path / "b" / "x").write_text("x")
    with lock_dir(tmp_path / "b"):  # not stale after a normal exit
        pass
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["x"]


# ----------------------------------------------------------------------------- finetune --overwrite
def _tiny_model_dir(out: Path):
    from mobilebert_tf.finetuning.modeling import init_model
    from mobilebert_tf.finetuning.tasks import get_finetune_task
    from mobilebert_tf.finetuning.trainer import save_checkpoint

    model, _ = init_model(get_finetune_task("sst-2"), "random", preset="mobilebert_tiny",
                          config_overrides={"num_hidden_layers": 1})
    save_checkpoint(model, out, vocab_file=str(VOCAB), metadata={"task": "sst-2", "best_epoch": 1})
    (out / "history.json").write_text("[]\n")
    return {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}


def test_overwrite_keeps_the_old_model_when_the_new_run_fails(tmp_path, capsys):
    out = tmp_path / "model"
    before = _tiny_model_dir(out)
    bad = tmp_path / "train.tsv"
    bad.write_text("sentence\tlabel\ngood\t1\nbad row\t7\n")
    common = ["finetune", "--task", "sst2", "--init", "random", "--preset", "mobilebert_tiny", "--override",
              "num_hidden_layers=1", "--seq-len", "16", "--out", out, "--overwrite", "--no-progress"]
    rc, err = _run_cli(common + ["--train-file", bad, "--dev-file", bad], capsys)
    assert rc == 1 and "train.tsv" in err and "Traceback" not in err
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    for name in ("config.json", "model.json", "vocab.txt"):
        (corrupt / name).write_bytes(before[name])
    (corrupt / "weights.safetensors").write_bytes(b"\x00" * 100)
    rc, err = _run_cli(common[:4] + [corrupt] + common[7:], capsys)
    assert rc == 1 and "weights.safetensors" in err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


# ----------------------------------------------------------------------------- filesystem faults
def test_unwritable_output_folder_fails_before_any_work(read_only_dir, capsys):
    for argv in (["export", "--preset", "mobilebert_tiny", "--random-init", "--out", read_only_dir / "m.tflite"],
                 ["pretrain", "--data", read_only_dir, "--out", read_only_dir / "run"],
                 ["finetune", "--task", "sst2", "--init", "random", "--out", read_only_dir / "run"],
                 ["create-pretraining-data", "--corpus", CORPUS, "--vocab", VOCAB, "--out", read_only_dir / "d"]):
        rc, err = _run_cli(argv, capsys)
        assert rc == 1 and "read-only file system" in err and str(read_only_dir) in err, err
        assert "Traceback" not in err


def test_out_that_is_a_file_or_a_directory(tmp_path, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    rc, err = _run_cli(["finetune", "--task", "sst2", "--init", "random", "--out", a_file], capsys)
    assert rc == 1 and "is an existing file" in err
    rc, err = _run_cli(["pretrain", "--data", tmp_path, "--out", a_file / "run"], capsys)
    assert rc == 1 and "Traceback" not in err and str(a_file) in err
    rc, err = _run_cli(["export", "--preset", "mobilebert_tiny", "--random-init", "--out", tmp_path], capsys)
    assert rc == 1 and "is a directory" in err
    with pytest.raises(PathError, match="is a directory"):
        atomic_write_bytes(tmp_path, b"x")


def test_full_disk_is_one_message_and_leaves_nothing_behind(small_disk, capsys):
    # create-pretraining-data: the TFRecord writers fail on flush
    out = small_disk / "data"
    rc, err = _run_cli(["create-pretraining-data", "--corpus", CORPUS, "--vocab", VOCAB, "--out", out,
                        "--dupe-factor", "10", "--seq-len", "64", "--no-progress"], capsys)
    assert rc == 1 and "no space left on device" in err and "Traceback" not in err, err
    assert not out.exists()  # no .part-*.tmpPID, no manifest, no empty folder
    # an atomic write (weights, model.json, .tflite): PathError naming the file, no temp file left
    from mobilebert_tf.weights import save_safetensors

    with pytest.raises(PathError, match="weights.safetensors: no space left on device") as e:
        save_safetensors({"w": np.zeros((64, 1024), np.float32)}, small_disk / "weights.safetensors")
    assert e.value.errno == errno.ENOSPC and isinstance(e.value, MobileBertError)
    with pytest.raises(PathError, match="no space left"):
        atomic_write_bytes(small_disk / "m.tflite", b"\x00" * 200_000)
    assert sorted(p.name for p in small_disk.iterdir()) == []


def test_leftovers_are_cleaned_on_the_next_start(tmp_path):
    run = tmp_path / "run"
    dead = 2 ** 22 + 12345  # above pid_max's default: no such process
    (run / "checkpoints" / "ckpt-5_temp").mkdir(parents=True)
    (run / "checkpoints" / "ckpt-5_temp" / "part-00000").write_bytes(b"x")
    (run / f".staging-{dead}").mkdir()
    (run / f".part-00000-of-00001.tfrecord.tmp{dead}").write_bytes(b"x")
    (run / f"model.json.tmp-{dead}").write_bytes(b"x")
    (run / f"mine.tmp-{os.getpid()}").write_bytes(b"x")  # a live writer's file stays
    (run / "config.json").write_text("{}")
    with lock_dir(run):  # every writing command starts so
        pass
    assert sorted(str(p.relative_to(run)) for p in run.rglob("*")) == \
        ["checkpoints", "config.json", f"mine.tmp-{os.getpid()}"]
    assert clean_leftovers(tmp_path / "missing") == []


def test_weights_are_written_0644_like_the_other_files(tmp_path):
    old = os.umask(0o022)
    try:
        _tiny_model_dir(tmp_path / "m")
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "m").iterdir()}
    assert set(modes.values()) == {0o644}, modes


def test_unreadable_weights_name_the_file(tmp_path):
    """A 0000 weights file read without the capabilities that let root read anything (setpriv drops
    CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH): a CheckpointError naming the file, and the CLI says it in one line."""
    if os.geteuid() != 0:
        pytest.skip("runs as root (setpriv), under CI")  # a normal user just chmods: same code path
    from mobilebert_tf.weights import save_safetensors

    weights = tmp_path / "weights.safetensors"
    save_safetensors({"w": np.zeros(4, np.float32)}, weights)
    weights.chmod(0)
    code = ("import sys\nfrom mobilebert_tf.weights import CheckpointError, load_safetensors\n"
            "try:\n    load_safetensors(sys.argv[1])\nexcept CheckpointError as e:\n    print('ERR', e)\n")
    drop = "-dac_override,-dac_read_search"
    proc = subprocess.run(["setpriv", f"--bounding-set={drop}", f"--inh-caps={drop}", sys.executable, "-c", code,
                           str(weights)], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
                          timeout=120)
    assert proc.stdout.startswith("ERR") and str(weights) in proc.stdout and "ermission" in proc.stdout, \
        proc.stdout + proc.stderr[-2000:]


def test_unreadable_input_file_is_one_message(tmp_path):
    """The CLI on a corpus it may not read (capabilities dropped as above): exit 1, the path, no traceback."""
    if os.geteuid() != 0:
        pytest.skip("runs as root (setpriv), under CI")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("Some text.\n")
    corpus.chmod(0)
    drop = "-dac_override,-dac_read_search"
    proc = subprocess.run(["setpriv", f"--bounding-set={drop}", f"--inh-caps={drop}", sys.executable, "-m",
                           "mobilebert_tf.cli", "create-pretraining-data", "--corpus", str(corpus), "--vocab",
                           str(VOCAB), "--out", str(tmp_path / "out")], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert f"cannot access {corpus}: permission denied" in proc.stderr


def test_predict_says_when_text_is_empty_or_truncated(tmp_path):
    from mobilebert_tf.data import DataError
    from mobilebert_tf.finetuning.prediction import Predictor

    _tiny_model_dir(tmp_path / "m")
    predictor = Predictor(tmp_path / "m")
    for record in ({"text": "  "}, {"text": "fine", "text_b": ""}):
        with pytest.raises(DataError, match="in:1: '(text|text_b)' is empty"):
            predictor.predict_records([record], source="in")
    long, short = predictor.predict_records([{"text": "word " * 300}, {"text": "a short one"}])
    assert long["truncated"].startswith("302 tokens") and "128 used" in long["truncated"]
    assert "truncated" not in short and set(short) == {"label", "probabilities"}


# ----------------------------------------------------------------------------- resume
def _keeper_run(tmp_path, steps):
    from mobilebert_tf.training.checkpointing import CheckpointKeeper, TrainState

    model = tf.Module()
    model.w = tf.Variable(tf.zeros([256, 256]))
    opt = tf.Module()
    opt.m = tf.Variable(tf.zeros([3]))
    state = TrainState()
    keeper = CheckpointKeeper(str(tmp_path), max_to_keep=3)
    for _ in range(steps):
        state.advance()
        model.w.assign_add(tf.ones([256, 256]))
        keeper.save(model, state, opt)
    return keeper, model, state


def test_truncated_latest_checkpoint_falls_back_to_the_previous_one(tmp_path):
    keeper, model, state = _keeper_run(tmp_path, 2)
    data = Path(keeper.latest + ".data-00000-of-00001")
    data.write_bytes(data.read_bytes()[:1000])  # killed mid-write / disk full
    model.w.assign(tf.zeros([256, 256]))
    said = []
    used = keeper.restore_model_and_state(model, state, log=said.append)
    assert used.endswith("ckpt-1") and float(model.w[0, 0]) == 1.0 and state.as_dict()["global_step"] == 1
    assert "ckpt-2 is damaged or truncated" in said[0] and "resuming from the previous checkpoint" in said[-1]


def test_checkpoint_save_on_a_full_disk_names_the_folder(small_disk):
    with pytest.raises(PathError, match=r"cannot save a checkpoint in .*checkpoints: no space left on device"):
        _keeper_run(small_disk, 1)  # 256 KiB of weights on a 64 KiB disk
    removed = clean_leftovers(small_disk)  # what the next run's lock_dir does first
    assert not [p for p in small_disk.rglob("*") if "_temp" in p.name or ".tmp" in p.name], removed


def test_resume_truncates_metrics_to_the_checkpoint_step(tmp_path, capsys):
    from mobilebert_tf.training.progress import METRICS_FILE, RunLogger

    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / METRICS_FILE).write_text("".join(json.dumps({"step": s, "loss": 1.0}) + "\n" for s in range(1, 8))
                                     + '{"step": 8, "lo')  # killed at step 8, checkpoint at 5
    logger = RunLogger(str(tmp_path), 10, 5, log_every=1, progress=False, description="pretrain")
    logger.step(6, {"loss": 0.5})
    logger.close()
    steps = [json.loads(line)["step"] for line in (logs / METRICS_FILE).read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]
    assert "pretrain: resumed from step 5" in capsys.readouterr().err


# ----------------------------------------------------------------------------- readers
def _with_metadata() -> bytes:
    info = md.ModelInfo(name="t", description="d", version="1", author="a", license="l",
                        inputs=[md.TensorInfo("x", "")], outputs=[md.TensorInfo("y", "")], tokenizer_vocab="vocab.txt")
    return md.attach(_tiny_tflite(), info, {"vocab.txt": b"[PAD]\n[UNK]\n" * 50})


def test_damaged_metadata_zip_is_an_export_error(tmp_path, capsys):
    data = _with_metadata()
    info, files = md.read(data)
    assert info.name == "t" and set(files) == {"vocab.txt"}
    end = data.rfind(b"PK\x05\x06")  # end of central directory: point it at garbage
    damaged = data[:end + 16] + b"\xff\xff\xff\x7f" + data[end + 20:]
    with pytest.raises(ExportError, match="m.tflite: damaged associated-files zip"):
        md.read(damaged, "m.tflite")
    local = data.find(b"PK\x03\x04")
    damaged = data[:local + 30] + b"\x00" * 8 + data[local + 38:]  # the stored file's bytes: CRC mismatch
    with pytest.raises(ExportError, match="damaged"):
        md.read(damaged)
    assert zipfile.is_zipfile(__import__("io").BytesIO(damaged))


def test_lone_surrogate_and_empty_context_are_named(vocab_file, tmp_path, capsys):
    from mobilebert_tf.data import DataError, squad
    from mobilebert_tf.tokenization import BertTokenizer, TokenizerError

    tok = BertTokenizer(vocab_file)
    with pytest.raises(TokenizerError, match="text 2: character 2 is a lone surrogate .U\\+D800"):
        tok.encode(["ok", "a\ud800b"])
    doc = {"data": [{"paragraphs": [{"context": " ", "qas": [{"id": "q", "question": "why?", "answers": []}]}]}]}
    with pytest.raises(DataError, match=r"paragraphs\[0\].context is empty"):
        squad.read_squad(doc)
    with pytest.raises(DataError, match="no SQuAD features"):
        squad.features_to_arrays([])


def test_benchmark_with_a_relative_path_times_that_file(tmp_path, monkeypatch):
    from mobilebert_tf.benchmarks.host import measure_tflite

    (tmp_path / "m.tflite").write_bytes(_tiny_tflite())
    monkeypatch.chdir(tmp_path)
    r = measure_tflite("m.tflite", [{"x": np.ones((1, 64), np.float32)}], threads=1, runs=3, warmup=1)
    assert r["runs"] == 3 and r["size_mb"] == os.path.getsize(tmp_path / "m.tflite") / 1e6
    # the worker runs without mobilebert_tf's __init__ (benchmarks.host.light_command): no TensorFlow in its RSS
    assert r["tensorflow_loaded"] is False
