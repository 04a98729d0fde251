"""Multi-worker training (issue 14): `mobilebert pretrain` and one distill stage as 2 worker processes
(MultiWorkerMirroredStrategy, TF_CONFIG on 127.0.0.1 ports) give the losses and final weights of the
single-worker run at the same global batch (tolerance of the Mirrored test in tests/test_distribute.py);
killing a worker mid-run makes the job fail cleanly (one message, not a hang), and restarting every worker
with --resume continues from the last checkpoint."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import CORPUS, VOCAB
from mobilebert_tf.config import MobileBertConfig
from mobilebert_tf.data.pretraining import PretrainingDataConfig, create_pretraining_data
from mobilebert_tf.models import MobileBertForPreTraining
from mobilebert_tf.weights import load_safetensors

REPO = Path(__file__).resolve().parents[1]
SHARED = dict(hidden_size=64, embedding_size=32, num_attention_heads=2, attention_probs_dropout_prob=0.0)
TIMEOUT = 150  # seconds any run may take; a hang fails the test instead of blocking CI


def _ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _env(tf_config: dict | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return env


def _mobilebert(argv, env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mobilebert_tf.cli", *map(str, argv)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _cluster(argv) -> list[subprocess.Popen]:
    """The same command on 2 workers of a local cluster; worker 0 is the chief."""
    ports = _ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    return [_mobilebert(list(argv) + ["--strategy-kind", "multiworker"],
                        _env({"cluster": cluster, "task": {"type": "worker", "index": i}})) for i in range(2)]


def _wait(procs, timeout=TIMEOUT) -> list[tuple[int, str]]:
    out = []
    for p in procs:
        try:
            _, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail(f"a worker hung for more than {timeout} s")
        out.append((p.returncode, err))
    return out


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("multiworker")
    # one shard: each worker reads every other record, so worker 0 + worker 1 hold the single run's global batch
    create_pretraining_data([CORPUS / "bert_sample_text.txt"], VOCAB, root / "data",
                            PretrainingDataConfig(seq_len=32, max_predictions=5, dupe_factor=2, seed=4, shards=1))
    student = MobileBertConfig.from_preset("mobilebert", num_hidden_layers=1, intra_bottleneck_size=32,
                                           intermediate_size=64, num_feedforward_networks=1, **SHARED)
    teacher = MobileBertConfig.from_preset("ib_bert_large", num_hidden_layers=1, intra_bottleneck_size=64,
                                           intermediate_size=128, hidden_dropout_prob=0.0, **SHARED)
    MobileBertForPreTraining(student).build_with_dummy().save_pretrained(root / "init", vocab_file=str(VOCAB))
    MobileBertForPreTraining(teacher).build_with_dummy().save_pretrained(root / "teacher", vocab_file=str(VOCAB))
    return root


def _metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "logs" / "metrics.jsonl").read_text().splitlines()]


def _compare(single: Path, multi: Path, keys) -> float:
    a, b = _metrics(single), _metrics(multi)
    assert [h["step"] for h in a] == [h["step"] for h in b] and a
    for ha, hb in zip(a, b):  # every loss and accuracy each step logged (stages log different ones)
        assert set(ha) == set(hb) and set(keys) & set(ha)
        for key in set(ha) - {"step", "stage", "step_seconds"}:  # step_seconds: wall time, not a result
            np.testing.assert_allclose(hb[key], ha[key], rtol=2e-5, atol=2e-6, err_msg=f"step {ha['step']} {key}")
    wa, wb = load_safetensors(single / "weights.safetensors"), load_safetensors(multi / "weights.safetensors")
    diff = max(float(np.abs(wa[k] - wb[k]).max()) for k in wa)
    assert diff < 2e-5
    return diff


@pytest.mark.slow
@pytest.mark.parametrize("command", ["pretrain", "distill"])
def test_two_workers_match_one(setup, command):
    root = setup
    common = ["--data", root / "data", "--batch-size", 8, "--lr", "1e-2", "--log-every", 1, "--no-shuffle",
              "--no-progress"]
    if command == "pretrain":
        argv = ["pretrain", "--init", root / "init", "--steps", 4] + common
        keys = ("loss", "mlm_loss", "nsp_loss", "mlm_accuracy", "nsp_accuracy")
    else:  # one stage of progressive distillation (1 student layer), then pre-training distillation
        argv = ["distill", "--teacher", root / "teacher", "--student-preset", "mobilebert", "--num-layers", 1,
                "--override", "hidden_size=64", "--override", "embedding_size=32", "--override",
                "num_attention_heads=2", "--override", "intra_bottleneck_size=32", "--override",
                "intermediate_size=64", "--override", "num_feedforward_networks=1", "--override",
                "attention_probs_dropout_prob=0.0", "--strategy", "progressive", "--steps-per-stage", 2,
                "--final-steps", 1] + common
        keys = ("loss", "transfer_loss", "mlm_loss")
    single = _mobilebert(argv + ["--out", root / f"{command}-1"], _env())
    (rc, err), = _wait([single])
    assert rc == 0, err[-3000:]
    results = _wait(_cluster(argv + ["--out", root / f"{command}-2"]))
    assert all(rc == 0 for rc, _ in results), results[0][1][-3000:] + results[1][1][-3000:]
    diff = _compare(root / f"{command}-1", root / f"{command}-2", keys)
    print(f"{command}: 2 workers vs 1, final weights max abs diff {diff:.2e}")
    assert not list((root / f"{command}-2" / "checkpoints").glob(".scratch-*"))  # non-chief scratch removed


@pytest.mark.slow
def test_killed_worker_fails_cleanly_and_resume_continues(setup):
    root, run = setup, setup / "killed"
    argv = ["pretrain", "--init", root / "init", "--data", root / "data", "--batch-size", 8, "--steps", 120,
            "--checkpoint-every", 10, "--log-every", 10, "--no-progress", "--out", run]
    chief, worker = procs = _cluster(argv)
    deadline = time.time() + TIMEOUT
    while time.time() < deadline and not (run / "checkpoints" / "ckpt-20.index").exists():
        assert chief.poll() is None, chief.communicate()[1][-3000:]
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)
    killed = time.time()
    (rc, err), _ = _wait(procs)
    print(f"chief exited {time.time() - killed:.1f} s after worker 1 was killed")
    assert rc == 1, err[-3000:]
    assert "Traceback" not in err and "worker" in err and "--resume" in err, err[-3000:]
    last = max(int(p.name[5:-6]) for p in (run / "checkpoints").glob("ckpt-*.index"))
    assert 20 <= last < 120
    start = time.time()
    results = _wait(_cluster(argv + ["--resume"]))
    print(f"resumed from step {last}, finished in {time.time() - start:.1f} s")
    assert all(rc == 0 for rc, _ in results), results[0][1][-3000:] + results[1][1][-3000:]
    assert f"resumed from step {last}" in results[0][1]
    steps = [h["step"] for h in _metrics(run)]
    assert steps == sorted(set(steps)) and steps[-1] == 120  # no repeated steps after the resume
    assert (run / "weights.safetensors").is_file()
