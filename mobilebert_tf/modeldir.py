"""One of our model directories, read once: config, task, labels, vocab and provenance.

A model directory written by ``save_pretrained`` holds::

    config.json           MobileBertConfig (every field)
    weights.safetensors   weights by path (mobilebert_tf.weights)
    model.json            model class, task_type, constructor arguments, QAT flag, and what the writer
                          added: fine-tuning task, labels, seq_len, lowercase, distilled_from, imported_from
    vocab.txt             the WordPiece vocab the model was trained with (optional)

``model.json`` is written last, so a directory with one describes complete weights. :class:`ModelDir` is the
one reader of these files; HF and TF1 directories read as a ``ModelDir`` too (no ``model.json``: an empty
``info``), so that the vocab next to any checkpoint is found the same way.
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Mapping

from mobilebert_tf.config import MobileBertConfig
from mobilebert_tf.weights import CheckpointError

WEIGHTS_FILE = "weights.safetensors"
CONFIG_FILE = "config.json"
MODEL_INFO_FILE = "model.json"
VOCAB_FILE = "vocab.txt"
FORMAT = "mobilebert_tf"
FORMAT_VERSION = 1
#: model.json keys that say where a model came from.
PROVENANCE_KEYS = ("distilled_from", "imported_from", "trained_by", "init")


class ModelDirError(CheckpointError):
    """A model directory, or one of its files, is missing or unreadable. The message names the file."""


@dataclasses.dataclass(frozen=True)
class ModelDir:
    """What a model directory says about its model, read once (``ModelDir.read``).

    Args:
        path: the directory (for a TF1 checkpoint prefix or file: the folder holding it).
        info: the parsed ``model.json`` (``{}`` when the directory has none: HF, TF1 or hand-made
            directories).

    Example:
        >>> d = ModelDir.read("runs/sst2")
        >>> d.task_type, d.task, d.labels, d.num_labels
        ('classification', 'sst-2', ['negative', 'positive'], 2)
        >>> d.vocab_file
        'runs/sst2/vocab.txt'
    """

    path: str
    info: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def read(cls, path: str | os.PathLike) -> "ModelDir":
        """Read ``model.json`` of the directory at ``path`` (or of the folder of a checkpoint file).

        Args:
            path: a model directory, or a file inside one (e.g. a TF1 checkpoint prefix).

        Returns:
            A ``ModelDir``; ``info`` is ``{}`` when there is no ``model.json``.

        Raises:
            ModelDirError: ``path`` does not exist (neither it nor its ``.index`` file), or ``model.json``
                is not a readable JSON object.
        """
        path = os.fspath(path)
        if os.path.isdir(path):
            folder = path
        elif os.path.exists(path) or os.path.isfile(path + ".index"):
            folder = os.path.dirname(path) or "."
        else:
            raise ModelDirError(f"model directory not found: {path}")
        info_path = os.path.join(folder, MODEL_INFO_FILE)
        if not os.path.isfile(info_path):
            return cls(folder, {})
        try:
            with open(info_path, encoding="utf-8") as f:
                info = json.load(f)
        except OSError as e:
            raise ModelDirError(f"{info_path}: cannot read: {e.strerror}") from e
        except UnicodeDecodeError as e:
            raise ModelDirError(f"{info_path}: not a UTF-8 JSON file (byte {e.start}: {e.reason})") from e
        except json.JSONDecodeError as e:
            raise ModelDirError(f"{info_path}: invalid JSON ({e.msg} at line {e.lineno})") from e
        if not isinstance(info, dict):
            raise ModelDirError(f"{info_path}: expected a JSON object, got {type(info).__name__}")
        return cls(folder, info)

    # ------------------------------------------------------------------ files
    def file(self, name: str) -> str:
        """The path of ``name`` inside the directory (whether or not it exists)."""
        return os.path.join(self.path, name)

    @property
    def is_ours(self) -> bool:
        """Whether the directory holds one of our models (``config.json`` + ``weights.safetensors``)."""
        return os.path.isfile(self.file(CONFIG_FILE)) and os.path.isfile(self.file(WEIGHTS_FILE))

    @property
    def weights_file(self) -> str:
        return self.file(WEIGHTS_FILE)

    @property
    def vocab_file(self) -> str | None:
        """``vocab.txt`` of the directory, or None when it has none."""
        path = self.file(VOCAB_FILE)
        return path if os.path.isfile(path) else None

    def read_config(self) -> MobileBertConfig:
        """``config.json`` of one of our directories (every field required; ConfigError names a bad one)."""
        if not os.path.isfile(self.file(CONFIG_FILE)):
            raise ModelDirError(f"{self.path}: no {CONFIG_FILE} found")
        return MobileBertConfig.from_json(self.file(CONFIG_FILE))

    # ------------------------------------------------------------------ model.json fields
    @property
    def model_class(self) -> str | None:
        """Name of the model class that wrote the directory, e.g. ``MobileBertForSequenceClassification``."""
        return self.info.get("model_class")

    @property
    def task_type(self) -> str | None:
        """The model's task (``pretraining``, ``classification``, ``qa``; see mobilebert_tf.model_tasks)."""
        return self.info.get("task_type")

    @property
    def task(self) -> str | None:
        """The fine-tuning task (``sst-2``, ``squad1``, ...) when the model was fine-tuned, else None."""
        task = self.info.get("task")
        return task if isinstance(task, str) and task else None

    @property
    def init_kwargs(self) -> dict[str, Any]:
        """Constructor arguments of the model class besides the config (e.g. ``{"num_labels": 3}``)."""
        kwargs = self.info.get("init_kwargs") or {}
        if not isinstance(kwargs, Mapping):
            raise ModelDirError(f"{self.file(MODEL_INFO_FILE)}: 'init_kwargs' must be an object")
        return dict(kwargs)

    @property
    def num_labels(self) -> int | None:
        n = self.init_kwargs.get("num_labels")
        return int(n) if n is not None else None

    @property
    def labels(self) -> list[str] | None:
        labels = self.info.get("labels")
        return list(labels) if labels else None

    @property
    def qat(self) -> bool:
        """Whether the model was saved with quantization-aware training (fake-quant ranges included)."""
        return bool(self.info.get("qat", False))

    @property
    def seq_len(self) -> int | None:
        """The sequence length the model was fine-tuned at, if recorded."""
        return int(self.info["seq_len"]) if self.info.get("seq_len") else None

    @property
    def lowercase(self) -> bool | None:
        """The tokenizer casing the model was trained with, if recorded."""
        value = self.info.get("lowercase")
        return None if value is None else bool(value)

    @property
    def provenance(self) -> dict[str, Any]:
        """Where the model came from: the ``distilled_from`` / ``imported_from`` / ... entries present."""
        return {k: self.info[k] for k in PROVENANCE_KEYS if k in self.info}


def model_info(model_class: str, task_type: str, init_kwargs: Mapping[str, Any], qat: bool,
               metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``model.json`` contents ``save_pretrained`` writes (``metadata`` adds or replaces keys).

    Args:
        model_class: the model class name.
        task_type: its task (see mobilebert_tf.model_tasks).
        init_kwargs: constructor arguments besides the config.
        qat: whether the model is quantization-aware.
        metadata: writer-specific keys (fine-tuning task, labels, provenance).

    Returns:
        A JSON-able dict.

    Example:
        >>> model_info("MobileBertForQuestionAnswering", "qa", {}, False)["format"]
        'mobilebert_tf'
    """
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "model_class": model_class,
            "task_type": task_type, "init_kwargs": dict(init_kwargs), "qat": bool(qat), **dict(metadata or {})}
