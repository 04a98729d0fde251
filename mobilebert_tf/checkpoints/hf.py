"""HF transformers MobileBERT <-> ours: config keys and a weight-name table used in both directions.

Torch ``Linear.weight`` is [out, in]; Keras kernels are [in, out], so dense kernels are transposed.
HF stores ``cls.predictions.dense.weight`` as [H - E, V]: Google's ``extra_output_weights`` [V, H - E]
transposed.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from mobilebert_tf.config import ConfigError, MobileBertConfig
from mobilebert_tf.weights import CheckpointError, describe_mismatch

HF_WEIGHTS_FILE = "model.safetensors"
HF_CONFIG_FILE = "config.json"

# HF config keys that carry no architecture (or are derived) and are ignored on import.
HF_IGNORED_KEYS = frozenset({
    "architectures", "model_type", "dtype", "torch_dtype", "transformers_version", "pad_token_id",
    "bos_token_id", "eos_token_id", "tie_word_embeddings", "true_hidden_size", "classifier_dropout",
    "id2label", "label2id", "problem_type", "output_hidden_states", "output_attentions", "return_dict",
    "use_cache", "is_decoder", "add_cross_attention", "chunk_size_feed_forward", "finetuning_task",
    "_name_or_path", "num_labels", "gradient_checkpointing", "position_embedding_type",
})
# HF's MobileBertConfig defaults where they differ from ours (ours follow Google's release).
HF_DEFAULTS = {"classifier_activation": True, "hf_norm_eps_quirk": True}
OUR_ONLY_FIELDS = ("attention_mask_mode", "google_mask_value", "hf_norm_eps_quirk")


def read_hf_config(path: str) -> MobileBertConfig:
    try:
        with open(path, encoding="utf-8") as f:
            values = json.load(f)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: invalid JSON at line {e.lineno}: {e.msg}") from e
    return config_from_hf_dict(values, source=path)


def config_from_hf_dict(values: Mapping, source: str = "HF config") -> MobileBertConfig:
    model_type = values.get("model_type", "mobilebert")
    if model_type != "mobilebert":
        raise ConfigError(f"{source}: model_type is {model_type!r}, expected 'mobilebert'")
    fields = set(MobileBertConfig.field_names()) - set(OUR_ONLY_FIELDS)
    unknown = sorted(k for k in values if k not in fields and k not in HF_IGNORED_KEYS)
    if unknown:
        raise ConfigError(f"{source}: unknown config key(s) {', '.join(map(repr, unknown))}")
    kept = {**HF_DEFAULTS, **{k: v for k, v in values.items() if k in fields}}
    config = MobileBertConfig.from_dict(kept, source=source)
    if "true_hidden_size" in values and values["true_hidden_size"] != config.true_hidden_size:
        raise ConfigError(f"{source}: 'true_hidden_size' {values['true_hidden_size']} disagrees with "
                          f"intra_bottleneck_size/use_bottleneck ({config.true_hidden_size})")
    return config


def config_to_hf_dict(config: MobileBertConfig, architecture: str = "MobileBertForPreTraining") -> dict:
    out = {k: v for k, v in config.to_dict().items() if k not in OUR_ONLY_FIELDS}
    out.update(model_type="mobilebert", architectures=[architecture], true_hidden_size=config.true_hidden_size,
               pad_token_id=0, tie_word_embeddings=True)
    return out


@dataclass(frozen=True)
class Rule:
    ours: str       # template with {i} (layer) / {k} (stacked FFN)
    theirs: str
    transpose: bool = False


def _dense(ours: str, theirs: str) -> list[Rule]:
    return [Rule(f"{ours}/kernel", f"{theirs}.weight", True), Rule(f"{ours}/bias", f"{theirs}.bias")]


def _norm(ours: str, theirs: str) -> list[Rule]:
    return [Rule(f"{ours}/gamma", f"{theirs}.weight"), Rule(f"{ours}/beta", f"{theirs}.bias")]


E, L = "encoder/embeddings", "encoder/layer_{i}"
HE, HL = "mobilebert.embeddings", "mobilebert.encoder.layer.{i}"
TABLE: tuple[Rule, ...] = tuple([
    Rule(f"{E}/word_embeddings", f"{HE}.word_embeddings.weight"),
    Rule(f"{E}/position_embeddings", f"{HE}.position_embeddings.weight"),
    Rule(f"{E}/token_type_embeddings", f"{HE}.token_type_embeddings.weight"),
    *_dense(f"{E}/embedding_transformation", f"{HE}.embedding_transformation"),
    *_norm(f"{E}/norm", f"{HE}.LayerNorm"),
    *_dense(f"{L}/bottleneck/input", f"{HL}.bottleneck.input.dense"),
    *_norm(f"{L}/bottleneck/input_norm", f"{HL}.bottleneck.input.LayerNorm"),
    *_dense(f"{L}/bottleneck/attention", f"{HL}.bottleneck.attention.dense"),
    *_norm(f"{L}/bottleneck/attention_norm", f"{HL}.bottleneck.attention.LayerNorm"),
    *_dense(f"{L}/attention/query", f"{HL}.attention.self.query"),
    *_dense(f"{L}/attention/key", f"{HL}.attention.self.key"),
    *_dense(f"{L}/attention/value", f"{HL}.attention.self.value"),
    *_dense(f"{L}/attention/output", f"{HL}.attention.output.dense"),
    *_norm(f"{L}/attention/norm", f"{HL}.attention.output.LayerNorm"),
    *_dense(f"{L}/ffn/ffn_{{k}}/intermediate", f"{HL}.ffn.{{k}}.intermediate.dense"),
    *_dense(f"{L}/ffn/ffn_{{k}}/output", f"{HL}.ffn.{{k}}.output.dense"),
    *_norm(f"{L}/ffn/ffn_{{k}}/norm", f"{HL}.ffn.{{k}}.output.LayerNorm"),
    *_dense(f"{L}/ffn/final_ffn/intermediate", f"{HL}.intermediate.dense"),
    *_dense(f"{L}/ffn/final_ffn/output", f"{HL}.output.dense"),
    *_norm(f"{L}/ffn/final_ffn/norm", f"{HL}.output.LayerNorm"),
    *_dense(f"{L}/output_bottleneck/dense", f"{HL}.output.bottleneck.dense"),
    *_norm(f"{L}/output_bottleneck/norm", f"{HL}.output.bottleneck.LayerNorm"),
    *_dense("encoder/pooler/dense", "mobilebert.pooler.dense"),
    *_dense("mlm/transform", "cls.predictions.transform.dense"),
    *_norm("mlm/transform_norm", "cls.predictions.transform.LayerNorm"),
    Rule("mlm/extra_output_weights", "cls.predictions.dense.weight", True),
    Rule("mlm/output_bias", "cls.predictions.bias"),
    *_dense("nsp/seq_relationship", "cls.seq_relationship"),
    *_dense("classifier_head/classifier", "classifier"),
    *_dense("qa_head/qa_outputs", "qa_outputs"),
])

# Saved by some HF versions but redundant (tied to other weights, or buffers).
HF_REDUNDANT = ("cls.predictions.decoder.weight", "cls.predictions.decoder.bias")
HF_BUFFER_SUFFIXES = ("embeddings.position_ids",)


def _compile(template: str) -> re.Pattern:
    pattern = re.escape(template).replace(r"\{i\}", r"(?P<i>\d+)").replace(r"\{k\}", r"(?P<k>\d+)")
    return re.compile(pattern + r"\Z")


_OURS = [(_compile(r.ours), r) for r in TABLE]
_THEIRS = [(_compile(r.theirs), r) for r in TABLE]


def _translate(name: str, compiled, target: str) -> tuple[str, Rule] | None:
    for pattern, rule in compiled:
        m = pattern.match(name)
        if m:
            return getattr(rule, target).format(**m.groupdict()), rule
    return None


def _normalize_hf_name(name: str) -> str:
    # Old checkpoints name LayerNorm/NoNorm parameters gamma/beta.
    name = re.sub(r"\.gamma\Z", ".weight", name)
    return re.sub(r"\.beta\Z", ".bias", name)


def hf_to_ours(arrays: Mapping[str, np.ndarray], config: MobileBertConfig | None = None, *,
               source: str = "HF checkpoint") -> dict[str, np.ndarray]:
    """Rename/transpose HF weights to our names. Names no rule covers are reported all at once.

    Args:
        arrays: HF parameter name -> array (``model.safetensors``).
        config: the model config; parameters HF allocates but never uses for it are dropped.
        source: the checkpoint named in the error message.

    Returns:
        Our weight name -> array.

    Example:
        >>> hf_to_ours({"qa_outputs.bias": np.zeros(2)})
        {'qa_head/qa_outputs/bias': array([0., 0.])}
    """
    out, unknown = split_hf_arrays(arrays, config)
    if unknown:
        raise CheckpointError(describe_mismatch(unexpected=unknown, source=source))
    return out


def split_hf_arrays(arrays: Mapping[str, np.ndarray], config: MobileBertConfig | None = None
                    ) -> tuple[dict[str, np.ndarray], list[str]]:
    """``(our name -> array, HF names no rule covers)``: :func:`hf_to_ours` without raising."""
    if not any(k.startswith("mobilebert.") for k in arrays):
        # a bare MobileBertModel: its weights carry no "mobilebert." prefix
        arrays = {(f"mobilebert.{k}" if k.startswith(("embeddings.", "encoder.", "pooler.")) else k): v
                  for k, v in arrays.items()}
    out, unknown = {}, []
    unused = hf_unused_names(config) if config is not None else ()
    for name, value in arrays.items():
        name = _normalize_hf_name(name)
        if name in HF_REDUNDANT or name.endswith(HF_BUFFER_SUFFIXES) or name in unused:
            continue
        hit = _translate(name, _THEIRS, "ours")
        if hit is None:
            unknown.append(name)
            continue
        ours, rule = hit
        out[ours] = np.ascontiguousarray(value.T) if rule.transpose else value
    return out, unknown


def ours_to_hf(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    out, unknown = {}, []
    for name, value in arrays.items():
        hit = _translate(name, _OURS, "theirs")
        if hit is None:
            unknown.append(name)
            continue
        theirs, rule = hit
        out[theirs] = np.ascontiguousarray(value.T) if rule.transpose else value
    if unknown:
        raise CheckpointError(describe_mismatch(unexpected=unknown, source="model (no HF name for)"))
    return out


def hf_name_for(ours: str) -> str | None:
    hit = _translate(ours, _OURS, "theirs")
    return hit[0] if hit else None


# ------------------------------------------------------------------ export (ours -> HF directory)
#: Our model class -> HF architecture that holds the same weights.
HF_ARCHITECTURES = {"MobileBertForPreTraining": "MobileBertForPreTraining",
                    "MobileBertForSequenceClassification": "MobileBertForSequenceClassification",
                    "MobileBertForQuestionAnswering": "MobileBertForQuestionAnswering"}


def hf_architecture(config_path: str) -> str | None:
    """The first of an HF config's ``architectures`` that is one of ours (:data:`HF_ARCHITECTURES`), else None."""
    try:
        with open(config_path, encoding="utf-8") as f:
            values = json.load(f)
    except (OSError, json.JSONDecodeError):
        return None
    ours = {theirs: name for name, theirs in HF_ARCHITECTURES.items()}
    return next((ours[a] for a in values.get("architectures") or [] if a in ours), None)


def hf_init_kwargs(config_path: str) -> dict:
    """``{"num_labels": n}`` for a HF sequence-classification directory (from ``id2label``), else ``{}``."""
    try:
        with open(config_path, encoding="utf-8") as f:
            values = json.load(f)
    except (OSError, json.JSONDecodeError):
        return {}
    if "MobileBertForSequenceClassification" not in (values.get("architectures") or []):
        return {}
    n = len(values["id2label"]) if isinstance(values.get("id2label"), dict) else values.get("num_labels")
    return {"num_labels": int(n)} if n else {}


def hf_unsupported_reason(config: MobileBertConfig) -> str | None:
    """Why HF transformers cannot run ``config`` with our semantics, or None."""
    if (config.use_bottleneck and not config.use_bottleneck_attention and not config.key_query_shared_bottleneck
            and config.intra_bottleneck_size != config.hidden_size):
        return (f"HF transformers cannot run this config (the IB-BERT teacher layout): with neither "
                f"use_bottleneck_attention nor key_query_shared_bottleneck, Google's code feeds the "
                f"{config.hidden_size}-wide block input to query/key/value, but HF builds query/key for "
                f"intra_bottleneck_size ({config.intra_bottleneck_size}) inputs and would crash. Keep it in "
                f"our format or export it as a TF1 checkpoint")
    return None


def hf_export_warnings(config: MobileBertConfig) -> list[str]:
    """What an HF copy of ``config`` computes differently (the weights stay exact)."""
    out = []
    if config.attention_mask_mode != "additive":
        out.append(f"attention_mask_mode {config.attention_mask_mode!r} is not an HF concept: HF masks padding "
                   f"additively (dtype minimum), so outputs on padded inputs differ from ours; unpadded inputs "
                   f"agree. Load ours with attention_mask_mode='additive' to match HF exactly")
    if config.normalization_type == "layer_norm" and not config.hf_norm_eps_quirk:
        out.append(f"HF builds the embedding LayerNorm and the last FFN's LayerNorm with eps 1e-5, ours uses "
                   f"layer_norm_eps {config.layer_norm_eps} there (hf_norm_eps_quirk is false): outputs differ "
                   f"slightly")
    return out


def hf_filler_weights(config: MobileBertConfig, architecture: str) -> dict[str, np.ndarray]:
    """Parameters HF allocates but never uses for ``config``: written as zeros so that HF loads with no
    missing keys, dropped again on import (:func:`hf_unused_names`)."""
    out = {}
    if not config.uses_embedding_transformation:
        width = config.embedding_size * (3 if config.trigram_input else 1)
        out[f"{HE}.embedding_transformation.weight"] = np.zeros((config.hidden_size, width), np.float32)
        out[f"{HE}.embedding_transformation.bias"] = np.zeros((config.hidden_size,), np.float32)
    if architecture == "MobileBertForPreTraining" and config.hidden_size == config.embedding_size:
        out["cls.predictions.dense.weight"] = np.zeros((0, config.vocab_size), np.float32)
    return out


def hf_unused_names(config: MobileBertConfig) -> tuple[str, ...]:
    names = []
    if not config.uses_embedding_transformation:
        names += [f"{HE}.embedding_transformation.weight", f"{HE}.embedding_transformation.bias"]
    if config.hidden_size == config.embedding_size:
        names.append("cls.predictions.dense.weight")
    return tuple(names)


def save_hf_pretrained(model, path: str, *, vocab_file: str | None = None) -> list[str]:
    """Write ``model`` as an HF directory (``config.json`` + ``model.safetensors`` [+ ``vocab.txt``]) that
    HF's ``from_pretrained`` of the matching class loads with no missing or unexpected keys.

    Raises ConfigError for configs HF cannot run (the teacher layout); returns the warnings of
    :func:`hf_export_warnings`. Each file is written to a temporary name and renamed, weights first and
    config.json last, so an interrupted export never leaves a config next to half-written weights.
    """
    import os

    from mobilebert_tf.fileio import atomic_copy, atomic_write_text
    from mobilebert_tf.weights import save_safetensors, weights_to_numpy

    config = model.config
    reason = hf_unsupported_reason(config)
    if reason:
        raise ConfigError(reason)
    architecture = HF_ARCHITECTURES.get(type(model).__name__)
    if architecture is None:
        raise ConfigError(f"no HF architecture for {type(model).__name__}; expected one of {sorted(HF_ARCHITECTURES)}")
    model.build_with_dummy()
    arrays = ours_to_hf(weights_to_numpy(model))
    if architecture == "MobileBertForQuestionAnswering":
        # HF's QA model has no pooler (add_pooling_layer=False); span logits never read it
        arrays = {k: v for k, v in arrays.items() if not k.startswith("mobilebert.pooler.")}
    arrays.update({k: v for k, v in hf_filler_weights(config, architecture).items() if k not in arrays})
    values = config_to_hf_dict(config, architecture)
    num_labels = getattr(model, "num_labels", None)
    if architecture == "MobileBertForSequenceClassification":
        values["id2label"] = {str(i): f"LABEL_{i}" for i in range(num_labels)}
        values["label2id"] = {f"LABEL_{i}": i for i in range(num_labels)}
    os.makedirs(path, exist_ok=True)
    save_safetensors(arrays, os.path.join(path, HF_WEIGHTS_FILE), metadata={"format": "pt"})
    if vocab_file is not None and os.path.isfile(vocab_file):
        dst = os.path.join(path, "vocab.txt")
        if os.path.abspath(vocab_file) != os.path.abspath(dst):
            atomic_copy(vocab_file, dst)
    atomic_write_text(os.path.join(path, HF_CONFIG_FILE), json.dumps(values, indent=2, sort_keys=True) + "\n")
    return hf_export_warnings(config)
