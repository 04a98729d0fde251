"""Keras model -> .tflite with the Task Library contract (docs/export.md): :func:`export_tflite` validates
the request, calibrates, converts, names the tensors, attaches the metadata, runs the accuracy gate and
writes the model with its report.

The signature is :mod:`mobilebert_tf.export.serving`'s; the conversion per ``--quantize`` mode is
:mod:`mobilebert_tf.export.quantization`'s; the gate is :mod:`mobilebert_tf.export.accuracy`'s. Builtin ops only.
"""
from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from mobilebert_tf.export import ExportError
from mobilebert_tf.export import metadata as md
from mobilebert_tf.export.quantization import (CALIBRATED_MODES, DEFAULT_THRESHOLD, INT8_WEIGHT_MODES, check_precision, convert,
                                  get_mode, representative_dataset)
from mobilebert_tf.export.serving import DYNAMIC, TENSOR_DESCRIPTIONS, ServingModule, dynamic_max_len
from mobilebert_tf.export.tflite_io import check_tflite_bytes, make_interpreter, op_names, with_max_seq_len

from mobilebert_tf.fileio import atomic_write_bytes, atomic_write_json, check_output_dir
from mobilebert_tf.model_tasks import EXPORT_NAMES, MODEL_TASKS

# Task names, default lengths and model classes come from the one task table (mobilebert_tf.model_tasks).
TASKS = EXPORT_NAMES
DEFAULT_SEQ_LEN = {t.export_name: t.default_seq_len for t in MODEL_TASKS}
DYNAMIC_TASKS = tuple(t.export_name for t in MODEL_TASKS if t.dynamic_seq_len)
MODEL_CLASS_FOR_TASK = {t.export_name: t.model_class.__name__ for t in MODEL_TASKS}


@dataclass
class ExportOptions:
    """How :func:`export_tflite` exports: length, quantization, data, gate, metadata (the ``mobilebert export``
    flags).

    Args:
      seq_len: input tokens, ``"dynamic"`` (classifier/encoder: [1, -1] inputs), or None for the task's
        default (``DEFAULT_SEQ_LEN``).
      quantize: a mode of ``mobilebert_tf.export.quantization.MODES``.
      per_channel: per-channel weight scales (dynamic/int8/int8-mixed/qat; default per tensor).
      tokenizer: the model's ``BertTokenizer`` (packs the calibration and gate examples).
      vocab_file: the model's vocab.txt, packed into the metadata.
      labels: class names (classifier; default ``0 .. n-1``).
      data_dir: the shared data folder (SST-2, GLUE, SQuAD).
      calibration_file: calibration inputs (.txt / GLUE .tsv / SQuAD .json) instead of the task's train data.
      calibration_examples: how many calibration examples.
      gate_file: accuracy-gate inputs instead of the task's dev data.
      gate_examples: how many gate examples.
      threshold: minimum agreement (None: the mode's default, ``DEFAULT_THRESHOLD``).
      allow_accuracy_drop: write the model even below the threshold.
      with_metadata: attach Task Library metadata and the vocab/labels files.
      description: the metadata's model description.
      progress: show the gate's progress bar.
      glue_task: the fine-tuned model's GLUE task (e.g. ``"rte"``): calibrate and gate on its data instead
        of SST-2.
    Example:
      ``ExportOptions(seq_len=128, quantize="int8-mixed", tokenizer=tok, vocab_file="vocab.txt", data_dir="data")``
    """
    seq_len: int | str | None = None
    quantize: str = "none"
    per_channel: bool = False
    tokenizer: object = None
    vocab_file: str | None = None
    labels: list[str] | None = None
    data_dir: str | os.PathLike | None = None
    calibration_file: str | os.PathLike | None = None
    calibration_examples: int = 100
    gate_file: str | os.PathLike | None = None
    gate_examples: int = 100
    threshold: float | None = None
    allow_accuracy_drop: bool = False
    with_metadata: bool = True
    description: str = "MobileBERT"
    progress: bool = True
    glue_task: str | None = None


@dataclass
class ExportedModel:
    """What :func:`export_tflite` wrote.

    Args:
      path: the written .tflite.
      task: ``encoder`` | ``classifier`` | ``qa``.
      quantize: the mode.
      seq_len: tokens, or ``DYNAMIC``.
      size_bytes: the file's size.
      ops: the operator types it uses.
      labels: class names (classifier).
      report: the gate report, as written to ``<out>.report.json``.
    Example:
      ``export_tflite(model, "qa", "m.tflite", options).report["agreement"]``
    """
    path: str
    task: str
    quantize: str
    seq_len: int | str  # tokens, or DYNAMIC
    size_bytes: int
    ops: list[str]
    labels: list[str] | None = None
    report: dict = field(default_factory=dict)


def short_tensor_name(name: bytes) -> bytes:
    """``model/encoder/layer_3/ffn/ffn_0/intermediate/Tensordot;model/encoder/.../Relu`` ->
    ``layer_3/ffn/ffn_0/intermediate/Tensordot``: the first of a fused op's names, without the model and
    encoder scopes. Full names are 0.2 to 0.3 MB of a full-size model; these still locate the layer.

    Args:
      name: a flatbuffer tensor name.
    Returns:
      The short name (the name itself when nothing is left after stripping).
    Example:
      ``short_tensor_name(b"model/encoder/layer_0/attention/MatMul;...") == b"layer_0/attention/MatMul"``
    """
    first = name.split(b";", 1)[0]
    return re.sub(rb"^[^/]+/(encoder/)?", b"", first) or first


def rename_io(data: bytes) -> tuple[bytes, list[str], list[str]]:
    """Name the subgraph's input/output tensors after the signature keys (``serving_default_ids:0``
    -> ``ids``) and shorten the others (:func:`short_tensor_name`).

    Args:
      data: the converted .tflite.
    Returns:
      (the renamed model, input names, output names), names in subgraph order.
    Example:
      ``data, inputs, outputs = rename_io(convert(module, "none"))``
    """
    from tensorflow.lite.tools import flatbuffer_utils

    interpreter = make_interpreter(data)
    signature = interpreter._get_full_signature_list()["serving_default"]
    by_index = {idx: name for name, idx in {**signature["inputs"], **signature["outputs"]}.items()}
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    subgraph = model.subgraphs[0]
    for tensor in subgraph.tensors:
        tensor.name = short_tensor_name(tensor.name)
    for idx, name in by_index.items():
        subgraph.tensors[idx].name = name.encode()
    inputs = [by_index[i] for i in subgraph.inputs]
    outputs = [by_index[i] for i in subgraph.outputs]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)), inputs, outputs


def model_info(task: str, quantize: str, inputs: list[str], outputs: list[str], seq_len: int | str,
               labels: list[str] | None, description: str) -> md.ModelInfo:
    """The Task Library metadata of an export: the signature's tensors described, vocab.txt as the
    tokenizer's file and, on a classifier's ``probability``, labels.txt.

    Args:
      task: ``encoder`` | ``classifier`` | ``qa``.
      quantize: the mode (named in the description).
      inputs: input names in subgraph order (``rename_io``).
      outputs: output names in subgraph order.
      seq_len: the length to name in the description (tokens, or a phrase for dynamic exports).
      labels: class names; when given, the labels file is attached to ``probability``.
      description: what the model is (e.g. the model directory's name).
    Returns:
      An ``mobilebert_tf.export.metadata.ModelInfo`` for ``mobilebert_tf.export.metadata.attach``.
    Example:
      ``md.attach(data, model_info("qa", "int8", inputs, outputs, 384, None, "squad"), files)``
    """
    outs = []
    for name in outputs:
        files = [md.AssociatedFile("labels.txt", "class labels", md.TENSOR_AXIS_LABELS)] \
            if name == "probability" and labels else []
        outs.append(md.TensorInfo(name, TENSOR_DESCRIPTIONS.get(name, ""), files))
    return md.ModelInfo(name=f"MobileBERT {task}", description=f"{description} (seq {seq_len}, quantization {quantize})",
                        version="1", author="mobilebert-tf", license="Apache-2.0",
                        inputs=[md.TensorInfo(n, TENSOR_DESCRIPTIONS[n]) for n in inputs], outputs=outs,
                        tokenizer_vocab="vocab.txt")


def export_tflite(model, task: str, out: str | os.PathLike, options: ExportOptions | None = None,
                  **overrides) -> ExportedModel:
    """Convert ``model`` for ``task``, run the accuracy gate, write ``out`` and ``<out>.report.json``.

    A model that fails the gate is written to ``<stem>.rejected.tflite`` instead and ExportError is raised,
    unless ``options.allow_accuracy_drop``. The result must have the precision asked for
    (``mobilebert_tf.export.quantization.check_precision``), else ExportError and nothing is written.

    Args:
      model: a Keras ``MobileBertFor...`` model (``model.qat`` for ``quantize="qat"``).
      task: ``encoder`` | ``classifier`` | ``qa``.
      out: the .tflite path (its folder is created).
      options: :class:`ExportOptions` (default: all defaults).
      **overrides: fields of :class:`ExportOptions` that replace those of ``options``
        (``export_tflite(model, "qa", out, quantize="int8", tokenizer=tok, ...)``).
    Returns:
      The :class:`ExportedModel`.
    Example:
      ``export_tflite(model, "classifier", "m.tflite", ExportOptions(quantize="dynamic", tokenizer=tok,
      vocab_file="vocab.txt", data_dir="data")).report["agreement"]``
    """
    from mobilebert_tf.export import accuracy, task_data

    o = dataclasses.replace(options or ExportOptions(), **overrides)
    quantize = o.quantize
    if task not in TASKS:
        raise ExportError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    get_mode(quantize)  # an unknown mode fails before any data is read
    dynamic = o.seq_len == DYNAMIC
    max_len = dynamic_max_len(model.config) if dynamic else model.config.max_position_embeddings
    if dynamic and task not in DYNAMIC_TASKS:
        raise ExportError(f"--seq-len dynamic is for {' and '.join(DYNAMIC_TASKS)} exports; a {task} export has a "
                          f"fixed length: TF Lite Task Library's BertQuestionAnswerer (tflite-support 0.4.4) fills "
                          f"a fixed 384-token window and fails on a [1, -1] input")
    seq_len = o.seq_len or DEFAULT_SEQ_LEN[task]
    if not dynamic and not 2 <= seq_len <= max_len:
        raise ExportError(f"--seq-len {seq_len} must be in [2, {max_len}] or 'dynamic'")
    if quantize == "qat" and not model.qat:
        raise ExportError("--quantize qat needs a model trained with quantization-aware training "
                          "(`mobilebert finetune --qat`, or mobilebert_tf.qat.apply_qat); this one has no "
                          "fake-quant ranges. Use --quantize int8 for post-training quantization")
    if quantize != "qat" and model.qat:
        raise ExportError(f"this model was trained with QAT; export it with --quantize qat, not {quantize}")
    if o.with_metadata and not o.vocab_file:
        raise ExportError("metadata needs the model's vocab.txt (pass --vocab, or --no-metadata)")
    if task == "classifier" and model.num_labels == 1:
        raise ExportError("this is a regression model (1 output, e.g. STS-B): the Task Library classifier contract "
                          "is a softmax 'probability' output, which would always read 1.0; regression export is "
                          "not supported yet (export --task encoder and apply the head yourself)")
    labels = o.labels
    if task == "classifier":
        n_labels = model.num_labels
        labels = labels or [str(i) for i in range(n_labels)]
        if len(labels) != n_labels:
            raise ExportError(f"{len(labels)} label names for a model with {n_labels} outputs")

    # dynamic: examples are packed at max_len + 1 so that one too long shows (check_fits), run unpadded
    pack_len = max_len + 1 if dynamic else seq_len
    gate = task_data.gate_inputs(task, o.tokenizer, o.data_dir, o.gate_examples, pack_len, o.gate_file,
                                 glue_task=o.glue_task)
    if dynamic:  # before the (slow) conversion
        gate.check_fits(max_len)
    module = ServingModule(model, task, None if dynamic else seq_len, position_lookup=quantize == "dynamic")
    representative = None
    if quantize in CALIBRATED_MODES:
        # calibration (ranges only) may cut a long text at max_len; the gate may not
        calib = task_data.calibration_inputs(task, o.tokenizer, o.data_dir, o.calibration_examples,
                                             max_len if dynamic else seq_len, o.calibration_file,
                                             glue_task=o.glue_task)
        # dynamic: calibrated at the real lengths the model will see
        representative = representative_dataset(calib, own_length=dynamic)

    data = convert(module, quantize, representative, per_channel=o.per_channel)
    check_precision(data, quantize)
    data, inputs, outputs = rename_io(data)
    if dynamic:
        data = with_max_seq_len(data, max_len)
    if o.with_metadata:
        files = {"vocab.txt": Path(o.vocab_file).read_bytes()}
        if task == "classifier":
            files["labels.txt"] = ("\n".join(labels) + "\n").encode()
        length = f"dynamic, at most {max_len} tokens" if dynamic else seq_len
        data = md.attach(data, model_info(task, quantize, inputs, outputs, length, labels, o.description), files)
    check_tflite_bytes(data, "exported model")

    report = accuracy.compare(model, data, task, gate, progress=o.progress, dynamic=dynamic)
    if dynamic:
        report["padded_reference"] = accuracy.padded_reference(model, task, gate, DEFAULT_SEQ_LEN[task])
    threshold = DEFAULT_THRESHOLD[quantize] if o.threshold is None else o.threshold
    report.update(quantize=quantize, task=task, seq_len=seq_len, max_seq_len=max_len if dynamic else seq_len,
                  threshold=threshold, size_bytes=len(data), passed=report["agreement"] >= threshold)
    if quantize in INT8_WEIGHT_MODES:
        report["weight_quantization"] = "per-channel" if o.per_channel else "per-tensor"
    out = Path(out)
    target = out if (report["passed"] or o.allow_accuracy_drop) else out.with_name(out.stem + ".rejected.tflite")
    report["model_file"] = str(target)
    check_output_dir(out.parent)
    atomic_write_bytes(target, data)
    atomic_write_json(str(out) + ".report.json", report, indent=2, ensure_ascii=True)
    result = ExportedModel(str(target), task, quantize, seq_len, len(data), sorted(set(op_names(data))), labels,
                           report)
    if not report["passed"] and not o.allow_accuracy_drop:
        raise ExportError(f"accuracy gate failed: agreement {report['agreement']:.2%} < {threshold:.0%} on "
                          f"{report['examples']} examples ({gate.source}); model kept as {target}, report "
                          f"{out}.report.json (pass --allow-accuracy-drop to accept)")
    return result
