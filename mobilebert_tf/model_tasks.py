"""The one task table: each model task with its model class and every name it goes by.

Four vocabularies name the same three tasks; this table is where they meet:

============== =================================== ============== ============== ===========
task_type      model class                         import name    export name    seq (export)
============== =================================== ============== ============== ===========
pretraining    MobileBertForPreTraining            pretraining    encoder        128, dynamic
classification MobileBertForSequenceClassification classifier     classifier     128, dynamic
qa             MobileBertForQuestionAnswering      qa             qa             384
============== =================================== ============== ============== ===========

``task_type`` is what ``model.json`` records (and a model class's ``task_type``); the import name is
``mobilebert import --task`` (and the head a TF1 checkpoint holds); the export name is ``mobilebert export
--task`` (an encoder export serves a pre-training model's encoder outputs).
"""
from __future__ import annotations

import dataclasses

from mobilebert_tf.errors import MobileBertError
from mobilebert_tf.models import (MobileBertForPreTraining, MobileBertForQuestionAnswering,
                                  MobileBertForSequenceClassification)


class UnknownTaskError(MobileBertError, ValueError):
    """A task name that no vocabulary of the task table knows. The message lists the valid names."""


@dataclasses.dataclass(frozen=True)
class ModelTask:
    """One row of the task table.

    Args:
        task_type: the name ``model.json`` records (``pretraining``, ``classification``, ``qa``).
        model_class: the model class.
        import_name: ``mobilebert import --task`` (``pretraining``, ``classifier``, ``qa``).
        export_name: ``mobilebert export --task`` (``encoder``, ``classifier``, ``qa``).
        outputs: the task head's outputs in the model's output dict.
        export_outputs: the TFLite outputs of its export, in signature order.
        default_seq_len: the export's default sequence length.
        dynamic_seq_len: whether it exports with ``--seq-len dynamic``.
        head_prefixes: top-level weight-name prefixes of its heads (``mlm/``, ``classifier_head/``, ...).

    Example:
        >>> get_model_task("classifier").model_class.__name__
        'MobileBertForSequenceClassification'
    """

    task_type: str
    model_class: type
    import_name: str
    export_name: str
    outputs: tuple[str, ...]
    export_outputs: tuple[str, ...]
    default_seq_len: int
    dynamic_seq_len: bool
    head_prefixes: tuple[str, ...]


MODEL_TASKS: tuple[ModelTask, ...] = (
    ModelTask("pretraining", MobileBertForPreTraining, "pretraining", "encoder", ("mlm_logits", "nsp_logits"),
              ("sequence_output", "pooled_output"), 128, True, ("mlm/", "nsp/")),
    ModelTask("classification", MobileBertForSequenceClassification, "classifier", "classifier", ("logits",),
              ("probability",), 128, True, ("classifier_head/",)),
    ModelTask("qa", MobileBertForQuestionAnswering, "qa", "qa", ("start_logits", "end_logits"),
              ("end_logits", "start_logits"), 384, False, ("qa_head/",)),
)

#: Weight-name prefixes of every task head, so that a checkpoint of another task is recognised as such.
HEAD_PREFIXES: tuple[str, ...] = tuple(p for t in MODEL_TASKS for p in t.head_prefixes)
#: ``mobilebert import --task`` choices and ``mobilebert export --task`` choices, in table order.
IMPORT_NAMES: tuple[str, ...] = tuple(t.import_name for t in MODEL_TASKS)
EXPORT_NAMES: tuple[str, ...] = tuple(t.export_name for t in MODEL_TASKS)


def get_model_task(name: str) -> ModelTask:
    """The table row for ``name`` in any vocabulary: task_type, import or export name, or model class name.

    Args:
        name: e.g. ``"classification"``, ``"classifier"``, ``"encoder"``, ``"MobileBertForQuestionAnswering"``.

    Returns:
        The ``ModelTask``.

    Raises:
        UnknownTaskError: no row has that name.

    Example:
        >>> get_model_task("encoder").task_type
        'pretraining'
    """
    for task in MODEL_TASKS:
        if name in (task.task_type, task.import_name, task.export_name, task.model_class.__name__):
            return task
    known = sorted({n for t in MODEL_TASKS for n in (t.task_type, t.import_name, t.export_name)})
    raise UnknownTaskError(f"unknown task {name!r}; choose one of {', '.join(known)}")


def task_of_model(model_or_class) -> ModelTask:
    """The table row of a model (or model class), found by its class or a base class of it.

    Example:
        >>> task_of_model(MobileBertForQuestionAnswering).export_name
        'qa'
    """
    cls = model_or_class if isinstance(model_or_class, type) else type(model_or_class)
    for task in MODEL_TASKS:
        if issubclass(cls, task.model_class):
            return task
    raise UnknownTaskError(f"{cls.__name__} is not a task model; expected one of "
                           f"{', '.join(t.model_class.__name__ for t in MODEL_TASKS)}")
