"""Reading and running .tflite files: a clear ExportError for anything that is not a readable model, the
input length contract (``seq_spec``), one inference through the serving signature (``run_tflite``) and the
operator inventory (``op_names``, ``non_builtin_ops``, ``float_ops``). See docs/export.md."""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from mobilebert_tf.export import ExportError

TFLITE_IDENTIFIER = b"TFL3"
# A model-level metadata entry of dynamic-length exports (next to TFLITE_METADATA, which stays the Task
# Library's): the longest input, in tokens, that the position table covers, as ASCII digits.
MAX_SEQ_LEN_ENTRY = "mobilebert_max_seq_len"


@dataclass(frozen=True)
class SeqSpec:
    """The input length contract of an export: fixed ``[1, max_len]``, or dynamic ``[1, -1]`` up to
    ``max_len`` tokens (None when a dynamic model does not record it).

    Args:
      dynamic: the inputs are ``[1, -1]``.
      max_len: the fixed length, or a dynamic model's longest input.
    Example:
      ``seq_spec(data) == SeqSpec(dynamic=True, max_len=511)``
    """
    dynamic: bool
    max_len: int | None

    def check(self, n: int, source: str = "input") -> None:
        """Raise ExportError unless an input of ``n`` tokens fits (dynamic: 1..max_len; fixed: max_len).

        Args:
          n: the input's token count (including [CLS]/[SEP]).
          source: what to name in the message.
        Example:
          ``seq_spec(data).check(len(ids))``
        """
        if self.dynamic and n < 1:
            raise ExportError(f"{source}: empty input (0 tokens)")
        if self.dynamic and self.max_len is not None and n > self.max_len:
            raise ExportError(f"{source}: {n} tokens, longer than this model's maximum of {self.max_len} "
                              f"(its position table); shorten or split the text")
        if not self.dynamic and n != self.max_len:
            raise ExportError(f"{source}: {n} tokens, but this fixed-length model takes exactly {self.max_len} "
                              f"(pad with mask 0)")


def read_tflite(path: str | os.PathLike) -> bytes:
    """The bytes of a .tflite file, checked (:func:`check_tflite_bytes`).

    Args:
      path: the file.
    Returns:
      Its content; ExportError when it is missing, not a TFLite model, or damaged.
    Example:
      ``data = read_tflite("sst2_int8.tflite")``
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ExportError(f"TFLite model not found: {path}")
    data = open(path, "rb").read()
    check_tflite_bytes(data, path)
    return data


def check_tflite_bytes(data: bytes, source: str = "model") -> None:
    """Raise ExportError unless ``data`` is a complete TFLite flatbuffer the interpreter accepts.

    Args:
      data: the model bytes.
      source: what to name in the message (a path).
    Example:
      ``check_tflite_bytes(data, "exported model")``
    """
    if len(data) < 8 or data[4:8] != TFLITE_IDENTIFIER:
        raise ExportError(f"{source}: not a TFLite model (missing the TFL3 identifier; empty or wrong file?)")
    try:
        make_interpreter(data)
    except ExportError:
        raise
    except Exception as e:  # the interpreter raises ValueError/RuntimeError with C++ messages
        raise ExportError(f"{source}: corrupt or truncated TFLite model ({len(data)} bytes): "
                          f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from e


def make_interpreter(data: bytes, num_threads: int | None = None):
    """A LiteRT interpreter for ``data``, tensors allocated.

    Args:
      data: the model bytes.
      num_threads: CPU threads (None: LiteRT's default).
    Returns:
      ``ai_edge_litert.interpreter.Interpreter``.
    Example:
      ``run_tflite(make_interpreter(data), feed)``
    """
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=data, num_threads=num_threads)
    interpreter.allocate_tensors()
    return interpreter


def with_max_seq_len(data: bytes, max_len: int) -> bytes:
    """The flatbuffer ``data`` with the ``MAX_SEQ_LEN_ENTRY`` metadata entry set to ``max_len``.

    Args:
      data: a .tflite flatbuffer without appended files (call before ``mobilebert_tf.export.metadata.attach``).
      max_len: the longest input in tokens.
    Returns:
      The rewritten model.
    Example:
      ``data = with_max_seq_len(data, 512)``
    """
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    model.metadata = [m for m in (model.metadata or []) if m.name.decode() != MAX_SEQ_LEN_ENTRY]
    buffer = schema.BufferT()
    buffer.data = list(str(int(max_len)).encode())
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = MAX_SEQ_LEN_ENTRY.encode()
    entry.buffer = len(model.buffers) - 1
    model.metadata.append(entry)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def seq_spec(data: bytes) -> SeqSpec:
    """The input length contract of an exported model, from the ``ids`` input's shape signature and, for
    dynamic models, the ``MAX_SEQ_LEN_ENTRY`` metadata entry.

    Args:
      data: a .tflite model (``read_tflite``).
    Returns:
      SeqSpec(dynamic, max_len).
    Example:
      ``seq_spec(read_tflite("m.tflite"))`` -> ``SeqSpec(dynamic=True, max_len=512)``
    """
    from tensorflow.lite.python import schema_py_generated as schema

    details = make_interpreter(data).get_signature_runner("serving_default").get_input_details()
    if "ids" not in details:
        raise ExportError(f"model has no 'ids' input (inputs: {sorted(details)})")
    signature = [int(x) for x in details["ids"]["shape_signature"]]
    if len(signature) != 2:
        raise ExportError(f"input 'ids' must be [1, seq], got shape {signature}")
    if signature[1] != -1:
        return SeqSpec(False, signature[1])
    model = schema.Model.GetRootAsModel(data, 0)
    for i in range(model.MetadataLength()):
        m = model.Metadata(i)
        if m.Name().decode() == MAX_SEQ_LEN_ENTRY:
            return SeqSpec(True, int(model.Buffers(m.Buffer()).DataAsNumpy().tobytes().decode()))
    return SeqSpec(True, None)


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


def op_names(data: bytes) -> list[str]:
    """The model's operator codes (each distinct op type once), builtins by their enum name, custom ops by
    their custom code.

    Args:
      data: the model bytes.
    Returns:
      Names in operator-code order (an op's ``opcode_index`` indexes this list).
    Example:
      ``"SOFTMAX" in op_names(data)``
    """
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(data, 0)
    builtin = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    names = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        op = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if op == schema.BuiltinOperator.CUSTOM:
            names.append((code.CustomCode() or b"CUSTOM").decode())
        else:
            names.append(builtin.get(op, f"BUILTIN_{op}"))
    return names


def op_counts(data: bytes) -> dict[str, int]:
    """How many operators of each type subgraph 0 runs.

    Args:
      data: the model bytes.
    Returns:
      Op name -> count.
    Example:
      ``op_counts(data)["FULLY_CONNECTED"]``
    """
    from collections import Counter

    from tensorflow.lite.python import schema_py_generated as schema

    codes = op_names(data)
    sg = schema.Model.GetRootAsModel(data, 0).Subgraphs(0)
    return dict(Counter(codes[sg.Operators(i).OpcodeIndex()] for i in range(sg.OperatorsLength())))


def non_builtin_ops(data: bytes) -> list[str]:
    """Custom and Flex (SELECT_TF_OPS) operators: phones without the Flex delegate cannot run them.

    Args:
      data: the model bytes.
    Returns:
      Their names, sorted (empty for a builtin-only model).
    Example:
      ``assert not non_builtin_ops(data)``
    """
    from tensorflow.lite.python import schema_py_generated as schema

    builtin = set(k for k in vars(schema.BuiltinOperator) if not k.startswith("_")) - {"CUSTOM"}
    return sorted({n for n in op_names(data) if n not in builtin})


def float_ops(data: bytes) -> list[str]:
    """Operators of subgraph 0 that compute in float32 (an input tensor is FLOAT32), by name; in a
    full-integer model only the boundary should remain (mask Cast, Quantize/Dequantize).

    Args:
      data: the model bytes.
    Returns:
      One name per float operator, in execution order.
    Example:
      ``float_ops(int8_data) == ["QUANTIZE"]``
    """
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(data, 0)
    codes = op_names(data)
    sg = model.Subgraphs(0)
    out = []
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        types = [sg.Tensors(t).Type() for t in op.InputsAsNumpy() if t >= 0]
        if schema.TensorType.FLOAT32 in types:
            out.append(codes[op.OpcodeIndex()])
    return out
