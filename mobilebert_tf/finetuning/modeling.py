"""Building the model to fine-tune (``--init``) and loading a fine-tuned one for a task, with the checks that
turn "wrong model for this task" into one clear message instead of a shape error deep in TensorFlow."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Mapping

from mobilebert_tf.config import MobileBertConfig, check_qat_config
from mobilebert_tf.finetuning.tasks import FinetuneTask, get_finetune_task
from mobilebert_tf.weights import CheckpointError

__all__ = ["read_model_info", "init_model", "load_task_model", "check_compatible", "resolve_vocab",
           "describe_model"]


def read_model_info(path) -> dict[str, Any]:
    """model.json of one of our model directories ({} when absent: HF / TF1 / hand-made directories).

    Args:
        path: the model directory.

    Returns:
        The parsed ``model.json`` (``mobilebert_tf.modeldir.ModelDir``; a corrupt file is a CheckpointError).

    Example:
        >>> read_model_info("runs/sst2")["task"]
        'sst-2'
    """
    from mobilebert_tf.modeldir import ModelDir

    return dict(ModelDir.read(path).info)


def _num_labels(info: Mapping[str, Any]) -> int | None:
    n = info.get("init_kwargs", {}).get("num_labels")
    return int(n) if n is not None else None


def describe_model(path, info: Mapping[str, Any]) -> str:
    """'runs/sst2 (classification model fine-tuned on sst-2, 2 labels: negative, positive)' and the like."""
    task_type = info.get("task_type")
    if task_type == "classification":
        labels = info.get("labels")
        n = _num_labels(info)
        what = f"classification model{_on_task(info)}, {n} output{'s' if n != 1 else ''}"
        return f"{path} ({what}{': ' + ', '.join(map(str, labels)) if labels else ''})"
    if task_type == "qa":
        return f"{path} (span QA model{_on_task(info)})"
    return f"{path} ({task_type or 'encoder'} model {info.get('model_class', '')}".rstrip() + ")"


def _on_task(info) -> str:
    return f" fine-tuned on {info['task']}" if info.get("task") else ""


def _needs(task: FinetuneTask) -> str:
    if task.kind == "span":
        return f"{task.name} needs a span QA model (start/end logits)"
    if task.kind == "regression":
        return f"{task.name} is a regression task and needs a model with 1 output (the score)"
    return (f"{task.name} needs a classification model with {task.num_outputs} outputs "
            f"({', '.join(task.labels)})")


def check_compatible(task: FinetuneTask, info: Mapping[str, Any], path, *, allow_task_mismatch: bool = False) -> None:
    """Raise CheckpointError when the model directory cannot serve ``task``: another head kind (an SST-2
    classifier on squad1), another output width (a 2-label model on STS-B), a model without a task head,
    or a model fine-tuned on another GLUE task (labels mean something else) unless ``allow_task_mismatch``."""
    task_type = info.get("task_type")
    if task_type not in ("classification", "qa"):
        raise CheckpointError(f"{describe_model(path, info)} has no task head; fine-tune it first "
                              f"(mobilebert finetune --task {task.name} --init {path} ...)")
    if task_type != task.task_type:
        raise CheckpointError(f"{describe_model(path, info)} cannot be used for {task.name}: {_needs(task)}")
    if task.kind != "span" and _num_labels(info) != task.num_outputs:
        raise CheckpointError(f"{describe_model(path, info)} cannot be used for {task.name}: {_needs(task)}")
    saved = info.get("task")
    if saved and not allow_task_mismatch:
        try:
            saved_family = get_finetune_task(saved).family
        except ValueError:
            saved_family = None
        if saved_family != task.family:
            raise CheckpointError(f"{path} was fine-tuned on {saved}, not {task.name}: its "
                                  f"labels mean something else (pass --allow-task-mismatch to use it anyway)")


def load_task_model(path, task: FinetuneTask | str | None = None, *, allow_task_mismatch: bool = False):
    """(model, info, task) for a fine-tuned model directory. task None: the one recorded in model.json."""
    from mobilebert_tf.checkpoints import detect_format
    from mobilebert_tf.models import MODEL_CLASSES

    if isinstance(task, str):
        task = get_finetune_task(task)  # a bad task name is the first thing to report
    path = Path(path)
    if detect_format(str(path)) != "mobilebert_tf":
        raise CheckpointError(f"{path}: not one of our model directories (config.json + weights.safetensors + "
                              f"model.json); import it first with mobilebert import")
    info = read_model_info(path)
    if task is None:
        if not info.get("task"):
            raise CheckpointError(f"{describe_model(path, info)}: model.json records no task; pass --task")
        task = info["task"]
    task = get_finetune_task(task) if isinstance(task, str) else task
    check_compatible(task, info, path, allow_task_mismatch=allow_task_mismatch)
    cls = MODEL_CLASSES[task.model_class_name]
    return cls.from_pretrained(str(path)), info, task


def _qat_note(qat: bool) -> str:
    return ", quantization-aware" if qat else ""


def init_model(task: FinetuneTask, init: str, *, preset: str = "mobilebert", config_overrides: Mapping | None = None,
               seed: int = 0, qat: bool = False):
    """The model to fine-tune and a one-line account of what was loaded.

    init ``random``: ``preset`` + ``config_overrides``, randomly initialized (seeded). Otherwise a model
    directory (ours, HF safetensors or a TF1 checkpoint): a model of the same task family loads whole
    (fine-tuning continues); anything else (pre-training, distillation, another task) gives the encoder, and
    the head is new. The pooler of classifiers is re-initialized too (Google: the pre-trained pooler is best
    not used for GLUE).

    ``qat``: wrap the model for quantization-aware training (``mobilebert_tf.qat.apply_qat``) before the
    weights load; float weights load into it and its activation ranges start fresh. A directory that was
    trained with QAT stays a QAT model either way.
    """
    import tf_keras as keras

    from mobilebert_tf.checkpoints import detect_format
    from mobilebert_tf.models import CONFIG_FILE, MODEL_CLASSES

    overrides = dict(config_overrides or {})
    cls = MODEL_CLASSES[task.model_class_name]
    kwargs = {"num_labels": task.num_outputs} if task.kind != "span" else {}
    keras.utils.set_random_seed(seed)  # the head (and, for random, every weight) is drawn from this seed
    if init == "random":
        config = MobileBertConfig.from_preset(preset, **overrides)
        model = cls(config, qat=qat, **kwargs)
        return model.build_with_dummy(), f"random init from preset {preset}{_qat_note(qat)}"
    if not os.path.exists(init):
        raise CheckpointError(f"--init {init}: no such model directory (or pass --init random)")
    if detect_format(init) != "mobilebert_tf":
        if qat:
            overrides["qat"] = True
        return cls.from_pretrained(init, **overrides, **kwargs), f"encoder from {init} (new head{_qat_note(qat)})"
    info = read_model_info(init)
    qat = qat or bool(info.get("qat"))  # a QAT directory stays QAT
    config = MobileBertConfig.from_json(os.path.join(init, CONFIG_FILE)).replace(**overrides)
    if qat:
        check_qat_config(config)  # before the weights load
    try:
        init_family = get_finetune_task(info["task"]).family if info.get("task") else None
    except ValueError:  # a task name we don't know (written by another tool): treat as another task
        init_family = None
    same_family = (info.get("model_class") == cls.__name__ and init_family == task.family
                   and (task.kind == "span" or _num_labels(info) == task.num_outputs))
    if same_family:
        return (cls.from_pretrained(init, **overrides, qat=qat),
                f"whole model from {init} (continued fine-tuning{_qat_note(qat)})")
    # Only the encoder: the head of another task (or MLM/NSP) never fits; the loader takes the encoder
    # strictly (every encoder weight present) and leaves the head and pooler fresh.
    model = cls.from_pretrained(init, encoder_only=True, qat=qat, **overrides, **kwargs)
    what = info.get("task") or info.get("task_type") or "model"
    pooler = ", new pooler" if task.kind != "span" else ""
    return model, f"encoder from {init} ({what}; new head{pooler}{_qat_note(qat)})"


def resolve_vocab(model_dir=None, vocab: str | None = None, data_dir=None, *, warn=sys.stderr) -> str:
    """The vocab to tokenize with: ``vocab`` if given, else ``model_dir/vocab.txt``, else the BERT uncased vocab
    of the shared data (with a note, since a model trained on another vocab would silently read garbage)."""
    from mobilebert_tf.models import VOCAB_FILE
    from mobilebert_tf.paths import bert_vocab

    if vocab:
        if not os.path.isfile(vocab):
            raise FileNotFoundError(f"vocab file not found: {vocab}")
        return str(vocab)
    if model_dir and os.path.isdir(model_dir) and os.path.isfile(os.path.join(model_dir, VOCAB_FILE)):
        return os.path.join(model_dir, VOCAB_FILE)
    default = bert_vocab(data_dir)
    if not default.is_file():
        raise FileNotFoundError(f"no vocab: {model_dir or 'random init'} has no vocab.txt and the default {default} "
                                f"does not exist; pass --vocab")
    if model_dir and model_dir != "random" and warn is not None:
        print(f"note: {model_dir} has no vocab.txt; using {default}", file=warn)
    return str(default)
