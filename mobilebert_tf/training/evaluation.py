"""Held-out evaluation of the pre-training objectives: masked-LM loss and accuracy, NSP accuracy.

The held-out set is an ordinary ``create-pretraining-data`` directory written with a fixed seed
(docs/training.md builds one from the WikiText-2 test split); it is read in the order written, with
no shuffling, so every evaluation of every model sees the same examples and the same masks.

    metrics = evaluate_pretraining(MobileBertForPreTraining.from_pretrained("runs/student"), "data/heldout")
    metrics["mlm_loss"], metrics["mlm_accuracy"], metrics["nsp_accuracy"]
"""
from __future__ import annotations

import os
import time

import tensorflow as tf

from mobilebert_tf.config import ConfigError
from mobilebert_tf.errors import UsageError
from mobilebert_tf.modeldir import ModelDir
from mobilebert_tf.models import MobileBertForPreTraining
from mobilebert_tf.training.losses import pretraining_outputs

#: Names of the held-out metrics, as they appear in the JSON outputs (TensorBoard: ``eval/<name>``).
EVAL_METRICS = ("mlm_loss", "mlm_accuracy", "nsp_loss", "nsp_accuracy")
DEFAULT_EVAL_BATCH = 32


def check_eval_data(model_config, data) -> dict:
    """The held-out data directory's manifest; a clear error when it is missing or its vocab is larger
    than the model's."""
    from mobilebert_tf.data.pretraining import read_manifest

    if not os.path.isdir(os.fspath(data)):
        raise FileNotFoundError(f"held-out data directory not found: {data}")
    manifest = read_manifest(data)
    size = manifest.get("vocab", {}).get("size")
    if size is not None and size > model_config.vocab_size:
        raise ConfigError(f"held-out data {data} was written with a {size}-token vocab but the model has "
                          f"vocab_size {model_config.vocab_size}")
    return manifest


def _eval_step(model):
    @tf.function(autograph=False)
    def step(batch):
        out = pretraining_outputs(model, batch, training=False)
        logits = tf.cast(out["mlm_logits"], tf.float32)
        labels = tf.cast(batch["masked_lm_ids"], tf.int32)
        weights = tf.cast(batch["masked_lm_weights"], tf.float32)
        ce = -tf.gather(tf.nn.log_softmax(logits, axis=-1), labels, batch_dims=2)
        correct = tf.cast(tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), labels), tf.float32)
        nsp_logits = tf.cast(out["nsp_logits"], tf.float32)
        nsp_labels = tf.cast(batch["next_sentence_labels"], tf.int32)
        nsp_ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=nsp_labels, logits=nsp_logits)
        nsp_correct = tf.cast(tf.equal(tf.argmax(nsp_logits, axis=-1, output_type=tf.int32), nsp_labels), tf.float32)
        return {"mlm_loss": tf.reduce_sum(ce * weights), "mlm_correct": tf.reduce_sum(correct * weights),
                "predictions": tf.reduce_sum(weights), "nsp_loss": tf.reduce_sum(nsp_ce),
                "nsp_correct": tf.reduce_sum(nsp_correct), "examples": tf.cast(tf.shape(nsp_labels)[0], tf.float32)}

    return step


class PretrainingEvaluator:
    """Evaluates a ``MobileBertForPreTraining`` (or a model with its ``encoder``/``mlm``/``nsp``) on a
    held-out pre-training data directory; reusable across training steps (one traced function).

    Args:
        data: ``create-pretraining-data`` output directory (the held-out set).
        batch_size: evaluation batch (the result does not depend on it, up to float rounding).
        max_examples: evaluate the first N examples only (None: all of them).

    Example:
        >>> evaluator = PretrainingEvaluator("data/heldout", max_examples=512)
        >>> evaluator(model)["mlm_accuracy"]
    """

    def __init__(self, data, batch_size: int = DEFAULT_EVAL_BATCH, max_examples: int | None = None):
        from mobilebert_tf.data.pretraining import make_pretraining_dataset

        if max_examples is not None and max_examples < 1:
            raise UsageError(f"max_examples must be a positive integer, got {max_examples}")
        self.data = os.fspath(data)
        if not os.path.isdir(self.data):
            raise FileNotFoundError(f"held-out data directory not found: {self.data}")
        ds = make_pretraining_dataset(self.data, batch_size, shuffle=False, repeat=False, drop_remainder=False)
        if max_examples is not None:
            ds = ds.unbatch().take(max_examples).batch(batch_size)
        self.dataset = ds
        self.seconds = 0.0  # time spent evaluating, all calls together
        self._steps: dict[int, object] = {}

    def __call__(self, model) -> dict[str, float]:
        """Returns ``mlm_loss`` (mean cross-entropy over masked positions), ``mlm_accuracy``,
        ``nsp_loss``, ``nsp_accuracy``, ``examples`` and ``masked_predictions``."""
        start = time.perf_counter()
        step = self._steps.get(id(model))
        if step is None:
            step = self._steps[id(model)] = _eval_step(model)
        totals: dict[str, float] = {}
        for batch in self.dataset:
            for k, v in step(batch).items():
                totals[k] = totals.get(k, 0.0) + float(v)
        if not totals or totals["examples"] == 0:
            raise ConfigError(f"held-out data {self.data} has no examples")
        n, p = totals["examples"], max(totals["predictions"], 1.0)
        self.seconds += time.perf_counter() - start
        return {"mlm_loss": totals["mlm_loss"] / p, "mlm_accuracy": totals["mlm_correct"] / p,
                "nsp_loss": totals["nsp_loss"] / n, "nsp_accuracy": totals["nsp_correct"] / n,
                "examples": int(n), "masked_predictions": int(totals["predictions"])}


def evaluate_pretraining(model, data, *, batch_size: int = DEFAULT_EVAL_BATCH,
                         max_examples: int | None = None) -> dict[str, float]:
    """Held-out MLM loss / accuracy and NSP loss / accuracy of ``model`` on ``data``.

    Args:
        model: a built ``MobileBertForPreTraining``.
        data: held-out ``create-pretraining-data`` directory.
        batch_size, max_examples: see :class:`PretrainingEvaluator`.

    Returns:
        dict with ``mlm_loss``, ``mlm_accuracy``, ``nsp_loss``, ``nsp_accuracy``, ``examples``,
        ``masked_predictions``.

    Example:
        >>> evaluate_pretraining(MobileBertForPreTraining.from_pretrained("runs/teacher"), "data/heldout")
    """
    check_eval_data(model.config, data)
    return PretrainingEvaluator(data, batch_size, max_examples)(model)


def load_pretraining_model(model_dir: str) -> MobileBertForPreTraining:
    """A model directory (ours, HF or TF1) as ``MobileBertForPreTraining``. Our directories must hold a
    pre-training model (MLM and NSP heads): a fine-tuned classifier has none to evaluate."""
    model_dir = os.fspath(model_dir)
    if not os.path.exists(model_dir):
        raise FileNotFoundError(f"model directory not found: {model_dir}")
    task_type = ModelDir.read(model_dir).task_type  # a corrupt model.json is a ModelDirError naming it
    if task_type not in (None, MobileBertForPreTraining.task_type):
        raise ConfigError(f"{model_dir} holds a {task_type} model; held-out pre-training evaluation needs the "
                          "MLM and NSP heads of a pre-training model (a pretrain or distill output)")
    return MobileBertForPreTraining.from_pretrained(model_dir)


def vocab_mismatch(model_dir: str, manifest: dict) -> str | None:
    """A note when the model directory's vocab.txt is not the one the held-out data was written with."""
    from mobilebert_tf.data.pretraining import file_sha256

    vocab = ModelDir.read(model_dir).vocab_file
    expected = manifest.get("vocab", {}).get("sha256")
    if not expected or vocab is None:
        return None
    if file_sha256(vocab) != expected:
        return (f"{vocab} differs from the vocab the held-out data was written with "
                f"({manifest['vocab'].get('path')}); token ids do not mean the same words")
    return None
