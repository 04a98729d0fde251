"""Encoder and task models. Inputs are a dict of int32 [B, S] tensors:
``input_ids``, ``input_mask`` (1 = real token; default all ones), ``segment_ids`` (default zeros).
"""
from __future__ import annotations

import json
import os
from typing import Any, Mapping

import tensorflow as tf
import tf_keras as keras

from mobilebert_tf.config import MobileBertConfig
from mobilebert_tf.errors import MobileBertError
from mobilebert_tf.fileio import atomic_copy, atomic_write_json
from mobilebert_tf.heads import ClassificationHead, MaskedLMHead, NSPHead, SpanQAHead
from mobilebert_tf.layers import PACKAGE, MobileBertBlock, MobileBertEmbedding, Pooler, as_config
from mobilebert_tf.weights import (CheckpointError, assign_named, describe_mismatch, is_qat_variable,
                                   load_safetensors, named_weights, save_safetensors, weights_to_numpy)

INPUT_KEYS = ("input_ids", "input_mask", "segment_ids", "position_ids")
WEIGHTS_FILE = "weights.safetensors"
CONFIG_FILE = "config.json"
MODEL_INFO_FILE = "model.json"
VOCAB_FILE = "vocab.txt"
FORMAT_VERSION = 1


class InputError(MobileBertError, ValueError):
    """Model inputs are missing, of the wrong shape or out of range. The message names the input."""


def prepare_inputs(inputs: Mapping[str, Any], config: MobileBertConfig):
    """Validate the input dict (statically where shapes are known) and fill in defaults."""
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
    ids = tf.ones([batch, seq], tf.int32)
    return {"input_ids": ids, "input_mask": tf.ones_like(ids), "segment_ids": tf.zeros_like(ids)}


@keras.utils.register_keras_serializable(package=PACKAGE)
class MobileBertEncoder(keras.Model):
    """Embeddings + ``num_hidden_layers`` blocks + pooler.

    ``call(inputs, output_hidden_states=False, output_attentions=False, num_layers=None)`` returns a
    dict: ``sequence_output`` [B, S, H], ``pooled_output`` [B, H]; on request ``hidden_states`` (list of
    L+1 [B, S, H], embeddings first), ``attention_scores`` and ``attention_probs`` (lists of L
    [B, N, S, S]; scores are masked, before softmax).

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


class _PretrainedModel(keras.Model):
    """save_pretrained / from_pretrained for our model directories and HF safetensors directories."""

    task_type = "encoder"

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.config = as_config(config)
        self.encoder = MobileBertEncoder(self.config)

    # subclasses extend this with their own constructor arguments
    def _init_kwargs(self) -> dict[str, Any]:
        return {}

    @classmethod
    def _init_arg_names(cls) -> tuple[str, ...]:
        return ()

    def get_config(self):
        return {"config": self.config.to_dict(), "name": self.name, **self._init_kwargs()}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)

    def build_with_dummy(self, seq: int = 8):
        if not self.built:
            self(dummy_inputs(self.config, seq=seq))
        return self

    # ------------------------------------------------------------------ saving
    def save_pretrained(self, path: str | os.PathLike, vocab_file: str | None = None,
                        metadata: Mapping[str, Any] | None = None) -> str:
        """Write ``config.json``, ``weights.safetensors``, ``model.json`` (+ ``vocab.txt``) to ``path``.

        Each file is replaced atomically and ``model.json`` is written last, so an interrupted
        save never leaves a directory that loads with half-written weights.
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
        info = {"format": "mobilebert_tf", "format_version": FORMAT_VERSION, "model_class": type(self).__name__,
                "task_type": self.task_type, "init_kwargs": self._init_kwargs(), "qat": bool(getattr(self, "qat", False)),
                **dict(metadata or {})}
        atomic_write_json(os.path.join(path, MODEL_INFO_FILE), info, sort_keys=True)
        return path

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, **config_overrides):
        """Load from one of our model directories, a HF directory (``config.json`` + ``model.safetensors``)
        or a Google TF1 checkpoint (a directory with ``bert_config.json`` + checkpoint, or a checkpoint
        prefix; see docs/checkpoints.md).

        ``config_overrides`` replace config fields, e.g. ``attention_mask_mode="additive"``.
        Loading an encoder-only or pre-training directory into a task model takes the encoder and
        leaves the head (and, for classifiers, the pooler) freshly initialized.
        """
        from mobilebert_tf.checkpoints import detect_format, hf

        path = os.fspath(path)
        qat = config_overrides.pop("qat", None)
        init_overrides = {k: config_overrides.pop(k) for k in list(config_overrides) if k in cls._init_arg_names()}
        if qat is not None:
            init_overrides["qat"] = qat
        fmt = detect_format(path)
        if fmt == "mobilebert_tf":
            return cls._from_our_dir(path, config_overrides, init_overrides)
        if fmt == "tf1":
            from mobilebert_tf.checkpoints import tf1

            return tf1.load(cls, path, config_overrides=config_overrides, init_kwargs=init_overrides)[0]
        if fmt == "hf":
            config = hf.read_hf_config(os.path.join(path, CONFIG_FILE)).replace(**config_overrides)
            if "num_labels" in cls._init_arg_names() and "num_labels" not in init_overrides:
                init_overrides.update(hf.hf_init_kwargs(os.path.join(path, CONFIG_FILE)))
            weights = os.path.join(path, hf.HF_WEIGHTS_FILE)
            arrays = hf.hf_to_ours(load_safetensors(weights), config, source=weights)
            if (cls.task_type == "qa" and config.classifier_activation and any(k.startswith("qa_head/") for k in arrays)
                    and not any(k.startswith("encoder/pooler/") for k in arrays)):
                config = config.replace(classifier_activation=False)  # HF's QA model has no pooler
            return cls._build_and_assign(config, arrays, source=weights, init_kwargs=init_overrides,
                                         display=lambda n: f"{hf.hf_name_for(n)} (ours: {n})")
        raise CheckpointError(f"{path}: unsupported checkpoint format {fmt!r}")

    @classmethod
    def _from_our_dir(cls, path, config_overrides, init_overrides):
        info_path = os.path.join(path, MODEL_INFO_FILE)
        try:
            with open(info_path, encoding="utf-8") as f:
                info = json.load(f)
        except FileNotFoundError:
            info = {}
        except json.JSONDecodeError as e:
            raise CheckpointError(f"{info_path}: invalid JSON ({e.msg} at line {e.lineno})") from e
        config = MobileBertConfig.from_json(os.path.join(path, CONFIG_FILE)).replace(**config_overrides)
        arrays = load_safetensors(os.path.join(path, WEIGHTS_FILE))
        same_class = info.get("model_class") == cls.__name__
        init_kwargs = dict(info.get("init_kwargs", {})) if same_class else {}
        init_kwargs["qat"] = bool(info.get("qat", False))
        init_kwargs.update(init_overrides)
        return cls._build_and_assign(config, arrays, source=os.path.join(path, WEIGHTS_FILE),
                                     init_kwargs=init_kwargs)

    @classmethod
    def _build_and_assign(cls, config, arrays, *, source, init_kwargs, display=None):
        """Build ``cls`` and load ``arrays`` (our names). A checkpoint of the same task loads whole
        and strictly; one of another task (e.g. pre-training -> classifier) gives the encoder only,
        and the head (and the pooler of classifiers) stays freshly initialized."""
        qat = init_kwargs.pop("qat", False)
        model = cls(config, **init_kwargs)
        if qat:
            from mobilebert_tf.qat import apply_qat

            apply_qat(model)
        model.build_with_dummy()
        names = set(named_weights(model))
        optional = None
        if not any(is_qat_variable(k) for k in arrays):
            # a float checkpoint into a QAT model: quantizer ranges start fresh
            names = {n for n in names if not is_qat_variable(n)}
            optional = is_qat_variable
        if set(arrays) == names:
            assign_named(model, arrays, source=source, display=display, optional=optional)
            return model
        if set(arrays) & (names - _encoder_names(names)):
            # the checkpoint carries this task's head, so it must match the whole model
            assign_named(model, arrays, source=source, display=display, optional=optional)
            return model
        known_heads = tuple(HEAD_PREFIXES)
        unexpected = [k for k in arrays if k not in names and not k.startswith(known_heads)]
        drop_pooler = cls._reinit_pooler()
        required = {n for n in _encoder_names(names) if not (drop_pooler and n.startswith("encoder/pooler/"))}
        missing = sorted(required - set(arrays))
        if missing or unexpected:
            raise CheckpointError(describe_mismatch(missing=missing, unexpected=unexpected, source=source,
                                                    display=display))
        subset = {k: v for k, v in arrays.items() if k in required}
        assign_named(model, subset, source=source, allow_missing=True, display=display)
        return model

    @classmethod
    def _reinit_pooler(cls) -> bool:
        return False


def _encoder_names(names):
    return {n for n in names if n.startswith("encoder/")}


# Top-level weight prefixes of every task head, so a checkpoint of another task is recognised.
HEAD_PREFIXES = ("mlm/", "nsp/", "classifier_head/", "qa_head/")


@keras.utils.register_keras_serializable(package=PACKAGE)
class MobileBertForPreTraining(_PretrainedModel):
    """Encoder + MLM head + NSP head. Returns ``sequence_output``, ``pooled_output``,
    ``mlm_logits`` [B, S, V], ``nsp_logits`` [B, 2] (+ hidden states / attentions on request)."""

    task_type = "pretraining"

    def __init__(self, config, **kwargs):
        kwargs.setdefault("name", "mobilebert_for_pretraining")
        super().__init__(config, **kwargs)
        self.mlm = MaskedLMHead(self.config)
        self.nsp = NSPHead(self.config)

    def call(self, inputs, training=False, output_hidden_states=False, output_attentions=False):
        out = self.encoder(inputs, training=training, output_hidden_states=output_hidden_states,
                           output_attentions=output_attentions)
        out = dict(out)
        out["mlm_logits"] = self.mlm(out["sequence_output"], self.encoder.word_embeddings)
        out["nsp_logits"] = self.nsp(out["pooled_output"])
        return out


@keras.utils.register_keras_serializable(package=PACKAGE)
class MobileBertForSequenceClassification(_PretrainedModel):
    """Encoder + classification/regression head. Returns ``logits`` [B, num_labels] (+ encoder outputs)."""

    task_type = "classification"

    def __init__(self, config, num_labels: int = 2, **kwargs):
        kwargs.setdefault("name", "mobilebert_for_sequence_classification")
        super().__init__(config, **kwargs)
        self.num_labels = num_labels
        self.head = ClassificationHead(self.config, num_labels)

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
    """Encoder + span head. Returns ``start_logits``, ``end_logits`` [B, S] (+ encoder outputs)."""

    task_type = "qa"

    def __init__(self, config, **kwargs):
        kwargs.setdefault("name", "mobilebert_for_question_answering")
        super().__init__(config, **kwargs)
        self.head = SpanQAHead(self.config)

    def call(self, inputs, training=False, output_hidden_states=False, output_attentions=False):
        out = dict(self.encoder(inputs, training=training, output_hidden_states=output_hidden_states,
                                output_attentions=output_attentions))
        out["start_logits"], out["end_logits"] = self.head(out["sequence_output"])
        return out


MODEL_CLASSES = {c.__name__: c for c in (MobileBertForPreTraining, MobileBertForSequenceClassification,
                                         MobileBertForQuestionAnswering)}
