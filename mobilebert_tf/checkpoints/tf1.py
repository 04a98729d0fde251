"""Google's TF1 MobileBERT checkpoints (google-research ``mobilebert/``) <-> ours.

A TF1 checkpoint is a prefix (``model.ckpt`` -> ``model.ckpt.index`` + ``model.ckpt.data-*``) next to
a ``bert_config.json``. One table of :class:`Rule` (our name, Google's name, transpose) serves both
directions. Google's names carry ``{norm}`` = ``FakeLayerNorm`` (``no_norm``) or ``LayerNorm``
(``layer_norm``), fixed by the config; the MLM head's norm is always a real ``LayerNorm``.

Google's dense kernels are ``[in, out]`` like Keras', so only the task heads' ``output_weights``
(``[out, in]``) are transposed. Optimizer slots, ``global_step`` and QAT range variables are skipped.
"""
from __future__ import annotations

import glob
import json
import os
import re
import warnings
from typing import Any, Mapping

import numpy as np

from mobilebert_tf.checkpoints.hf import Rule
from mobilebert_tf.config import ConfigError, MobileBertConfig
from mobilebert_tf.fileio import atomic_copy, atomic_write_text
from mobilebert_tf.weights import CheckpointError, describe_mismatch

GOOGLE_CONFIG_FILE = "bert_config.json"
CHECKPOINT_STATE_FILE = "checkpoint"
DEFAULT_PREFIX = "model.ckpt"

# ------------------------------------------------------------------ config
#: Google's ``BertConfig`` constructor defaults (modeling.py): a key a bert_config.json leaves out takes
#: these, *not* our dataclass defaults. ``embedding_size`` / ``intra_bottleneck_size`` None = hidden_size.
GOOGLE_DEFAULTS: dict[str, Any] = {
    "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
    "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 512, "type_vocab_size": 16, "initializer_range": 0.02,
    "embedding_size": None, "trigram_input": False, "use_bottleneck": False, "intra_bottleneck_size": None,
    "use_bottleneck_attention": False, "key_query_shared_bottleneck": False, "num_feedforward_networks": 1,
    "normalization_type": "layer_norm", "classifier_activation": True,
}
GOOGLE_REQUIRED_KEYS = ("vocab_size",)
#: Keys found in Google's released BERT configs that modeling.py stores but never reads.
GOOGLE_IGNORED_KEYS = frozenset({"directionality", "pooler_fc_size", "pooler_num_attention_heads",
                                 "pooler_num_fc_layers", "pooler_size_per_head", "pooler_type"})
#: Google's "gelu" is the tanh approximation (modeling.gelu), our "gelu_new"; exact erf GELU does not exist there.
ACT_FROM_GOOGLE = {"gelu": "gelu_new", "relu": "relu", "relu6": "relu6", "tanh": "tanh"}
ACT_TO_GOOGLE = {ours: theirs for theirs, ours in ACT_FROM_GOOGLE.items()}
#: Google normalization_type -> (ours, layer_norm_eps). contrib layer_norm uses 1e-12, the manual one 1e-6.
NORM_FROM_GOOGLE = {"no_norm": ("no_norm", None), "layer_norm": ("layer_norm", 1e-12),
                    "manual_layer_norm": ("layer_norm", 1e-6)}
GOOGLE_EPS = 1e-12


def config_from_google_dict(values: Mapping[str, Any], source: str = GOOGLE_CONFIG_FILE) -> MobileBertConfig:
    """Google ``bert_config.json`` values -> MobileBertConfig (Google defaults for absent keys)."""
    if not isinstance(values, Mapping):
        raise ConfigError(f"{source}: expected a JSON object, got {type(values).__name__}")
    unknown = sorted(k for k in values if k not in GOOGLE_DEFAULTS and k not in GOOGLE_REQUIRED_KEYS
                     and k not in GOOGLE_IGNORED_KEYS)
    if unknown:
        raise ConfigError(f"{source}: unknown Google config key(s) {', '.join(map(repr, unknown))}; known keys: "
                          f"{', '.join(sorted([*GOOGLE_DEFAULTS, *GOOGLE_REQUIRED_KEYS]))} (ignored: "
                          f"{', '.join(sorted(GOOGLE_IGNORED_KEYS))})")
    for key in GOOGLE_REQUIRED_KEYS:
        if values.get(key) is None:
            raise ConfigError(f"{source}: config key {key!r} is required")
    v = {**GOOGLE_DEFAULTS, **{k: values[k] for k in values if k not in GOOGLE_IGNORED_KEYS}}
    if v["embedding_size"] is None:
        v["embedding_size"] = v["hidden_size"]
    if v["intra_bottleneck_size"] is None:
        v["intra_bottleneck_size"] = v["hidden_size"]
    act = v["hidden_act"].lower() if isinstance(v["hidden_act"], str) else v["hidden_act"]
    if act not in ACT_FROM_GOOGLE:
        raise ConfigError(f"{source}: config key 'hidden_act' must be one of {sorted(ACT_FROM_GOOGLE)}, "
                          f"got {v['hidden_act']!r}")
    v["hidden_act"] = ACT_FROM_GOOGLE[act]
    if v["normalization_type"] not in NORM_FROM_GOOGLE:
        raise ConfigError(f"{source}: config key 'normalization_type' must be one of {sorted(NORM_FROM_GOOGLE)}, "
                          f"got {v['normalization_type']!r}")
    v["normalization_type"], eps = NORM_FROM_GOOGLE[v["normalization_type"]]
    v["layer_norm_eps"] = eps or GOOGLE_EPS
    # Google's attention masking (-6) and its eps everywhere: our defaults, stated so that they show.
    v.update(attention_mask_mode="google", google_mask_value=-6.0, hf_norm_eps_quirk=False)
    return MobileBertConfig.from_dict(v, source=source)


def read_google_config(path: str) -> MobileBertConfig:
    try:
        with open(path, encoding="utf-8") as f:
            values = json.load(f)
    except FileNotFoundError as e:
        raise CheckpointError(f"{path}: Google config not found (a TF1 checkpoint needs its {GOOGLE_CONFIG_FILE})") from e
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from e
    return config_from_google_dict(values, source=path)


def config_to_google_dict(config: MobileBertConfig) -> dict[str, Any]:
    """MobileBertConfig -> Google ``bert_config.json`` values (every key written, none left to defaults).

    Raises ConfigError for what Google's code cannot express (exact erf GELU, other LayerNorm eps);
    warns for our-only runtime choices that Google's code fixes (mask mode and value, HF eps quirk).
    """
    if config.hidden_act not in ACT_TO_GOOGLE:
        raise ConfigError(f"config field 'hidden_act' is {config.hidden_act!r}, which Google's TF1 code does not "
                          f"have (its 'gelu' is the tanh approximation, our 'gelu_new'); use one of "
                          f"{sorted(ACT_TO_GOOGLE)}")
    if config.normalization_type == "no_norm":
        norm = "no_norm"
    else:
        norm = {GOOGLE_EPS: "layer_norm", 1e-6: "manual_layer_norm"}.get(config.layer_norm_eps)
        if norm is None:
            raise ConfigError(f"config field 'layer_norm_eps' is {config.layer_norm_eps}; Google's TF1 code has "
                              f"LayerNorm eps 1e-12 ('layer_norm') or 1e-6 ('manual_layer_norm') only")
        if config.hf_norm_eps_quirk:
            warnings.warn("hf_norm_eps_quirk: Google's code uses one eps for every LayerNorm; the two norms HF "
                          "builds with eps 1e-5 get 1e-12 in TF1 (outputs change slightly)", stacklevel=2)
    if config.attention_mask_mode != "google" or config.google_mask_value != -6.0:
        warnings.warn(f"attention_mask_mode={config.attention_mask_mode!r}, google_mask_value="
                      f"{config.google_mask_value}: Google's TF1 code always masks with scores * mask + "
                      f"(1 - mask) * -6; padded inputs will give different outputs there", stacklevel=2)
    out = {k: getattr(config, k) for k in GOOGLE_DEFAULTS}
    out.update(vocab_size=config.vocab_size, hidden_act=ACT_TO_GOOGLE[config.hidden_act], normalization_type=norm)
    return out


# ------------------------------------------------------------------ the name table
def _dense(ours: str, theirs: str) -> list[Rule]:
    return [Rule(f"{ours}/kernel", f"{theirs}/kernel"), Rule(f"{ours}/bias", f"{theirs}/bias")]


def _norm(ours: str, theirs: str) -> list[Rule]:
    return [Rule(f"{ours}/gamma", f"{theirs}/gamma"), Rule(f"{ours}/beta", f"{theirs}/beta")]


def _head(ours: str, scope: str) -> list[Rule]:
    # task heads: tf.get_variable("output_weights", [out, in]) used with matmul(x, w, transpose_b=True)
    return [Rule(f"{ours}/kernel", f"{scope}output_weights", True), Rule(f"{ours}/bias", f"{scope}output_bias")]


E, L = "encoder/embeddings", "encoder/layer_{i}"
GE, GL, N = "bert/embeddings", "bert/encoder/layer_{i}", "{norm}"
TABLE: tuple[Rule, ...] = tuple([
    Rule(f"{E}/word_embeddings", f"{GE}/word_embeddings"),
    Rule(f"{E}/position_embeddings", f"{GE}/position_embeddings"),
    Rule(f"{E}/token_type_embeddings", f"{GE}/token_type_embeddings"),
    *_dense(f"{E}/embedding_transformation", f"{GE}/embedding_transformation"),
    *_norm(f"{E}/norm", f"{GE}/{N}"),
    *_dense(f"{L}/bottleneck/input", f"{GL}/bottleneck/input/dense"),
    *_norm(f"{L}/bottleneck/input_norm", f"{GL}/bottleneck/input/{N}"),
    *_dense(f"{L}/bottleneck/attention", f"{GL}/bottleneck/attention/dense"),
    *_norm(f"{L}/bottleneck/attention_norm", f"{GL}/bottleneck/attention/{N}"),
    *_dense(f"{L}/attention/query", f"{GL}/attention/self/query"),
    *_dense(f"{L}/attention/key", f"{GL}/attention/self/key"),
    *_dense(f"{L}/attention/value", f"{GL}/attention/self/value"),
    *_dense(f"{L}/attention/output", f"{GL}/attention/output/dense"),
    *_norm(f"{L}/attention/norm", f"{GL}/attention/output/{N}"),
    *_dense(f"{L}/ffn/ffn_{{k}}/intermediate", f"{GL}/ffn_layer_{{k}}/intermediate/dense"),
    *_dense(f"{L}/ffn/ffn_{{k}}/output", f"{GL}/ffn_layer_{{k}}/output/dense"),
    *_norm(f"{L}/ffn/ffn_{{k}}/norm", f"{GL}/ffn_layer_{{k}}/output/{N}"),
    *_dense(f"{L}/ffn/final_ffn/intermediate", f"{GL}/intermediate/dense"),
    *_dense(f"{L}/ffn/final_ffn/output", f"{GL}/output/dense"),
    *_norm(f"{L}/ffn/final_ffn/norm", f"{GL}/output/{N}"),
    *_dense(f"{L}/output_bottleneck/dense", f"{GL}/output/bottleneck/dense"),
    *_norm(f"{L}/output_bottleneck/norm", f"{GL}/output/bottleneck/{N}"),
    *_dense("encoder/pooler/dense", "bert/pooler/dense"),
    *_dense("mlm/transform", "cls/predictions/transform/dense"),
    *_norm("mlm/transform_norm", "cls/predictions/transform/LayerNorm"),  # a real LayerNorm, always
    Rule("mlm/extra_output_weights", "cls/predictions/extra_output_weights"),  # [V, H - E] in both
    Rule("mlm/output_bias", "cls/predictions/output_bias"),
    *_head("nsp/seq_relationship", "cls/seq_relationship/"),
    *_head("classifier_head/classifier", ""),  # run_classifier.py: top-level output_weights [labels, H]
    *_head("qa_head/qa_outputs", "cls/squad/"),  # run_squad.py: [2, H], row 0 start, row 1 end
])

#: Checkpoint variables that are not model weights: optimizer slots (Google's AdamWeightDecay and LAMB
#: name theirs adam_m/adam_v; tf.train optimizers Adam/Adam_1/Momentum, beta powers), step counters,
#: loss-scale state and QAT fake-quant ranges (recalibrated at TFLite export).
SKIP_SEGMENTS = frozenset({"adam_m", "adam_v", "Adam", "Adam_1", "Momentum", "LAMB", "LAMB_1", "lamb_m", "lamb_v",
                           "AdamWeightDecayOptimizer", "AdamWeightDecayOptimizer_1", "LAMBOptimizer",
                           "LAMBOptimizer_1", "global_step", "beta1_power", "beta2_power", "current_loss_scale",
                           "good_steps"})
SKIP_SEGMENT_PATTERN = re.compile(r"MobileBert(Act|Weight)FakeQuantWithMinMaxVars")


def is_skipped(name: str) -> bool:
    return any(s in SKIP_SEGMENTS or SKIP_SEGMENT_PATTERN.match(s) for s in name.split("/"))


def norm_name(config: MobileBertConfig) -> str:
    return "FakeLayerNorm" if config.normalization_type == "no_norm" else "LayerNorm"


def _compile(template: str) -> re.Pattern:
    pattern = re.escape(template).replace(r"\{i\}", r"(?P<i>\d+)").replace(r"\{k\}", r"(?P<k>\d+)")
    return re.compile(pattern + r"\Z")


_COMPILED: dict[tuple[str, str], list[tuple[re.Pattern, Rule]]] = {}


def _patterns(side: str, norm: str):
    key = (side, norm)
    if key not in _COMPILED:
        _COMPILED[key] = [(_compile(getattr(r, side).replace("{norm}", norm)), r) for r in TABLE]
    return _COMPILED[key]


def tf1_name_for(ours: str, config: MobileBertConfig) -> tuple[str, Rule] | None:
    norm = norm_name(config)
    for pattern, rule in _patterns("ours", norm):
        m = pattern.match(ours)
        if m:
            return rule.theirs.format(norm=norm, **m.groupdict()), rule
    return None


def our_name_for(theirs: str, config: MobileBertConfig) -> tuple[str, Rule] | None:
    for pattern, rule in _patterns("theirs", norm_name(config)):
        m = pattern.match(theirs)
        if m:
            return rule.ours.format(**m.groupdict()), rule
    return None


def _apply(value: np.ndarray, rule: Rule) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(value)) if rule.transpose else value


def tf1_to_ours(arrays: Mapping[str, np.ndarray], config: MobileBertConfig, *,
                source: str = "TF1 checkpoint") -> dict[str, np.ndarray]:
    """Google names -> ours (skipping optimizer/step variables); names no rule covers are reported at once."""
    out, unknown = {}, []
    for name, value in arrays.items():
        if is_skipped(name):
            continue
        hit = our_name_for(name, config)
        if hit is None:
            unknown.append(name)
            continue
        out[hit[0]] = _apply(value, hit[1])
    if unknown:
        raise CheckpointError(describe_mismatch(unexpected=unknown, source=source))
    return out


def ours_to_tf1(arrays: Mapping[str, np.ndarray], config: MobileBertConfig) -> dict[str, np.ndarray]:
    out, unknown = {}, []
    for name, value in arrays.items():
        hit = tf1_name_for(name, config)
        if hit is None:
            unknown.append(name)
            continue
        out[hit[0]] = _apply(value, hit[1])
    if unknown:
        raise CheckpointError(describe_mismatch(unexpected=unknown, source="model (no TF1 name for)"))
    return out


# ------------------------------------------------------------------ finding and reading checkpoints
_DATA_SUFFIX = re.compile(r"\.data-\d{5}-of-\d{5}\Z")


def is_tf1_path(path: str) -> bool:
    """A checkpoint prefix, its .index/.data file, or a directory holding a TF1 checkpoint."""
    path = os.fspath(path)
    if os.path.isdir(path):
        return (os.path.isfile(os.path.join(path, CHECKPOINT_STATE_FILE))
                or bool(glob.glob(os.path.join(glob.escape(path), "*.index"))))
    return _prefix_of_file(path) is not None


def _prefix_of_file(path: str) -> str | None:
    if path.endswith(".index") and os.path.isfile(path):
        return path[: -len(".index")]
    if _DATA_SUFFIX.search(path) and os.path.isfile(path):
        return _DATA_SUFFIX.sub("", path)
    if not os.path.isdir(path) and os.path.isfile(path + ".index"):
        return path
    return None


def resolve(path: str, bert_config: str | None = None) -> tuple[str, str]:
    """``(checkpoint prefix, bert_config.json path)`` for a directory, a prefix or a .index/.data file.

    In a directory the ``checkpoint`` state file names the prefix, taken by base name inside the
    directory (Saver records absolute paths of the training machine, which must never point us at
    another checkpoint); without it, or when that file is not there, exactly one ``*.index`` must be
    present. The config is ``bert_config.json`` in that directory unless given.
    """
    import tensorflow as tf

    path = os.fspath(path)
    if os.path.isdir(path):
        folder = path
        prefix = None
        if os.path.isfile(os.path.join(path, CHECKPOINT_STATE_FILE)):
            try:
                state = tf.train.get_checkpoint_state(path)
            except Exception:  # an unparsable state file: fall back to *.index below
                state = None
            if state is not None and state.model_checkpoint_path:
                # Saver records absolute paths of the training machine; only ever look inside `path`
                prefix = os.path.join(path, os.path.basename(state.model_checkpoint_path))
        if prefix is None or not os.path.isfile(prefix + ".index"):
            indexes = sorted(glob.glob(os.path.join(glob.escape(path), "*.index")))
            if not indexes:
                raise CheckpointError(f"{path}: no TF1 checkpoint found (no *.index file)")
            if len(indexes) > 1:
                names = ", ".join(os.path.basename(p)[: -len(".index")] for p in indexes)
                raise CheckpointError(f"{path}: several TF1 checkpoints ({names}) and no usable 'checkpoint' "
                                      f"state file; pass the prefix, e.g. {indexes[-1][: -len('.index')]}")
            prefix = indexes[0][: -len(".index")]
    else:
        prefix = _prefix_of_file(path)
        if prefix is None:
            raise CheckpointError(f"{path}: not a TF1 checkpoint (no {path}.index)")
        folder = os.path.dirname(prefix) or "."
    config_path = bert_config or os.path.join(folder, GOOGLE_CONFIG_FILE)
    if not os.path.isfile(config_path):
        raise CheckpointError(f"{config_path}: Google config not found; a TF1 checkpoint needs its "
                              f"{GOOGLE_CONFIG_FILE} (pass it with --bert-config)")
    return prefix, config_path


class CheckpointReader:
    """Names, shapes and tensors of a TF1 checkpoint; unreadable, truncated or missing files raise
    CheckpointError. Tensors are read on request, so optimizer slots are never loaded."""

    def __init__(self, prefix: str):
        import tensorflow as tf

        self.prefix = prefix
        try:
            self._reader = tf.train.load_checkpoint(prefix)
            self.shapes = {n: tuple(s) for n, s in self._reader.get_variable_to_shape_map().items()}
            dtypes = self._reader.get_variable_to_dtype_map()
        except (tf.errors.OpError, ValueError, IndexError) as e:
            raise CheckpointError(f"{prefix}: cannot read TF1 checkpoint index (corrupt or truncated?): "
                                  f"{getattr(e, 'message', e)}") from e
        self._check_data_size(dtypes)

    def _check_data_size(self, dtypes) -> None:
        # The data shards hold every tensor back to back: a file shorter than the index says is truncated.
        if any(d.name == "string" for d in dtypes.values()):
            return
        expected = sum(int(np.prod(self.shapes[n], dtype=np.int64)) * dtypes[n].size for n in self.shapes)
        shards = glob.glob(glob.escape(self.prefix) + ".data-*-of-*")
        total = sum(os.path.getsize(p) for p in shards)
        if total < expected:
            raise CheckpointError(f"{self.prefix}: TF1 checkpoint data is truncated or missing "
                                  f"({total} bytes in {len(shards)} data file(s), the index describes "
                                  f"{expected})")

    def get(self, name: str) -> np.ndarray:
        import tensorflow as tf

        try:
            return np.asarray(self._reader.get_tensor(name))
        except (tf.errors.OpError, ValueError, IndexError) as e:
            raise CheckpointError(f"{self.prefix}: cannot read variable {name} (corrupt or truncated "
                                  f"checkpoint?): {getattr(e, 'message', e)}") from e


def read_tf1_checkpoint(prefix: str, *, include_skipped: bool = False) -> dict[str, np.ndarray]:
    """All variables (by Google name) of a TF1 checkpoint, optimizer/step variables left out."""
    reader = CheckpointReader(prefix)
    return {n: reader.get(n) for n in sorted(reader.shapes) if include_skipped or not is_skipped(n)}


def detect_task(names) -> str:
    """The task_type (mobilebert_tf.model_tasks) of the heads a checkpoint holds, from its variable names:
    ``qa``, ``classification`` or ``pretraining``."""
    names = set(names)
    if "cls/squad/output_weights" in names:
        return "qa"
    if "output_weights" in names:
        return "classification"
    return "pretraining"


def read_named_arrays(reader: CheckpointReader, config: MobileBertConfig
                      ) -> tuple[dict[str, np.ndarray], list[str], list[str]]:
    """A TF1 checkpoint's model weights under our names.

    Args:
        reader: the open checkpoint.
        config: its config (Google's norm scope names follow ``normalization_type``).

    Returns:
        ``(our name -> array, Google names no rule covers, skipped optimizer/step variable names)``.

    Example:
        >>> arrays, unknown, skipped = read_named_arrays(CheckpointReader("ckpt/model.ckpt"), config)
    """
    arrays, unknown, skipped = {}, [], []
    for name in sorted(reader.shapes):
        if is_skipped(name):
            skipped.append(name)
            continue
        hit = our_name_for(name, config)
        if hit is None:
            unknown.append(name)
        else:
            arrays[hit[0]] = _apply(reader.get(name), hit[1])
    return arrays, unknown, skipped


def num_labels_of(shapes: Mapping[str, tuple]) -> int | None:
    """Classifier width from a checkpoint's ``output_weights`` ([num_labels, H]), else None."""
    return int(shapes["output_weights"][0]) if "output_weights" in shapes else None


def norm_hint(unknown, config: MobileBertConfig, config_path: str) -> str | None:
    """A hint line when unmatched variables carry the other norm scope than ``config`` says."""
    wrong_norm = {"FakeLayerNorm": "LayerNorm", "LayerNorm": "FakeLayerNorm"}[norm_name(config)]
    if any(f"/{wrong_norm}/" in n and not n.startswith("cls/predictions/") for n in unknown):
        return (f"hint: the checkpoint has {wrong_norm} variables but {config_path} says "
                f"normalization_type {config.normalization_type!r}")
    return None


def stored_name(ours: str, config: MobileBertConfig) -> str:
    """Google's name for our weight ``ours`` (``ours`` itself when no rule covers it)."""
    hit = tf1_name_for(ours, config)
    return hit[0] if hit else ours


def stored_shape(ours: str, shape: tuple, config: MobileBertConfig) -> tuple:
    """The shape Google stores our weight ``ours`` of ``shape`` with (task-head kernels are transposed)."""
    hit = tf1_name_for(ours, config)
    return tuple(shape)[::-1] if hit and hit[1].transpose else tuple(shape)


# ------------------------------------------------------------------ writing
def save_tf1_checkpoint(model, path: str, *, prefix_name: str = DEFAULT_PREFIX,
                        vocab_file: str | None = None) -> str:
    """Write ``model`` as a Google TF1 checkpoint directory: ``bert_config.json``, ``checkpoint``,
    ``<prefix_name>.index`` / ``.data-00000-of-00001`` (+ ``vocab.txt``). Returns the prefix.

    Files are written under temporary names and renamed, the index after the data, so an interrupted
    save never leaves an index that points at half-written data.
    """
    import tensorflow as tf

    from mobilebert_tf.weights import weights_to_numpy

    path = os.fspath(path)
    os.makedirs(path, exist_ok=True)
    model.build_with_dummy()
    google_config = config_to_google_dict(model.config)
    arrays = ours_to_tf1(weights_to_numpy(model), model.config)
    prefix = os.path.join(path, prefix_name)
    tmp = os.path.join(path, f".tmp-{os.getpid()}-{prefix_name}")
    names = sorted(arrays)
    try:
        tf.raw_ops.SaveV2(prefix=tmp, tensor_names=names, shape_and_slices=[""] * len(names),
                          tensors=[tf.constant(np.asarray(arrays[n], np.float32)) for n in names])
        data = ".data-00000-of-00001"
        os.replace(tmp + data, prefix + data)
        os.replace(tmp + ".index", prefix + ".index")
    finally:
        for p in glob.glob(glob.escape(tmp) + "*"):
            os.remove(p)
    atomic_write_text(os.path.join(path, GOOGLE_CONFIG_FILE), json.dumps(google_config, indent=2, sort_keys=True) + "\n")
    atomic_write_text(os.path.join(path, CHECKPOINT_STATE_FILE),
                      f'model_checkpoint_path: "{prefix_name}"\nall_model_checkpoint_paths: "{prefix_name}"\n')
    if vocab_file is not None:
        dst = os.path.join(path, "vocab.txt")
        if os.path.abspath(vocab_file) != os.path.abspath(dst):
            atomic_copy(vocab_file, dst)
    return prefix
