"""MobileBertConfig: one frozen dataclass for every member of the family (students, teacher, BERT).

Presets are data (``PRESETS``), not code paths. ``hidden_size`` is the width *between* blocks;
``intra_bottleneck_size`` the width *inside* a block (see docs/architecture.md).
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Mapping

from mobilebert_tf.errors import MobileBertError
from mobilebert_tf.fileio import atomic_write_text

NORMALIZATION_TYPES = ("no_norm", "layer_norm")
ACTIVATIONS = ("relu", "gelu", "relu6", "gelu_new", "tanh")
ATTENTION_MASK_MODES = ("google", "additive")
QAT_ACTIVATIONS = ("relu", "relu6")  # GELU has no fused int8 kernel: quantization-aware training refuses it


class ConfigError(MobileBertError, ValueError):
    """A config field is unknown, missing or has an impossible value. The message names the field."""


@dataclasses.dataclass(frozen=True)
class MobileBertConfig:
    """Hyper-parameters of a MobileBERT-family encoder (frozen; validated on construction).

    ``use_bottleneck=False`` with ``trigram_input=False``, ``embedding_size == hidden_size`` and one
    FFN gives standard post-LN BERT (the ``bert_base`` preset).

    Args:
        vocab_size, hidden_size, embedding_size, intra_bottleneck_size, num_hidden_layers, num_attention_heads,
        intermediate_size, num_feedforward_networks: sizes (H, E, I, L, N, FFN inner width, FFNs per block).
        hidden_act: ``relu``, ``relu6``, ``gelu`` (erf), ``gelu_new`` (tanh) or ``tanh``.
        normalization_type: ``no_norm`` (MobileBERT's ``x * gamma + beta``) or ``layer_norm``.
        use_bottleneck, use_bottleneck_attention, key_query_shared_bottleneck, trigram_input: the
            MobileBERT structure switches (docs/architecture.md).
        attention_mask_mode: ``google`` (quantization friendly) or ``additive`` (HF).
        Other fields: dropouts, position/segment table sizes, initializer range, LayerNorm eps, pooler
            activation, see the field comments.

    Example:
        >>> config = MobileBertConfig.from_preset("mobilebert", num_hidden_layers=4)
        >>> config.true_hidden_size, config.attention_head_size
        (128, 32)
        >>> MobileBertConfig.from_json(config.to_json()) == config
        True
    """

    vocab_size: int = 30522
    hidden_size: int = 512
    embedding_size: int = 128
    intra_bottleneck_size: int = 128
    num_hidden_layers: int = 24
    num_attention_heads: int = 4
    intermediate_size: int = 512
    num_feedforward_networks: int = 4
    hidden_act: str = "relu"
    normalization_type: str = "no_norm"
    use_bottleneck: bool = True
    use_bottleneck_attention: bool = False
    key_query_shared_bottleneck: bool = True
    trigram_input: bool = True
    hidden_dropout_prob: float = 0.0
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    classifier_activation: bool = False
    attention_mask_mode: str = "google"
    #: Google's quantization-friendly mask constant (scores * mask + (1 - mask) * value).
    google_mask_value: float = -6.0
    #: HF transformers builds the embedding LayerNorm and the last FFN's LayerNorm with PyTorch's
    #: default eps (1e-5) instead of ``layer_norm_eps``. True reproduces that (set on HF import);
    #: Google's release uses ``layer_norm_eps`` everywhere. No effect with ``no_norm``.
    hf_norm_eps_quirk: bool = False

    def __post_init__(self):
        self.validate()

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        int_fields = ("vocab_size", "hidden_size", "embedding_size", "intra_bottleneck_size",
                      "num_hidden_layers", "num_attention_heads", "intermediate_size",
                      "num_feedforward_networks", "max_position_embeddings", "type_vocab_size")
        for name in int_fields:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"config field '{name}' must be a positive integer, got {value!r}")
        for name in ("use_bottleneck", "use_bottleneck_attention", "key_query_shared_bottleneck",
                     "trigram_input", "classifier_activation", "hf_norm_eps_quirk"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"config field '{name}' must be true/false, got {getattr(self, name)!r}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise ConfigError(f"config field '{name}' must be in [0, 1), got {value!r}")
        for name in ("initializer_range", "layer_norm_eps"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value <= 0:
                raise ConfigError(f"config field '{name}' must be a positive number, got {value!r}")
        if not isinstance(self.google_mask_value, (int, float)) or self.google_mask_value >= 0:
            raise ConfigError(f"config field 'google_mask_value' must be negative, got {self.google_mask_value!r}")
        if self.hidden_act not in ACTIVATIONS:
            raise ConfigError(f"config field 'hidden_act' must be one of {ACTIVATIONS}, got {self.hidden_act!r}")
        if self.normalization_type not in NORMALIZATION_TYPES:
            raise ConfigError(f"config field 'normalization_type' must be one of {NORMALIZATION_TYPES}, "
                              f"got {self.normalization_type!r}")
        if self.attention_mask_mode not in ATTENTION_MASK_MODES:
            raise ConfigError(f"config field 'attention_mask_mode' must be one of {ATTENTION_MASK_MODES}, "
                              f"got {self.attention_mask_mode!r}")
        if self.true_hidden_size % self.num_attention_heads:
            field = "intra_bottleneck_size" if self.use_bottleneck else "hidden_size"
            raise ConfigError(f"config field '{field}' ({self.true_hidden_size}) must be divisible by "
                              f"'num_attention_heads' ({self.num_attention_heads})")
        if self.use_bottleneck_attention and self.key_query_shared_bottleneck:
            raise ConfigError("config fields 'use_bottleneck_attention' and 'key_query_shared_bottleneck' "
                              "are mutually exclusive")
        if not self.use_bottleneck and (self.use_bottleneck_attention or self.key_query_shared_bottleneck):
            raise ConfigError("config field 'use_bottleneck' is false, so 'use_bottleneck_attention' and "
                              "'key_query_shared_bottleneck' must be false too")
        if self.embedding_size > self.hidden_size:
            raise ConfigError(f"config field 'embedding_size' ({self.embedding_size}) must not exceed "
                              f"'hidden_size' ({self.hidden_size}): the MLM head pads the output matrix "
                              f"with hidden_size - embedding_size extra columns")

    # ------------------------------------------------------------------ derived sizes
    @property
    def true_hidden_size(self) -> int:
        """Width inside a block: ``intra_bottleneck_size`` with bottlenecks, else ``hidden_size``."""
        return self.intra_bottleneck_size if self.use_bottleneck else self.hidden_size

    @property
    def attention_head_size(self) -> int:
        return self.true_hidden_size // self.num_attention_heads

    @property
    def uses_embedding_transformation(self) -> bool:
        return self.trigram_input or self.embedding_size != self.hidden_size

    # ------------------------------------------------------------------ (de)serialization
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"
        if path is not None:
            atomic_write_text(path, text)
        return text

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], *, source: str = "config",
                  require_all: bool = False) -> "MobileBertConfig":
        if not isinstance(values, Mapping):
            raise ConfigError(f"{source}: expected a JSON object, got {type(values).__name__}")
        known = set(cls.field_names())
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown config key(s) {', '.join(map(repr, unknown))}; "
                              f"valid keys are: {', '.join(sorted(known))}")
        missing = [n for n in cls.field_names() if n not in values]
        if require_all and missing:
            raise ConfigError(f"{source}: missing config field(s) {', '.join(map(repr, missing))}; a model "
                              f"directory's config.json carries every field (defaults are not filled in)")
        return cls(**dict(values))

    @classmethod
    def from_json(cls, text_or_path: str | os.PathLike, *, require_all: bool = True) -> "MobileBertConfig":
        """Parse a JSON string, or read a JSON file when given a path.

        ``require_all``: every field must be present (our own directories, written by :meth:`to_json`); a
        missing one is a ConfigError naming it rather than a silent default. HF and TF1 imports build their
        configs with :meth:`from_dict` and documented defaults instead (docs/checkpoints.md).
        """
        source = "config"
        text = str(text_or_path)
        if not text.lstrip().startswith("{"):
            source = text
            try:
                with open(text, encoding="utf-8") as f:
                    text = f.read()
            except OSError as e:
                raise ConfigError(f"cannot read config file {source}: {e.strerror}") from e
            except UnicodeDecodeError as e:
                raise ConfigError(f"{source}: not a UTF-8 JSON file (byte {e.start}: {e.reason})") from e
        try:
            values = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{source}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from e
        return cls.from_dict(values, source=source, require_all=require_all)

    def replace(self, **overrides) -> "MobileBertConfig":
        unknown = sorted(set(overrides) - set(self.field_names()))
        if unknown:
            raise ConfigError(f"unknown config override(s) {', '.join(map(repr, unknown))}")
        return dataclasses.replace(self, **overrides)

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "MobileBertConfig":
        """A preset (:data:`PRESETS`) with ``overrides`` applied.

        Args:
            name: ``mobilebert``, ``mobilebert_tiny``, ``mobilebert_no_opt``, ``mobilebert_qat``,
                ``ib_bert_large`` or ``bert_base``.
            **overrides: fields to replace.

        Returns:
            The validated config.

        Example:
            >>> MobileBertConfig.from_preset("mobilebert_qat").hidden_act
            'relu6'
        """
        if name not in PRESETS:
            raise ConfigError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
        return cls.from_dict({**PRESETS[name], **overrides}, source=f"preset {name!r}")


# Presets (README's preset table, docs/architecture.md). Values not listed take the dataclass defaults (the
# `mobilebert` preset).
PRESETS: dict[str, dict[str, Any]] = {
    "mobilebert": {},
    "mobilebert_tiny": dict(key_query_shared_bottleneck=False, use_bottleneck_attention=True,
                            num_feedforward_networks=2),
    "mobilebert_no_opt": dict(normalization_type="layer_norm", hidden_act="gelu"),
    "mobilebert_qat": dict(hidden_act="relu6"),
    "ib_bert_large": dict(intra_bottleneck_size=1024, intermediate_size=4096, num_feedforward_networks=1,
                          key_query_shared_bottleneck=False, normalization_type="layer_norm",
                          hidden_act="gelu", hidden_dropout_prob=0.1),
    "bert_base": dict(hidden_size=768, embedding_size=768, intra_bottleneck_size=768, num_hidden_layers=12,
                      num_attention_heads=12, intermediate_size=3072, num_feedforward_networks=1,
                      hidden_act="gelu", normalization_type="layer_norm", use_bottleneck=False,
                      key_query_shared_bottleneck=False, trigram_input=False, hidden_dropout_prob=0.1,
                      classifier_activation=True),
}


def check_qat_config(config: MobileBertConfig) -> None:
    """ConfigError unless ``config`` can be trained quantization-aware (ReLU/ReLU6 FFNs)."""
    if config.hidden_act not in QAT_ACTIVATIONS:
        raise ConfigError(f"quantization-aware training needs hidden_act in {QAT_ACTIVATIONS} (the mobilebert or "
                          f"mobilebert_qat preset); this model uses {config.hidden_act!r}")
