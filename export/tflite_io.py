"""Reading .tflite files: a clear error for anything that is not a readable model."""
from __future__ import annotations

import os

from export import ExportError

TFLITE_IDENTIFIER = b"TFL3"


def read_tflite(path: str | os.PathLike) -> bytes:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ExportError(f"TFLite model not found: {path}")
    data = open(path, "rb").read()
    check_tflite_bytes(data, path)
    return data


def check_tflite_bytes(data: bytes, source: str = "model") -> None:
    """Raise ExportError unless ``data`` is a complete TFLite flatbuffer the interpreter accepts."""
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
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=data, num_threads=num_threads)
    interpreter.allocate_tensors()
    return interpreter


def op_names(data: bytes) -> list[str]:
    """The model's operator codes (each distinct op type once), builtins by their enum name, custom ops by
    their custom code."""
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
    """How many operators of each type subgraph 0 runs."""
    from collections import Counter

    from tensorflow.lite.python import schema_py_generated as schema

    codes = op_names(data)
    sg = schema.Model.GetRootAsModel(data, 0).Subgraphs(0)
    return dict(Counter(codes[sg.Operators(i).OpcodeIndex()] for i in range(sg.OperatorsLength())))


def non_builtin_ops(data: bytes) -> list[str]:
    """Custom and Flex (SELECT_TF_OPS) operators: phones without the Flex delegate cannot run them."""
    from tensorflow.lite.python import schema_py_generated as schema

    builtin = set(k for k in vars(schema.BuiltinOperator) if not k.startswith("_")) - {"CUSTOM"}
    return sorted({n for n in op_names(data) if n not in builtin})


def float_ops(data: bytes) -> list[str]:
    """Operators of subgraph 0 that compute in float32 (an input tensor is FLOAT32), by name; in a
    full-integer model only the boundary should remain (mask Cast, Quantize/Dequantize)."""
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
