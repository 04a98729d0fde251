"""Encoder and task models. Inputs are a dict of int32 [B, S] tensors:
``input_ids``, ``input_mask`` (1 = real token; default all ones), ``segment_ids`` (default zeros).
"""
from __future__ import annotations

import os
from typing import Any, Callable, Mapping

import tensorflow as tf
import tf_keras as keras

from mobilebert_tf.config import MobileBertConfig
from mobilebert_tf.errors import MobileBertError
from mobilebert_tf.fileio import atomic_copy, atomic_write_json
from mobilebert_tf.heads import ClassificationHead, MaskedLMHead, NSPHead, SpanQAHead
from mobilebert_tf.layers import PACKAGE, MobileBertBlock, MobileBertEmbedding, Pooler, as_config
from mobilebert_tf.modeldir import (CONFIG_FILE, FORMAT_VERSION, MODEL_INFO_FILE, VOCAB_FILE,  # noqa: F401
                                    WEIGHTS_FILE, model_info)
from mobilebert_tf.weights import save_safetensors, weights_to_numpy

INPUT_KEYS = ("input_ids", "input_mask", "segment_ids", "position_ids")


class InputError(MobileBertError, ValueError):
    """Model inputs are missing, of the wrong shape or out of range. The message names the input."""


def prepare_inputs(inputs: Mapping[str, Any], config: MobileBertConfig):
    """Validate the input dict (statically where shapes are known) and fill in defaults.

    Args:
        inputs: ``input_ids`` [B, S] and optionally ``input_mask``, ``segment_ids``, ``position_ids``.
        config: the model config (vocab, segment and position ranges).

    Returns:
        A dict of int32 tensors with ``input_mask`` (default ones) and ``segment_ids`` (default zeros).

    Raises:
        InputError: naming the bad input.

    Example:
        >>> sorted(prepare_inputs({"input_ids": [[101, 102]]}, MobileBertConfig()))
        ['input_ids', 'input_mask', 'segment_ids']
    """
    if not isinstance(inputs, Mapping):
        raise InputError(f"model inputs must be a dict with keys {INPUT_KEYS}, got {type(inputs).__name__}")
    unknown = sorted(set(inputs) - set(INPUT_KEYS))
    if unknown:
        raise InputError(f"unknown model input(s) {unknown}; expected keys {list(INPUT_KEYS)}")
    if "input_ids" not in inputs:
        raise InputError("model inputs lack 'input_ids'")
    ids = tf.convert_to_tensor(inputs["input_ids"])
    if ids.shape.rank is not None and ids.shape.rank != 2:
        raise InputError(f"'input_ids' must be [batch, seq], got shape {ids.shape}")
    if not ids.dtype.is_integer:
        raise InputError(f"'input_ids' must be an integer tensor, got {ids.dtype.name}")
    ids = tf.cast(ids, tf.int32)
    seq = ids.shape[1]
    if seq is not None and seq > config.max_position_embeddings:
        raise InputError(f"sequence length {seq} exceeds max_position_embeddings "
                         f"({config.max_position_embeddings}); truncate the text first")
    out = {"input_ids": ids}
    for key, default in (("input_mask", tf.ones_like), ("segment_ids", tf.zeros_like)):
        if key in inputs and inputs[key] is not None:
            t = tf.convert_to_tensor(inputs[key])
            if not t.dtype.is_integer and not t.dtype.is_floating:
                raise InputError(f"'{key}' must be numeric, got {t.dtype.name}")
            if t.shape.rank is not None and ids.shape.rank is not None and t.shape.is_fully_defined() \
                    and ids.shape.is_fully_defined() and t.shape != ids.shape:
                raise InputError(f"'{key}' has shape {t.shape} but 'input_ids' has shape {ids.shape}")
            out[key] = tf.cast(t, tf.int32)
        else:
            out[key] = default(ids)
    if inputs.get("position_ids") is not None:  # default: 0 .. seq-1 (a slice of the table, not a lookup)
        pos = tf.convert_to_tensor(inputs["position_ids"])
        if not pos.dtype.is_integer:
            raise InputError(f"'position_ids' must be an integer tensor, got {pos.dtype.name}")
        out["position_ids"] = tf.cast(pos, tf.int32)
    if tf.executing_eagerly():
        if int(tf.reduce_max(ids)) >= config.vocab_size or int(tf.reduce_min(ids)) < 0:
            raise InputError(f"'input_ids' values must be in [0, {config.vocab_size}), got range "
                             f"[{int(tf.reduce_min(ids))}, {int(tf.reduce_max(ids))}]")
        seg = out["segment_ids"]
        if int(tf.reduce_max(seg)) >= config.type_vocab_size or int(tf.reduce_min(seg)) < 0:
            raise InputError(f"'segment_ids' values must be in [0, {config.type_vocab_size})")
        pos = out.get("position_ids")
        if pos is not None and (int(tf.reduce_max(pos)) >= config.max_position_embeddings
                                or int(tf.reduce_min(pos)) < 0):
            raise InputError(f"'position_ids' values must be in [0, {config.max_position_embeddings})")
    return out


def dummy_inputs(config: MobileBertConfig, batch: int = 1, seq: int = 8) -> dict[str, tf.Tensor]:
    """An all-ones ``[batch, seq]`` input dict (to build a model's weights).

    Example:
        >>> dummy_inputs(MobileBertConfig(), batch=2, seq=4)["input_ids"].shape
        TensorShape([2, 4])
    """
    ids = tf.ones([batch, seq], tf.int32)
    return {"input_ids": ids, "input_mask": tf.ones_like(ids), "segment_ids": tf.zeros_like(ids)}


@keras.utils.register_keras_serializable(package=PACKAGE)
class MobileBertEncoder(keras.Model):
    """Embeddings + ``num_hidden_layers`` blocks + pooler.

    ``call(inputs, output_hidden_states=False, output_attentions=False, num_layers=None)`` returns a
    dict: ``sequence_output`` [B, S, H], ``pooled_output`` [B, H]; on request ``hidden_states`` (list of
    L+1 [B, S, H], embeddings first), ``attention_scores`` and ``attention_probs`` (lists of L
    [B, N, S, S]; scores are masked, before softmax).

    Args:
        config: a ``MobileBertConfig`` (or its dict).
        **kwargs: ``keras.Model`` arguments (``name``, default ``encoder``).

    ``num_layers=k`` stops after block ``k`` (1 <= k <= L): the outputs are those of the first ``k``
    blocks (``sequence_output`` is block k's output, ``hidden_states`` has k+1 entries), equal to the
    full run's; the blocks above are not computed. Progressive knowledge transfer uses it (stage k
    needs layers 1..k only).

    Example:
        >>> enc = MobileBertEncoder(MobileBertConfig.from_preset("mobilebert", num_hidden_layers=4))
        >>> out = enc(dummy_inputs(enc.config), output_hidden_states=True, num_layers=2)
        >>> len(out["hidden_states"])
        3
    """

    def __init__(self, config: MobileBertConfig | dict, **kwargs):
        kwargs.setdefault("name", "encoder")
        super().__init__(**kwargs)
        self.config = as_config(config)
        self.embeddings = MobileBertEmbedding(self.config)
        self.blocks = [MobileBertBlock(self.config, name=f"layer_{i}") for i in range(self.config.num_hidden_layers)]
        self.pooler = Pooler(self.config)

    def call(self, inputs, training=False, output_hidden_states=False, output_attentions=False, num_layers=None):
        blocks = self.blocks
        if num_layers is not None:
            if not isinstance(num_layers, int) or not 1 <= num_layers <= len(self.blocks):
                raise ValueError(f"num_layers must be an integer in [1, {len(self.blocks)}], got {num_layers!r}")
            blocks = self.blocks[:num_layers]
        x = prepare_inputs(inputs, self.config)
        h = self.embeddings(x["input_ids"], x["segment_ids"], training=training, position_ids=x.get("position_ids"))
        hidden_states, scores, probs = [h], [], []
        mask = tf.cast(x["input_mask"], h.dtype)
        for block in blocks:
            h, s, p = block(h, mask, training=training)
            hidden_states.append(h)
            scores.append(s)
            probs.append(p)
        out = {"sequence_output": h, "pooled_output": self.pooler(h)}
        if output_hidden_states:
            out["hidden_states"] = hidden_states
        if output_attentions:
            out["attention_scores"] = scores
            out["attention_probs"] = probs
        return out

    @property
    def word_embeddings(self) -> tf.Variable:
        return self.embeddings.word_embeddings

    def get_config(self):
        return {"config": self.config.to_dict(), "name": self.name}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)


# ---------------------------------------------------------------------- loading hook
# from_pretrained delegates to mobilebert_tf.checkpoints.loader, which registers itself here when imported
# (mobilebert_tf/__init__.py imports it). The hook keeps the import graph one-way: the loader imports the
# models, never the other way round.
_LOADER: list[Callable[..., Any]] = []


def register_loader(load: Callable[..., Any]) -> None:
    """Install the checkpoint loader behind ``from_pretrained`` (called by mobilebert_tf.checkpoints.loader).

    Args:
        load: ``load(cls, path, **overrides) -> (model, report)``.
    """
    _LOADER[:] = [load]


def _load(cls, path, **overrides):
    if not _LOADER:
        raise RuntimeError("mobilebert_tf.checkpoints.loader is not imported (import mobilebert_tf does it)")
    return _LOADER[0](cls, path, **overrides)


class _PretrainedModel(keras.Model):
    """Base of the task models: the encoder, QAT declared at construction, save/load of model directories.

    Subclasses build their heads after ``super().__init__`` and end their constructor with
    ``self._finish_init(qat)``, so that fake quantization wraps the heads too.
    """

    task_type = "encoder"

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.config = as_config(config)
        self.encoder = MobileBertEncoder(self.config)
        self.qat = False  # set by mobilebert_tf.qat.apply_qat

    def _finish_init(self, qat: bool) -> None:
        """Last step of every subclass constructor: ``qat=True`` inserts fake quantization (mobilebert_tf.qat)."""
        if qat:
            from mobilebert_tf.qat import apply_qat

            apply_qat(self)

    # subclasses extend this with their own constructor arguments
    def _init_kwargs(self) -> dict[str, Any]:
        return {}

    @classmethod
    def _init_arg_names(cls) -> tuple[str, ...]:
        return ()

    @classmethod
    def _reinit_pooler(cls) -> bool:
        """Whether loading another task's checkpoint leaves the pooler fresh (classifiers: Google's GLUE rule)."""
        return False

    def get_config(self):
        return {"config": self.config.to_dict(), "name": self.name, "qat": bool(self.qat), **self._init_kwargs()}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)

    def build_with_dummy(self, seq: int = 8):
        """Build the weights by calling the model once on a dummy batch (no-op when built). Returns ``self``."""
        if not self.built:
            self(dummy_inputs(self.config, seq=seq))
        return self

    # ------------------------------------------------------------------ saving
    def save_pretrained(self, path: str | os.PathLike, vocab_file: str | None = None,
                        metadata: Mapping[str, Any] | None = None) -> str:
        """Write the model as one of our model directories (see mobilebert_tf.modeldir).

        Each file is replaced atomically and ``model.json`` is written last, so an interrupted
        save never leaves a directory that loads with half-written weights.

        Args:
            path: the directory (created if needed).
            vocab_file: a ``vocab.txt`` to copy in, so that the tokenizer travels with the model.
            metadata: extra ``model.json`` keys (fine-tuning task, labels, provenance).

        Returns:
            ``path``.

        Example:
            >>> model = MobileBertForPreTraining(MobileBertConfig.from_preset("mobilebert_tiny")).build_with_dummy()
            >>> model.save_pretrained("runs/tiny", vocab_file="data/vocab.txt")
            'runs/tiny'
        """
        path = os.fspath(path)
        os.makedirs(path, exist_ok=True)
        self.build_with_dummy()
        save_safetensors(weights_to_numpy(self), os.path.join(path, WEIGHTS_FILE),
                         metadata={"format": "mobilebert_tf", "model_class": type(self).__name__})
        self.config.to_json(os.path.join(path, CONFIG_FILE))
        if vocab_file is not None:
            if not os.path.isfile(vocab_file):
                raise FileNotFoundError(f"vocab file not found: {vocab_file}")
            dst = os.path.join(path, VOCAB_FILE)
            if os.path.abspath(vocab_file) != os.path.abspath(dst):
                atomic_copy(vocab_file, dst)
        info = model_info(type(self).__name__, self.task_type, self._init_kwargs(), self.qat, metadata)
        atomic_write_json(os.path.join(path, MODEL_INFO_FILE), info, sort_keys=True)
        return path

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, **overrides):
        """Load one of our model directories, an HF directory (``config.json`` + ``model.safetensors``) or a
        Google TF1 checkpoint (a directory with ``bert_config.json`` + checkpoint, or a checkpoint prefix;
        see docs/checkpoints.md). The work is done by ``mobilebert_tf.checkpoints.loader.load``.

        A checkpoint of this model's task loads whole and strictly; one of another task (pre-training into
        a classifier, say) gives the encoder, and the head (and, for classifiers, the pooler) stays freshly
        initialized. Every missing, unexpected or mis-shaped weight is reported at once, by the checkpoint's
        own names, before anything is assigned.

        Args:
            path: the directory, TF1 checkpoint prefix or TF1 ``.index`` file.
            **overrides: config fields to replace (``attention_mask_mode="additive"``), constructor arguments
                (``num_labels=3``), ``qat`` (True/False; default: as saved), ``encoder_only=True`` (take the
                encoder even from a checkpoint of this task) and, for TF1, ``bert_config`` (its path).

        Returns:
            The built model, with ``model.model_dir`` (a ``ModelDir``: vocab, task, labels, provenance).

        Example:
            >>> clf = MobileBertForSequenceClassification.from_pretrained("models/mobilebert", num_labels=3)
            >>> clf.model_dir.vocab_file
            'models/mobilebert/vocab.txt'
        """
        return _load(cls, path, **overrides)[0]


@keras.utils.register_keras_serializable(package=PACKAGE)
class MobileBertForPreTraining(_PretrainedModel):
    """Encoder + MLM head + NSP head (the pre-training and distillation model).

    Args:
        config: a ``MobileBertConfig`` (or its dict).
        qat: insert fake quantization for quantization-aware training (mobilebert_tf.qat; ReLU presets only).
        **kwargs: ``keras.Model`` arguments (``name``).

    Returns (``call(inputs, training=False, output_hidden_states=False, output_attentions=False)``):
        a dict with ``sequence_output`` [B, S, H], ``pooled_output`` [B, H], ``mlm_logits`` [B, S, V],
        ``nsp_logits`` [B, 2] (+ ``hidden_states`` / attentions on request).

    Example:
        >>> model = MobileBertForPreTraining(MobileBertConfig.from_preset("mobilebert", num_hidden_layers=2))
        >>> model(dummy_inputs(model.config))["mlm_logits"].shape
        TensorShape([1, 8, 30522])
    """

    task_type = "pretraining"

    def __init__(self, config, *, qat: bool = False, **kwargs):
        kwargs.setdefault("name", "mobilebert_for_pretraining")
        super().__init__(config, **kwargs)
        self.mlm = MaskedLMHead(self.config)
        self.nsp = NSPHead(self.config)
        self._finish_init(qat)

    def call(self, inputs, training=False, output_hidden_states=False, output_attentions=False):
        out = self.encoder(inputs, training=training, output_hidden_states=output_hidden_states,
                           output_attentions=output_attentions)
        out = dict(out)
        out["mlm_logits"] = self.mlm(out["sequence_output"], self.encoder.word_embeddings)
        out["nsp_logits"] = self.nsp(out["pooled_output"])
        return out


@keras.utils.register_keras_serializable(package=PACKAGE)
class MobileBertForSequenceClassification(_PretrainedModel):
    """Encoder + classification/regression head on the pooled output.

    Args:
        config: a ``MobileBertConfig`` (or its dict).
        num_labels: classes (1 = regression).
        qat: insert fake quantization for quantization-aware training (mobilebert_tf.qat; ReLU presets only).
        **kwargs: ``keras.Model`` arguments (``name``).

    Returns (``call(inputs, training=False, ...)``):
        a dict with ``logits`` [B, num_labels] and the encoder outputs.

    Example:
        >>> config = MobileBertConfig.from_preset("mobilebert_qat", num_hidden_layers=2)
        >>> clf = MobileBertForSequenceClassification(config, num_labels=3, qat=True)
        >>> clf(dummy_inputs(config))["logits"].shape, clf.qat
        (TensorShape([1, 3]), True)
    """

    task_type = "classification"

    def __init__(self, config, num_labels: int = 2, *, qat: bool = False, **kwargs):
        kwargs.setdefault("name", "mobilebert_for_sequence_classification")
        super().__init__(config, **kwargs)
        self.num_labels = num_labels
        self.head = ClassificationHead(self.config, num_labels)
        self._finish_init(qat)

    def _init_kwargs(self):
        return {"num_labels": self.num_labels}

    @classmethod
    def _init_arg_names(cls):
        return ("num_labels",)

    @classmethod
    def _reinit_pooler(cls):
        return True  # Google: the pooler is best not initialized from pre-training for GLUE

    def call(self, inputs, training=False, output_hidden_states=False, output_attentions=False):
        out = dict(self.encoder(inputs, training=training, output_hidden_states=output_hidden_states,
                                output_attentions=output_attentions))
        out["logits"] = self.head(out["pooled_output"], training=training)
        return out


@keras.utils.register_keras_serializable(package=PACKAGE)
class MobileBertForQuestionAnswering(_PretrainedModel):
    """Encoder + span head (SQuAD).

    Args:
        config: a ``MobileBertConfig`` (or its dict).
        qat: insert fake quantization for quantization-aware training (mobilebert_tf.qat; ReLU presets only).
        **kwargs: ``keras.Model`` arguments (``name``).

    Returns (``call(inputs, training=False, ...)``):
        a dict with ``start_logits``, ``end_logits`` [B, S] and the encoder outputs.

    Example:
        >>> qa = MobileBertForQuestionAnswering(MobileBertConfig.from_preset("mobilebert", num_hidden_layers=2))
        >>> qa(dummy_inputs(qa.config))["start_logits"].shape
        TensorShape([1, 8])
    """

    task_type = "qa"

    def __init__(self, config, *, qat: bool = False, **kwargs):
        kwargs.setdefault("name", "mobilebert_for_question_answering")
        super().__init__(config, **kwargs)
        self.head = SpanQAHead(self.config)
        self._finish_init(qat)

    def call(self, inputs, training=False, output_hidden_states=False, output_attentions=False):
        out = dict(self.encoder(inputs, training=training, output_hidden_states=output_hidden_states,
                                output_attentions=output_attentions))
        out["start_logits"], out["end_logits"] = self.head(out["sequence_output"])
        return out


MODEL_CLASSES = {c.__name__: c for c in (MobileBertForPreTraining, MobileBertForSequenceClassification,
                                         MobileBertForQuestionAnswering)}
