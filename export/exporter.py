"""Keras model -> .tflite with the Task Library contract (DESIGN.md section 3).

Inputs int32 [1, seq] named ``ids``, ``mask``, ``segment_ids``; outputs float32 ``end_logits`` /
``start_logits`` [1, seq] (qa), ``probability`` [1, n_labels] (classifier), ``sequence_output`` /
``pooled_output`` (encoder). ``seq_len="dynamic"``: inputs [1, -1] (shape signature), resized to each
text's token count at run time, at most the position table's length less one. Builtin ops only.
Quantization: ``none`` | ``fp16`` | ``dynamic`` | ``int8`` (full integer, calibrated on real task inputs) |
``int8-mixed`` (int8 except the attention score path, for CPUs) | ``qat``.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf

from export import ExportError
from export import metadata as md
from export.tflite_io import (SeqSpec, check_tflite_bytes, make_interpreter, non_builtin_ops, op_names,
                              with_max_seq_len)

from mobilebert_tf.fileio import atomic_write_bytes

TASKS = ("encoder", "classifier", "qa")
QUANTIZE_MODES = ("none", "fp16", "dynamic", "int8", "int8-mixed", "qat")
CALIBRATED_MODES = ("int8", "int8-mixed", "qat")  # need a representative dataset
INT8_WEIGHT_MODES = ("dynamic",) + CALIBRATED_MODES  # --per-channel applies to these
DEFAULT_SEQ_LEN = {"classifier": 128, "qa": 384, "encoder": 128}
DYNAMIC = "dynamic"  # --seq-len dynamic: inputs [1, -1], run at each text's own length
DYNAMIC_TASKS = ("classifier", "encoder")
INPUT_NAMES = ("ids", "mask", "segment_ids")
OUTPUT_NAMES = {"qa": ("end_logits", "start_logits"), "classifier": ("probability",),
                "encoder": ("sequence_output", "pooled_output")}
DEFAULT_THRESHOLD = {"none": 0.99, "fp16": 0.99, "dynamic": 0.99, "int8": 0.97, "int8-mixed": 0.97, "qat": 0.97}
MODEL_CLASS_FOR_TASK = {"encoder": "MobileBertForPreTraining", "classifier": "MobileBertForSequenceClassification",
                        "qa": "MobileBertForQuestionAnswering"}


@dataclass
class ExportedModel:
    path: str
    task: str
    quantize: str
    seq_len: int | str  # tokens, or DYNAMIC
    size_bytes: int
    ops: list[str]
    labels: list[str] | None = None
    report: dict = field(default_factory=dict)


def parse_seq_len(text: str) -> int | str:
    """``--seq-len`` value: a positive token count or ``dynamic``.

    Args:
      text: the flag's text.
    Returns:
      The int, or ``DYNAMIC``.
    Example:
      ``parse_seq_len("128") == 128``; ``parse_seq_len("dynamic") == DYNAMIC``
    """
    if text.strip().lower() == DYNAMIC:
        return DYNAMIC
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"--seq-len must be a number of tokens or 'dynamic', got {text!r}") from None


class ServingModule(tf.Module):
    """The exported signature: three int32 [1, seq] inputs (seq None: dynamic), the task's named float32
    outputs.

    A dynamic module appends one padding token (id 0, mask 0, segment 0) inside the graph: the last real
    token ([SEP]) then sees the [PAD] embedding as its trigram's next token, as in every padded input the
    model was fine-tuned on, instead of the zeros the shift brings in at the sequence end. That is what
    makes an unpadded run the fixed export's function (exactly, with the additive mask), for one extra
    position; it costs the position table one slot (``dynamic_max_len``)."""

    def __init__(self, model, task: str, seq_len: int | None, position_lookup: bool = False):
        super().__init__()
        self.model, self.task, self.position_lookup = model, task, position_lookup
        self.dynamic = seq_len is None
        spec = [tf.TensorSpec([1, seq_len], tf.int32, name=n) for n in INPUT_NAMES]
        self.serve = tf.function(self._serve, input_signature=spec)

    def _serve(self, ids, mask, segment_ids):
        if self.dynamic:
            ids, mask, segment_ids = (tf.pad(t, [[0, 0], [0, 1]]) for t in (ids, mask, segment_ids))
        inputs = {"input_ids": ids, "input_mask": mask, "segment_ids": segment_ids}
        if self.position_lookup:
            # positions that depend on an input are not constant-folded into a float [seq, H] slice: the
            # GATHER keeps the whole position table a weight that dynamic-range quantization turns to int8
            inputs["position_ids"] = ids * 0 + tf.range(tf.shape(ids)[1])[tf.newaxis]
        out = self.model(inputs)
        if self.task == "qa":
            return {"end_logits": out["end_logits"], "start_logits": out["start_logits"]}
        if self.task == "classifier":
            return {"probability": tf.nn.softmax(out["logits"], axis=-1)}
        sequence = out["sequence_output"][:, :-1] if self.dynamic else out["sequence_output"]
        return {"sequence_output": sequence, "pooled_output": out["pooled_output"]}


def dynamic_max_len(config) -> int:
    """The longest input a dynamic export takes: the position table less the appended padding slot."""
    return config.max_position_embeddings - 1


def keras_outputs(model, task: str, batch: dict, dynamic: bool = False) -> dict[str, np.ndarray]:
    """The float reference for the gate: the same outputs as the serving signature, batched (``dynamic``:
    ``batch`` unpadded, and the one padding token a dynamic ServingModule appends is appended here too)."""
    if dynamic:
        batch = {k: np.pad(np.asarray(v), [(0, 0), (0, 1)]) for k, v in batch.items()}
    out = model(batch)
    if dynamic and task == "encoder":
        return {"sequence_output": out["sequence_output"].numpy()[:, :-1],
                "pooled_output": out["pooled_output"].numpy()}
    if task == "qa":
        return {"end_logits": out["end_logits"].numpy(), "start_logits": out["start_logits"].numpy()}
    if task == "classifier":
        return {"probability": tf.nn.softmax(out["logits"], axis=-1).numpy()}
    return {"sequence_output": out["sequence_output"].numpy(), "pooled_output": out["pooled_output"].numpy()}


def _unsupported_ops_from_error(message: str) -> list[str]:
    ops = set(re.findall(r"'tf\.([A-Za-z0-9_]+)'", message))
    ops |= set(re.findall(r"Flex([A-Z][A-Za-z0-9]+)", message))
    ops |= set(re.findall(r"tf\.([A-Z][A-Za-z0-9]+)\b", message))
    return sorted(ops)


def convert(module: ServingModule, quantize: str, representative=None, per_channel: bool = False) -> bytes:
    """The serving function -> TFLite flatbuffer with builtin ops only; ExportError names unsupported ops.

    Weights quantize per tensor unless ``per_channel``: per-channel scales come with an int64 zero point
    per output channel, 12 bytes a channel, +1.1 MB (dynamic) / +2.2 MB (int8) on full-size MobileBERT,
    which would break the 26 MB budget. Per tensor is also what Google's int8 MobileBERT used (TF1
    fake-quant) and what our QAT trains (DenseQuantizeConfig)."""
    if quantize not in QUANTIZE_MODES:
        raise ExportError(f"unknown quantization {quantize!r}; choose one of {', '.join(QUANTIZE_MODES)}")
    # from the concrete function directly: a SavedModel round trip would trace every Keras
    # sublayer for serialization, which takes minutes on a 24-layer model
    concrete = module.serve.get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], module)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    # no public switch exists for this; the attribute is read by TF 2.13 .. 2.21 (tested in test_export)
    converter._experimental_disable_per_channel = not per_channel
    if quantize == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantize == "int8-mixed":
        if representative is None:
            raise ExportError("int8-mixed export needs a representative dataset (calibration inputs)")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        return _checked(_quantize_mixed(converter, representative))
    elif quantize in ("int8", "qat"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if quantize == "int8" and representative is None:
            raise ExportError("int8 export needs a representative dataset (calibration inputs)")
        if representative is not None:
            # qat: ranges come from the fake-quant nodes; calibration fills the few tensors that
            # have none (e.g. the embedding sums before their norm)
            converter.representative_dataset = representative
    return _checked(_run_converter(converter, quantize))


def _conversion_error(quantize: str, e: Exception) -> ExportError:
    """A converter failure as one message naming the unsupported ops, not a stack of MLIR."""
    ops = _unsupported_ops_from_error(str(e))
    hint = f" unsupported ops: {', '.join(ops)}" if ops else ""
    return ExportError(f"TFLite conversion ({quantize}) failed with builtin ops only;{hint}\n{str(e)[-2000:]}")


def _run_converter(converter, quantize: str) -> bytes:
    try:
        return converter.convert()
    except Exception as e:  # ConverterError
        raise _conversion_error(quantize, e) from e


def _checked(data: bytes) -> bytes:
    flex = non_builtin_ops(data)
    if flex:
        raise ExportError(f"the converted model uses non-builtin ops: {', '.join(flex)}")
    return data


ATTENTION_FLOAT_OPS = ("BATCH_MATMUL", "SOFTMAX")


def attention_score_nodes(data: bytes) -> list[str]:
    """Output tensor names of the attention score arithmetic of a (calibrated, float) model: walking back
    from every SOFTMAX through element-wise ops and reshapes, up to the scores BATCH_MATMUL and, on the
    mask side, the input CAST. That is the scale, ``scores * m + (1 - m) * -6`` and the mask's reshape."""
    from tensorflow.lite.tools import flatbuffer_utils

    names = op_names(data)
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    sg = model.subgraphs[0]
    producer = {int(t): i for i, op in enumerate(sg.operators) for t in op.outputs}
    walk = {"MUL", "ADD", "SUB", "RESHAPE", "EXPAND_DIMS"}
    stack = [i for i, op in enumerate(sg.operators) if names[op.opcodeIndex] == "SOFTMAX"]
    seen, nodes = set(), []
    while stack:
        i = stack.pop()
        for t in sg.operators[i].inputs:
            j = producer.get(int(t))
            if j is None or j in seen or names[sg.operators[j].opcodeIndex] not in walk:
                continue
            seen.add(j)
            nodes.append(sg.tensors[sg.operators[j].outputs[0]].name.decode())
            stack.append(j)
    return nodes


def _quantize_mixed(converter, representative) -> bytes:
    """int8 everywhere except the attention score path (BATCH_MATMUL, scale and mask arithmetic, SOFTMAX),
    which stays float. XNNPACK has no int8 kernels for those: a full-integer model runs them on TFLite's
    reference kernels between ~75 delegate partitions (measured 3x slower than this on the host CPU).
    Selective quantization through the public QuantizationDebugger (calibrate, then quantize with a
    deny list)."""
    QuantizationDebugger = tf.lite.experimental.QuantizationDebugger  # noqa: N806 (public API names)
    QuantizationDebugOptions = tf.lite.experimental.QuantizationDebugOptions  # noqa: N806

    def dataset():
        for feed in representative():
            yield list(feed.values())

    ops = list(ATTENTION_FLOAT_OPS)
    try:
        debugger = QuantizationDebugger(converter=converter, debug_dataset=dataset,
                                        debug_options=QuantizationDebugOptions(denylisted_ops=ops))
        # the score arithmetic's node names exist only in the calibrated graph
        nodes = attention_score_nodes(debugger.calibrated_model)
        debugger.options = QuantizationDebugOptions(denylisted_ops=ops, denylisted_nodes=nodes)
        return debugger.get_nondebug_quantized_model()
    except Exception as e:
        raise _conversion_error("int8-mixed", e) from e


def short_tensor_name(name: bytes) -> bytes:
    """``model/encoder/layer_3/ffn/ffn_0/intermediate/Tensordot;model/encoder/.../Relu`` ->
    ``layer_3/ffn/ffn_0/intermediate/Tensordot``: the first of a fused op's names, without the model and
    encoder scopes. Full names are 0.2 to 0.3 MB of a full-size model; these still locate the layer."""
    first = name.split(b";", 1)[0]
    return re.sub(rb"^[^/]+/(encoder/)?", b"", first) or first


def rename_io(data: bytes) -> tuple[bytes, list[str], list[str]]:
    """Name the subgraph's input/output tensors after the signature keys (``serving_default_ids:0``
    -> ``ids``) and shorten the others (``short_tensor_name``). Returns the model and the input/output
    names in subgraph order."""
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
    descriptions = {"ids": "WordPiece ids of [CLS] query/text [SEP] (context [SEP]), padded with 0",
                    "mask": "1 for real tokens, 0 for padding", "segment_ids": "0 for the first segment, 1 for the second",
                    "end_logits": "end position logits", "start_logits": "start position logits",
                    "probability": "class probabilities", "sequence_output": "per-token features",
                    "pooled_output": "sentence feature ([CLS])"}
    outs = []
    for name in outputs:
        files = [md.AssociatedFile("labels.txt", "class labels", md.TENSOR_AXIS_LABELS)] \
            if name == "probability" and labels else []
        outs.append(md.TensorInfo(name, descriptions.get(name, ""), files))
    return md.ModelInfo(name=f"MobileBERT {task}", description=f"{description} (seq {seq_len}, quantization {quantize})",
                        version="1", author="mobilebert-tf", license="Apache-2.0",
                        inputs=[md.TensorInfo(n, descriptions[n]) for n in inputs], outputs=outs,
                        tokenizer_vocab="vocab.txt")


def run_tflite(interpreter, inputs: dict[str, np.ndarray], spec: SeqSpec | None = None) -> dict[str, np.ndarray]:
    """One inference through the serving signature (it resizes dynamic inputs to the given [1, n]).

    Args:
      interpreter: a LiteRT interpreter (``make_interpreter``).
      inputs: ``ids``, ``mask``, ``segment_ids`` int32 [1, n].
      spec: the model's ``seq_spec``; when given, an input that does not fit raises ExportError instead
        of a runtime failure deep in the interpreter.
    Returns:
      output name -> array.
    Example:
      ``run_tflite(make_interpreter(data), feed, seq_spec(data))["probability"]``
    """
    if spec is not None:
        spec.check(int(np.shape(inputs["ids"])[-1]))
    runner = interpreter.get_signature_runner("serving_default")
    return {k: np.asarray(v) for k, v in runner(**inputs).items()}


# The type most large constant tensors (weights) must have after each export mode.
EXPECTED_WEIGHT_TYPE = {"fp16": "FLOAT16", "dynamic": "INT8", "int8": "INT8", "int8-mixed": "INT8", "qat": "INT8"}


def weight_types(data: bytes, min_elements: int = 1024) -> dict[str, int]:
    """Elements of the large constant tensors (weights, >= ``min_elements``) of subgraph 0, by tensor type."""
    from tensorflow.lite.python import schema_py_generated as schema

    type_names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    model = schema.Model.GetRootAsModel(data, 0)
    sg = model.Subgraphs(0)
    out: dict[str, int] = {}
    for i in range(sg.TensorsLength()):
        t = sg.Tensors(i)
        buffer = model.Buffers(t.Buffer()) if t.Buffer() > 0 else None
        if buffer is None or (buffer.DataLength() == 0 and buffer.Size() == 0):
            continue  # not a constant
        n = int(np.prod(t.ShapeAsNumpy())) if t.ShapeLength() else 1
        if n >= min_elements:
            name = type_names.get(t.Type(), str(t.Type()))
            out[name] = out.get(name, 0) + n
    return out


def check_precision(data: bytes, quantize: str) -> dict[str, int]:
    """ExportError unless most weight elements of the converted model have the type ``quantize`` asks for
    (a float32 model must never pass for an int8 one, e.g. after a calibration that saw no examples).

    Returns:
        :func:`weight_types` of the model.

    Example:
        >>> check_precision(data, "int8")
        {'INT8': 24581120, 'INT32': 4096}
    """
    types = weight_types(data)
    expected = EXPECTED_WEIGHT_TYPE.get(quantize)
    total = sum(types.values())
    if expected is not None and total and types.get(expected, 0) < 0.5 * total:
        shown = ", ".join(f"{k} {v:,}" for k, v in sorted(types.items(), key=lambda kv: -kv[1]))
        raise ExportError(f"--quantize {quantize} produced a model whose weights are not {expected} "
                          f"(weight elements by type: {shown}); refusing to write it")
    return types


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write_bytes(path, data)


def export_tflite(model, task: str, out: str | os.PathLike, *, seq_len: int | None = None, quantize: str = "none",
                  tokenizer=None, vocab_file: str | None = None, labels: list[str] | None = None,
                  data_dir=None, calibration_file=None, calibration_examples: int = 100, gate_file=None,
                  gate_examples: int = 100, threshold: float | None = None, allow_accuracy_drop: bool = False,
                  with_metadata: bool = True, description: str = "MobileBERT", progress: bool = True,
                  per_channel: bool = False, glue_task: str | None = None) -> ExportedModel:
    """Convert ``model`` for ``task`` and write ``out``; run the accuracy gate and write
    ``<out>.report.json``. A model that fails the gate is written to ``<stem>.rejected.tflite``
    instead (and ExportError is raised) unless ``allow_accuracy_drop``. ``glue_task`` (the fine-tuned model's
    task, e.g. "rte"): calibrate and gate on that task's data instead of SST-2. The result must have the
    precision asked for (:func:`check_precision`), else ExportError."""
    from export import accuracy, task_data

    if task not in TASKS:
        raise ExportError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    dynamic = seq_len == DYNAMIC
    max_len = dynamic_max_len(model.config) if dynamic else model.config.max_position_embeddings
    if dynamic and task not in DYNAMIC_TASKS:
        raise ExportError(f"--seq-len dynamic is for {' and '.join(DYNAMIC_TASKS)} exports; a {task} export has a "
                          f"fixed length: TF Lite Task Library's BertQuestionAnswerer (tflite-support 0.4.4) fills "
                          f"a fixed 384-token window and fails on a [1, -1] input")
    seq_len = seq_len or DEFAULT_SEQ_LEN[task]
    if not dynamic and not 2 <= seq_len <= max_len:
        raise ExportError(f"--seq-len {seq_len} must be in [2, {max_len}] or 'dynamic'")
    if quantize == "qat" and not getattr(model, "qat", False):
        raise ExportError("--quantize qat needs a model trained with quantization-aware training "
                          "(`mobilebert finetune --qat`, or mobilebert_tf.qat.apply_qat); this one has no "
                          "fake-quant ranges. Use --quantize int8 for post-training quantization")
    if quantize != "qat" and getattr(model, "qat", False):
        raise ExportError(f"this model was trained with QAT; export it with --quantize qat, not {quantize}")
    if with_metadata and not vocab_file:
        raise ExportError("metadata needs the model's vocab.txt (pass --vocab, or --no-metadata)")
    if task == "classifier" and model.num_labels == 1:
        raise ExportError("this is a regression model (1 output, e.g. STS-B): the Task Library classifier contract "
                          "is a softmax 'probability' output, which would always read 1.0; regression export is "
                          "not supported yet (export --task encoder and apply the head yourself)")
    if task == "classifier":
        n_labels = model.num_labels
        labels = labels or [str(i) for i in range(n_labels)]
        if len(labels) != n_labels:
            raise ExportError(f"{len(labels)} label names for a model with {n_labels} outputs")

    # dynamic: examples are packed at max_len + 1 so that one too long shows (check_fits), run unpadded
    pack_len = max_len + 1 if dynamic else seq_len
    gate = task_data.gate_inputs(task, tokenizer, data_dir, gate_examples, pack_len, gate_file, glue_task=glue_task)
    if dynamic:  # before the (slow) conversion
        gate.check_fits(max_len)
    module = ServingModule(model, task, None if dynamic else seq_len, position_lookup=quantize == "dynamic")
    representative = None
    if quantize in CALIBRATED_MODES:
        # calibration (ranges only) may cut a long text at max_len; the gate may not
        calib = task_data.calibration_inputs(task, tokenizer, data_dir, calibration_examples,
                                             max_len if dynamic else seq_len, calibration_file, glue_task=glue_task)

        def representative():
            for i in range(len(calib)):  # dynamic: calibrated at the real lengths the model will see
                b = calib.own_length(i) if dynamic else calib.batch(i)
                yield {"ids": b["input_ids"], "mask": b["input_mask"], "segment_ids": b["segment_ids"]}

    data = convert(module, quantize, representative, per_channel=per_channel)
    check_precision(data, quantize)
    data, inputs, outputs = rename_io(data)
    if dynamic:
        data = with_max_seq_len(data, max_len)
    if with_metadata:
        files = {"vocab.txt": Path(vocab_file).read_bytes()}
        if task == "classifier":
            files["labels.txt"] = ("\n".join(labels) + "\n").encode()
        length = f"dynamic, at most {max_len} tokens" if dynamic else seq_len
        data = md.attach(data, model_info(task, quantize, inputs, outputs, length, labels, description), files)
    check_tflite_bytes(data, "exported model")

    report = accuracy.compare(model, data, task, gate, progress=progress, dynamic=dynamic)
    if dynamic:
        report["padded_reference"] = accuracy.padded_reference(model, task, gate, DEFAULT_SEQ_LEN[task])
    threshold = DEFAULT_THRESHOLD[quantize] if threshold is None else threshold
    report.update(quantize=quantize, task=task, seq_len=seq_len, max_seq_len=max_len if dynamic else seq_len,
                  threshold=threshold, size_bytes=len(data), passed=report["agreement"] >= threshold)
    if quantize in INT8_WEIGHT_MODES:
        report["weight_quantization"] = "per-channel" if per_channel else "per-tensor"
    out = Path(out)
    target = out if (report["passed"] or allow_accuracy_drop) else out.with_name(out.stem + ".rejected.tflite")
    report["model_file"] = str(target)
    write_atomic(target, data)
    write_atomic(str(out) + ".report.json", (json.dumps(report, indent=2) + "\n").encode())
    result = ExportedModel(str(target), task, quantize, seq_len, len(data), sorted(set(op_names(data))), labels,
                           report)
    if not report["passed"] and not allow_accuracy_drop:
        raise ExportError(f"accuracy gate failed: agreement {report['agreement']:.2%} < {threshold:.0%} on "
                          f"{report['examples']} examples ({gate.source}); model kept as {target}, report "
                          f"{out}.report.json (pass --allow-accuracy-drop to accept)")
    return result
