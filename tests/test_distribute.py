"""tf.distribute: MirroredStrategy over 2 logical CPU devices gives the losses and weights of the
single-device run for the same global batch, for pre-training and for distillation (the
auxiliary strategy: transfer losses + pre-training distillation in one stage); the resume
position (data skip) is the same global batch under both.

The logical devices must be configured before TensorFlow initializes, hence a subprocess."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import CORPUS, VOCAB
from mobilebert_tf.data.pretraining import PretrainingDataConfig, create_pretraining_data

REPO = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import json, sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from mobilebert_tf.config import MobileBertConfig
from mobilebert_tf.distillation import DistillConfig, Distiller
from mobilebert_tf.models import MobileBertForPreTraining
from mobilebert_tf.training import OptimizerConfig, PretrainConfig, pretrain
from mobilebert_tf.training.distribute import distributed_pretraining_dataset
from mobilebert_tf.weights import weights_to_numpy

data, root = sys.argv[1], sys.argv[2]
shared = dict(hidden_size=64, embedding_size=32, num_attention_heads=2, attention_probs_dropout_prob=0.0)
student = MobileBertConfig.from_preset("mobilebert", num_hidden_layers=1, intra_bottleneck_size=32,
                                       intermediate_size=64, num_feedforward_networks=1, **shared)
teacher = MobileBertConfig.from_preset("ib_bert_large", num_hidden_layers=1, intra_bottleneck_size=64,
                                       intermediate_size=128, hidden_dropout_prob=0.0, **shared)
MobileBertForPreTraining(student).build_with_dummy().save_pretrained(root + "/init")
MobileBertForPreTraining(teacher).build_with_dummy().save_pretrained(root + "/teacher")
mirrored = lambda: tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])

def max_diff(a, b):
    a, b = weights_to_numpy(a), weights_to_numpy(b)
    return max(float(np.abs(a[k] - b[k]).max()) for k in a)

out = {}
run = PretrainConfig(steps=4, batch_size=8, optimizer=OptimizerConfig(learning_rate=1e-2), log_every=1)
single = pretrain(None, data, root + "/p1", run, init_from=root + "/init", progress=False)
multi = pretrain(None, data, root + "/p2", run, init_from=root + "/init", strategy=mirrored(), progress=False)
out["pretrain"] = {"replicas": mirrored().num_replicas_in_sync, "finished": multi.finished,
                   "single": single.history, "mirrored": multi.history,
                   "weights_max_diff": max_diff(single.model, multi.model)}

# Resume position: skipping 3 global steps under 2 replicas (one input pipeline) skips 6 per-replica
# batches; the next global batch must be the single-device pipeline's 4th.
strategy = mirrored()
skipped = iter(distributed_pretraining_dataset(strategy, data, 8, seed=0, skip_steps=3)).get_next()
parts = [t.numpy() for t in strategy.experimental_local_results(skipped["input_ids"])]
plain = iter(distributed_pretraining_dataset(tf.distribute.get_strategy(), data, 8, seed=0))
for _ in range(3):
    next(plain)
out["skip"] = {"parts": [list(p.shape) for p in parts],
               "equal": bool((np.concatenate(parts) == next(plain)["input_ids"].numpy()).all())}

cfg = DistillConfig(strategy="auxiliary", steps_per_stage=2, final_steps=1, batch_size=8, log_every=1,
                    optimizer=OptimizerConfig(learning_rate=1e-2))
d1 = Distiller(root + "/teacher", student, data, root + "/d1", cfg, progress=False)
d2 = Distiller(root + "/teacher", student, data, root + "/d2", cfg, strategy=mirrored(), progress=False)
init_diff = max_diff(d1.student, d2.student)
r1, r2 = d1.run(), d2.run()
out["distill"] = {"init_max_diff": init_diff, "single": r1.history, "mirrored": r2.history,
                  "weights_max_diff": max_diff(r1.model, r2.model)}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("distribute")
    create_pretraining_data([CORPUS / "bert_sample_text.txt"], VOCAB, root / "data",
                            PretrainingDataConfig(seq_len=32, max_predictions=5, dupe_factor=2, seed=4, shards=2))
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(root / "data"), str(root)], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


KEYS = {"pretrain": ("loss", "mlm_loss", "nsp_loss", "mlm_accuracy", "nsp_accuracy"),
        "distill": ("loss", "transfer_loss", "feature_map_loss", "attention_loss", "mean_loss", "variance_loss",
                    "mlm_loss", "nsp_loss")}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["pretrain", "distill"])
def test_mirrored_matches_single_device(results, kind):
    r = results[kind]
    single, mirrored = r["single"], r["mirrored"]
    assert [h["step"] for h in mirrored] == [h["step"] for h in single] and len(single) in (3, 4)
    for key in KEYS[kind]:
        a, b = np.array([h[key] for h in single]), np.array([h[key] for h in mirrored])
        np.testing.assert_allclose(b, a, rtol=2e-5, atol=2e-6, err_msg=key)  # measured: see docs/training.md
    assert r["weights_max_diff"] < 2e-5
    if kind == "pretrain":
        assert results["pretrain"]["replicas"] == 2 and r["finished"]
        assert [h["step"] for h in mirrored] == [1, 2, 3, 4]
    else:
        assert r["init_max_diff"] == 0.0  # same seed, same student under either strategy
        assert single[0]["transfer_loss"] > 0 and single[0]["mlm_loss"] > 0


@pytest.mark.slow
def test_resume_skip_reads_the_same_global_batch_under_mirrored(results):
    assert results["skip"] == {"parts": [[4, 32], [4, 32]], "equal": True}
