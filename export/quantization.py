"""Conversion to TFLite for each ``--quantize`` mode (docs/export.md, "Quantization modes"): the one home of
quantization.

- :data:`MODES`: the mode table, one :class:`QuantizeMode` per mode: converter settings, calibration,
  the weight precision the result must have and the accuracy gate's default threshold. ``none`` |
  ``fp16`` | ``dynamic`` | ``int8`` (full integer, calibrated on real task inputs) | ``int8-mixed``
  (int8 except the attention score path, for CPUs) | ``qat`` (ranges from quantization-aware training).
- :func:`convert`: a serving module -> flatbuffer with builtin ops only, in a mode.
- :func:`representative_dataset`: calibration inputs as the converter's representative dataset.
- :func:`attention_score_nodes` and the int8-mixed selection (float attention scores, int8 elsewhere).
- :func:`check_precision`: the converted model's weights really have the mode's type.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from mobilebert_tf.export import ExportError
from mobilebert_tf.export.serving import signature_feed
from mobilebert_tf.export.tflite_io import non_builtin_ops, op_names


@dataclass(frozen=True)
class QuantizeMode:
    """One ``--quantize`` mode: how the converter is set up and what the result must be.

    Args:
      name: the flag's value.
      optimize: ``tf.lite.Optimize.DEFAULT`` (any quantization).
      float16_weights: float16 weights (``target_spec.supported_types``).
      int8_builtins: ``TFLITE_BUILTINS_INT8``: every op must have an int8 kernel (full integer).
      calibrated: the export calibrates activation ranges on real task inputs (a representative dataset).
      calibration_required: conversion without a representative dataset is an error.
      float_attention: keep the attention score path float (selective quantization, int8-mixed).
      weight_type: the tensor type most weight elements must have afterwards (None: not checked).
      threshold: the accuracy gate's default minimum agreement.
    Example:
      ``MODES["int8"].calibration_required is True``
    """
    name: str
    optimize: bool = False
    float16_weights: bool = False
    int8_builtins: bool = False
    calibrated: bool = False
    calibration_required: bool = False
    float_attention: bool = False
    weight_type: str | None = None
    threshold: float = 0.99


MODES: dict[str, QuantizeMode] = {m.name: m for m in [
    QuantizeMode("none"),
    QuantizeMode("fp16", optimize=True, float16_weights=True, weight_type="FLOAT16"),
    QuantizeMode("dynamic", optimize=True, weight_type="INT8"),
    QuantizeMode("int8", optimize=True, int8_builtins=True, calibrated=True, calibration_required=True,
                 weight_type="INT8", threshold=0.97),
    QuantizeMode("int8-mixed", optimize=True, calibrated=True, calibration_required=True, float_attention=True,
                 weight_type="INT8", threshold=0.97),
    # qat: ranges come from the fake-quant nodes; calibration fills the few tensors that have none
    # (e.g. the embedding sums before their norm)
    QuantizeMode("qat", optimize=True, int8_builtins=True, calibrated=True, weight_type="INT8", threshold=0.97),
]}
QUANTIZE_MODES = tuple(MODES)
CALIBRATED_MODES = tuple(m.name for m in MODES.values() if m.calibrated)  # need a representative dataset
INT8_WEIGHT_MODES = tuple(m.name for m in MODES.values() if m.weight_type == "INT8")  # --per-channel applies
DEFAULT_THRESHOLD = {m.name: m.threshold for m in MODES.values()}
# The type most large constant tensors (weights) must have after each export mode.
EXPECTED_WEIGHT_TYPE = {m.name: m.weight_type for m in MODES.values() if m.weight_type}
ATTENTION_FLOAT_OPS = ("BATCH_MATMUL", "SOFTMAX")


def get_mode(quantize: str) -> QuantizeMode:
    """The table entry of ``quantize``.

    Args:
      quantize: a ``--quantize`` value.
    Returns:
      Its :class:`QuantizeMode`; ExportError naming the valid modes for anything else.
    Example:
      ``get_mode("dynamic").weight_type == "INT8"``
    """
    if quantize not in MODES:
        raise ExportError(f"unknown quantization {quantize!r}; choose one of {', '.join(QUANTIZE_MODES)}")
    return MODES[quantize]


def representative_dataset(inputs, own_length: bool = False):
    """Calibration examples as the converter's representative dataset.

    Args:
      inputs: an ``mobilebert_tf.export.task_data.TaskInputs``.
      own_length: yield each example at its own token count (dynamic exports, calibrated at the real
        lengths the model will see) instead of its padded row.
    Returns:
      A generator function yielding one signature feed (``ids``, ``mask``, ``segment_ids`` [1, n]) per example.
    Example:
      ``convert(module, "int8", representative_dataset(calibration_inputs(...)))``
    """
    def dataset():
        for i in range(len(inputs)):
            yield signature_feed(inputs.own_length(i) if own_length else inputs.batch(i))

    return dataset


def convert(module, quantize: str, representative=None, per_channel: bool = False) -> bytes:
    """The serving function -> TFLite flatbuffer with builtin ops only, in mode ``quantize``.

    Weights quantize per tensor unless ``per_channel``: per-channel scales come with an int64 zero point
    per output channel, 12 bytes a channel, +1.1 MB (dynamic) / +2.2 MB (int8) on full-size MobileBERT,
    which would break the 26 MB budget. Per tensor is also what Google's int8 MobileBERT used (TF1
    fake-quant) and what our QAT trains (DenseQuantizeConfig).

    Args:
      module: a ``tf.Module`` whose ``serve`` is a ``tf.function`` with an input signature
        (``mobilebert_tf.export.serving.ServingModule``).
      quantize: a mode of :data:`MODES`.
      representative: calibration inputs (:func:`representative_dataset`); required by int8 and int8-mixed,
        used by qat, ignored otherwise.
      per_channel: per-channel weight scales instead of per tensor.
    Returns:
      The .tflite bytes. ExportError names the unsupported ops when the graph needs a non-builtin op.
    Example:
      ``data = convert(ServingModule(model, "classifier", 128), "dynamic")``
    """
    mode = get_mode(quantize)
    if mode.calibration_required and representative is None:
        raise ExportError(f"{quantize} export needs a representative dataset (calibration inputs)")
    # from the concrete function directly: a SavedModel round trip would trace every Keras
    # sublayer for serialization, which takes minutes on a 24-layer model
    concrete = module.serve.get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], module)
    ops = tf.lite.OpsSet.TFLITE_BUILTINS_INT8 if mode.int8_builtins else tf.lite.OpsSet.TFLITE_BUILTINS
    converter.target_spec.supported_ops = [ops]
    # no public switch exists for this; the attribute is read by TF 2.13 .. 2.21 (tested in test_export)
    converter._experimental_disable_per_channel = not per_channel
    if mode.optimize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode.float16_weights:
        converter.target_spec.supported_types = [tf.float16]
    if mode.calibrated and representative is not None:
        converter.representative_dataset = representative
    if mode.float_attention:
        return _checked(_quantize_mixed(converter, representative))
    return _checked(_run_converter(converter, quantize))


def _unsupported_ops_from_error(message: str) -> list[str]:
    ops = set(re.findall(r"'tf\.([A-Za-z0-9_]+)'", message))
    ops |= set(re.findall(r"Flex([A-Z][A-Za-z0-9]+)", message))
    ops |= set(re.findall(r"tf\.([A-Z][A-Za-z0-9]+)\b", message))
    return sorted(ops)


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


def attention_score_nodes(data: bytes) -> list[str]:
    """The attention score arithmetic of a (calibrated, float) model, found by walking back from every
    SOFTMAX through element-wise ops and reshapes, up to the scores BATCH_MATMUL and, on the mask side,
    the input CAST. That is the scale, ``scores * m + (1 - m) * -6`` and the mask's reshape.

    Args:
      data: a .tflite flatbuffer (e.g. ``QuantizationDebugger.calibrated_model``).
    Returns:
      The output tensor names of those ops, the nodes int8-mixed keeps float.
    Example:
      ``attention_score_nodes(debugger.calibrated_model)``
    """
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


def weight_types(data: bytes, min_elements: int = 1024) -> dict[str, int]:
    """Elements of the large constant tensors (weights) of subgraph 0, by tensor type.

    Args:
      data: a .tflite flatbuffer.
      min_elements: smaller constants (biases, shapes, scales) are not counted.
    Returns:
      Tensor type name (``FLOAT32``, ``FLOAT16``, ``INT8`` ...) -> number of elements.
    Example:
      ``weight_types(data)`` -> ``{'INT8': 24581120, 'INT32': 4096}``
    """
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

    Args:
      data: the converted .tflite.
      quantize: the mode it was converted in.
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
