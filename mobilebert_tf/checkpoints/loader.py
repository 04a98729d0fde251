"""The one checkpoint loader: format detection, reading, the strict-vs-encoder-only rule and assignment.

Three formats load into our models:

- ``mobilebert_tf``: our model directories (``config.json`` + ``weights.safetensors`` + ``model.json``);
- ``hf``: HF transformers directories (``config.json`` + ``model.safetensors``), renamed by ``checkpoints.hf``;
- ``tf1``: Google's TF1 checkpoints (``bert_config.json`` + ``*.index``/``*.data-*``), renamed by ``checkpoints.tf1``.

:func:`read` turns any of them into a :class:`Checkpoint` (our names, the config, what the checkpoint implies
about the model class); :func:`load` builds the model class asked for and assigns the weights under one rule:

- a checkpoint that holds this task's head must match the whole model (strict);
- one of another task (pre-training into a classifier, say), or any checkpoint with ``encoder_only=True``,
  gives the encoder: every encoder weight must be there, the head (and a classifier's pooler) stays fresh;
- a float checkpoint into a QAT model: the quantizer ranges start fresh.

Every missing, unexpected and mis-shaped weight is reported at once, by the checkpoint's own names, before
anything is assigned. Importing this module installs :func:`load` behind ``from_pretrained`` of our models
(``mobilebert_tf/__init__.py`` imports it), which keeps the import graph one-way: models never import
checkpoints.
"""
from __future__ import annotations

import dataclasses
import glob
import os
from typing import Any, Callable

import numpy as np

from mobilebert_tf.checkpoints import hf, tf1
from mobilebert_tf.config import MobileBertConfig
from mobilebert_tf.model_tasks import HEAD_PREFIXES, get_model_task
from mobilebert_tf.modeldir import CONFIG_FILE, WEIGHTS_FILE, ModelDir
from mobilebert_tf.models import register_loader
from mobilebert_tf.weights import (CheckpointError, assign_named, describe_mismatch, is_qat_variable,
                                   load_safetensors, named_weights)

FORMATS = ("mobilebert_tf", "hf", "tf1")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt.pt")


def detect_format(path: str | os.PathLike) -> str:
    """The format of a checkpoint path; pickled PyTorch files are refused (loading never unpickles).

    Args:
        path: a model directory, a TF1 checkpoint prefix or its ``.index``/``.data`` file.

    Returns:
        ``mobilebert_tf``, ``hf`` or ``tf1``.

    Raises:
        CheckpointError: the path is missing, pickled, sharded, or holds no weights.

    Example:
        >>> detect_format("uncased_L-24_H-128_B-512_A-4_F-4_OPT")
        'tf1'
    """
    path = os.fspath(path)
    if not os.path.isdir(path) and tf1.is_tf1_path(path):
        return "tf1"
    if not os.path.exists(path):
        raise CheckpointError(f"model path not found: {path}")
    if os.path.isfile(path):
        if path.endswith(PICKLE_SUFFIXES):
            raise CheckpointError(f"{path}: refusing to load a pickled PyTorch file (it can run arbitrary code); "
                                  f"save the model with safetensors (HF: save_pretrained(dir, "
                                  f"safe_serialization=True)) and pass the directory")
        raise CheckpointError(f"{path}: expected a model directory (config.json + weights), got a file")
    has = lambda name: os.path.isfile(os.path.join(path, name))  # noqa: E731
    if has(WEIGHTS_FILE) and has(CONFIG_FILE):
        return "mobilebert_tf"
    if has(hf.HF_WEIGHTS_FILE) and has(hf.HF_CONFIG_FILE):
        return "hf"
    if has("model.safetensors.index.json"):
        raise CheckpointError(f"{path}: sharded HF checkpoints are not supported; save with a larger "
                              f"max_shard_size so that one model.safetensors is written")
    pickles = [os.path.basename(p) for p in glob.glob(os.path.join(path, "*")) if p.endswith(PICKLE_SUFFIXES)]
    if pickles:
        raise CheckpointError(f"{path}: only pickled PyTorch weights found ({', '.join(sorted(pickles))}); "
                              f"refusing to unpickle. Convert them to safetensors (HF: "
                              f"save_pretrained(dir, safe_serialization=True)) and retry")
    if tf1.is_tf1_path(path):
        return "tf1"
    if not has(CONFIG_FILE):
        raise CheckpointError(f"{path}: no config.json found")
    raise CheckpointError(f"{path}: config.json found but no weights (expected weights.safetensors for "
                          f"mobilebert_tf directories or model.safetensors for HF directories)")


def _same(name: str) -> str:
    return name


def _same_shape(name: str, shape) -> tuple:
    return tuple(shape)


@dataclasses.dataclass
class Checkpoint:
    """A checkpoint read into our weight names, before any model exists.

    Args:
        format: ``mobilebert_tf``, ``hf`` or ``tf1``.
        source: the file or prefix that error messages name.
        config: the checkpoint's config.
        arrays: our weight name -> array.
        model_dir: the directory around the checkpoint (its vocab, ``model.json``).
        model_class: the model class the checkpoint was written from (by name), if known.
        init_kwargs: constructor arguments it implies for that class (``num_labels``).
        qat: whether it holds quantization-aware weights.
        unknown: the checkpoint's names that no rule maps (reported as unexpected).
        display: our name -> the checkpoint's name, for messages.
        stored_shape: ``(our name, our shape)`` -> the shape messages give (the checkpoint's orientation).
        hint: an extra line for a mismatch message.
        report: format-specific facts (TF1: prefix, config path, skipped variables, task).

    Example:
        >>> ckpt = read("uncased_L-24_H-128_B-512_A-4_F-4_OPT")
        >>> ckpt.format, ckpt.config.num_hidden_layers, len(ckpt.report["skipped"])
        ('tf1', 24, 0)
    """

    format: str
    source: str
    config: MobileBertConfig
    arrays: dict[str, np.ndarray]
    model_dir: ModelDir
    model_class: str | None = None
    init_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    qat: bool = False
    unknown: list[str] = dataclasses.field(default_factory=list)
    display: Callable[[str], str] = _same
    stored_shape: Callable[[str, tuple], tuple] = _same_shape
    hint: str | None = None
    report: dict[str, Any] = dataclasses.field(default_factory=dict)


def read(path: str | os.PathLike, *, bert_config: str | None = None) -> Checkpoint:
    """Read any supported checkpoint as named arrays (our names).

    Args:
        path: a model directory (ours or HF), a TF1 directory, prefix or ``.index``/``.data`` file.
        bert_config: TF1 only: the ``bert_config.json`` (default: next to the checkpoint).

    Returns:
        A :class:`Checkpoint`.

    Example:
        >>> read("runs/sst2").model_class
        'MobileBertForSequenceClassification'
    """
    path = os.fspath(path)
    fmt = detect_format(path)
    if bert_config is not None and fmt != "tf1":
        raise CheckpointError(f"{path}: a bert_config applies to TF1 checkpoints only (this is {fmt})")
    if fmt == "mobilebert_tf":
        return _read_ours(path)
    if fmt == "hf":
        return _read_hf(path)
    return _read_tf1(path, bert_config)


def _read_ours(path: str) -> Checkpoint:
    model_dir = ModelDir.read(path)
    config = model_dir.read_config()
    arrays = load_safetensors(model_dir.weights_file)
    return Checkpoint("mobilebert_tf", model_dir.weights_file, config, arrays, model_dir,
                      model_class=model_dir.model_class, init_kwargs=model_dir.init_kwargs, qat=model_dir.qat)


def _read_hf(path: str) -> Checkpoint:
    config_path = os.path.join(path, hf.HF_CONFIG_FILE)
    config = hf.read_hf_config(config_path)
    weights = os.path.join(path, hf.HF_WEIGHTS_FILE)
    arrays, unknown = hf.split_hf_arrays(load_safetensors(weights), config)
    return Checkpoint("hf", weights, config, arrays, ModelDir.read(path), model_class=hf.hf_architecture(config_path),
                      init_kwargs=hf.hf_init_kwargs(config_path), unknown=unknown,
                      display=lambda n: f"{hf.hf_name_for(n) or n} (ours: {n})")


def _read_tf1(path: str, bert_config: str | None) -> Checkpoint:
    prefix, config_path = tf1.resolve(path, bert_config)
    config = tf1.read_google_config(config_path)
    reader = tf1.CheckpointReader(prefix)
    arrays, unknown, skipped = tf1.read_named_arrays(reader, config)
    task = tf1.detect_task(reader.shapes)
    num_labels = tf1.num_labels_of(reader.shapes)
    return Checkpoint("tf1", prefix, config, arrays, ModelDir.read(os.path.dirname(config_path) or "."),
                      model_class=get_model_task(task).model_class.__name__,
                      init_kwargs={"num_labels": num_labels} if num_labels else {}, unknown=unknown,
                      display=lambda n: tf1.stored_name(n, config),
                      stored_shape=lambda n, shape: tf1.stored_shape(n, shape, config),
                      hint=tf1.norm_hint(unknown, config, config_path),
                      report={"prefix": prefix, "config": config_path, "skipped": skipped, "task": task})


def load(cls, path: str | os.PathLike, *, qat: bool | None = None, encoder_only: bool = False,
         bert_config: str | None = None, **overrides):
    """Build ``cls`` from any supported checkpoint (what ``cls.from_pretrained`` does).

    Args:
        cls: one of our model classes (``MobileBertForSequenceClassification``, ...).
        path: a model directory (ours or HF), a TF1 directory, prefix or ``.index``/``.data`` file.
        qat: build a quantization-aware model (None: as the checkpoint was saved; float for HF/TF1).
        encoder_only: take only the encoder even from a checkpoint of this task (a new head).
        bert_config: TF1 only: the ``bert_config.json`` (default: next to the checkpoint).
        **overrides: config fields to replace, and constructor arguments of ``cls`` (``num_labels``).

    Returns:
        ``(model, report)``: the built model (``model.model_dir`` is the checkpoint's :class:`ModelDir`) and a
        dict with ``format``, ``source``, ``loaded`` (weights assigned), ``unused`` (the checkpoint's names
        of other heads) and, for TF1, ``prefix``, ``config``, ``skipped`` and ``task``.

    Example:
        >>> model, report = load(MobileBertForQuestionAnswering, "uncased_L-24_H-128_B-512_A-4_F-4_OPT")
        >>> report["task"], len(report["unused"]) > 0
        ('pretraining', True)
    """
    return build_from(cls, read(path, bert_config=bert_config), qat=qat, encoder_only=encoder_only, **overrides)


def build_from(cls, ckpt: Checkpoint, *, qat: bool | None = None, encoder_only: bool = False, **overrides):
    """:func:`load` for a checkpoint already read with :func:`read`. Returns ``(model, report)``.

    Example:
        >>> ckpt = read("hf/mobilebert")
        >>> model, report = build_from(get_model_task(ckpt.model_class or "pretraining").model_class, ckpt)
    """
    init_kwargs = {k: overrides.pop(k) for k in list(overrides) if k in cls._init_arg_names()}
    config = ckpt.config.replace(**overrides)
    if (cls.task_type == "qa" and config.classifier_activation and any(k.startswith("qa_head/") for k in ckpt.arrays)
            and not any(k.startswith("encoder/pooler/") for k in ckpt.arrays)):
        config = config.replace(classifier_activation=False)  # HF's QA model has no pooler; span logits never read it
    kwargs = ({k: v for k, v in ckpt.init_kwargs.items() if k in cls._init_arg_names()}
              if ckpt.model_class == cls.__name__ else {})
    kwargs.update(init_kwargs)
    model = cls(config, qat=ckpt.qat if qat is None else bool(qat), **kwargs).build_with_dummy()
    report = assign_checkpoint(model, ckpt, encoder_only=encoder_only)
    model.model_dir = ckpt.model_dir
    return model, report


def assign_checkpoint(model, ckpt: Checkpoint, *, encoder_only: bool = False) -> dict[str, Any]:
    """Assign ``ckpt`` to the built ``model`` under the one loading rule (see the module docstring).

    Args:
        model: a built model of ours.
        ckpt: the checkpoint, read with :func:`read`.
        encoder_only: take only the encoder even when the checkpoint holds this task's head.

    Returns:
        The load report (see :func:`load`).

    Raises:
        CheckpointError: listing every missing, unexpected and mis-shaped weight, nothing assigned.
    """
    targets = named_weights(model)
    arrays = ckpt.arrays
    float_checkpoint = not any(is_qat_variable(k) for k in arrays)
    # a float checkpoint into a QAT model: quantizer ranges start fresh
    wanted = {n for n in targets if not (float_checkpoint and is_qat_variable(n))}
    encoder = {n for n in wanted if n.startswith("encoder/")}
    found = set(arrays)
    strict = not encoder_only and (found == wanted or bool(found & (wanted - encoder)))
    if strict:
        required, ignored = wanted, set()
    else:
        drop_pooler = type(model)._reinit_pooler()
        required = {n for n in encoder if not (drop_pooler and n.startswith("encoder/pooler/"))}
        ignored = {n for n in found - required if n in targets or n.startswith(HEAD_PREFIXES)}
    show = ckpt.display
    unexpected = [*ckpt.unknown, *(show(n) for n in found - required - ignored)]
    missing = [show(n) for n in required - found]
    mismatched = [(show(n), ckpt.stored_shape(n, np.shape(arrays[n])), ckpt.stored_shape(n, targets[n].shape))
                  for n in required & found if tuple(np.shape(arrays[n])) != tuple(targets[n].shape)]
    if missing or unexpected or mismatched:
        message = describe_mismatch(missing=missing, unexpected=unexpected, mismatched=mismatched,
                                    source=ckpt.source)
        raise CheckpointError(message + (f"\n  {ckpt.hint}" if ckpt.hint else ""))
    assign_named(model, {n: arrays[n] for n in required}, source=ckpt.source, allow_missing=True)
    return {"format": ckpt.format, "source": ckpt.source, "loaded": len(required),
            "unused": sorted(show(n) for n in ignored), **ckpt.report}


register_loader(load)
