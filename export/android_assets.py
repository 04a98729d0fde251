"""Copy an exported .tflite into the Android demo's assets and record it in ``models.json``.

``mobilebert export ... --android-assets android_demo/app/src/main/assets`` calls ``check_manifest``
before the (slow) export and ``install`` after it. The app reads only the manifest: which file, which
task, its sequence length, its tensors (names, dtypes, shapes, in model order), class labels,
quantization and whether the Task Library can run it. Every fact is read back from the written
.tflite (interpreter + metadata), not from what the exporter was asked to do.

A dynamic-length classifier (``--seq-len dynamic``, inputs ``[1, -1]``) is installed together with a
fixed-length export of the same model, its fallback for runtimes that cannot resize inputs (LiteRT.js
2.5.3, or a device whose delegate fails on it): the dynamic entry carries ``"dynamic": {"max_seq_len":
511, "fallback": "<fixed file>"}`` (``seq_len`` is the maximum, the inputs' shape ``[1, -1]``) and the fixed
one ``"fallback_for": "<dynamic file>"``. Apps try the dynamic model first, at each text's own length.

Manifest layout (``SCHEMA_VERSION`` 1; docs/android.md has the field table)::

    {"schema_version": 1, "models": [{"file": "mobilebert_squad_float.tflite", "task": "qa", ...}]}

Updates are idempotent (an entry is keyed by ``file``; re-exporting replaces it in place, and the same
export twice writes the same bytes) and atomic (read-modify-write under an exclusive lock, written to a
temporary file and renamed, so a reader or a crash never sees half a manifest). A manifest that is not
valid JSON, or not of this layout, is an ExportError naming the file and the problem; it is never
overwritten.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from mobilebert_tf.export import ExportError
from mobilebert_tf.fileio import atomic_copy, atomic_write_bytes

MANIFEST_NAME = "models.json"
SCHEMA_VERSION = 1
# BertQuestionAnswerer pads every input to this length (kMaxSeqLen, fixed in the C++ library); a QA
# model of another length runs through the app's own Interpreter path instead.
TASK_LIBRARY_QA_SEQ_LEN = 384
TASK_LIBRARY_API = {"qa": "BertQuestionAnswerer", "classifier": "BertNLClassifier"}
APP_TASKS = ("qa", "classifier")
DTYPES = {"int32": "int32", "float32": "float32", "int8": "int8", "uint8": "uint8", "int64": "int64"}
# Fields an export writes that describe the contract (the rest: size, hash, gate, description).
CONTRACT_FIELDS = ("file", "task", "quantization", "seq_len", "inputs", "outputs", "labels", "tokenizer",
                   "task_library")
# Dynamic-length models are installed with a fixed fallback of this length (the app's classifier length),
# written next to the dynamic .tflite as <stem>_fixed128.tflite.
FALLBACK_SEQ_LEN = 128
DYNAMIC_APP_TASKS = ("classifier",)


# --------------------------------------------------------------------------------------- manifest IO
def manifest_path(assets_dir: str | os.PathLike) -> Path:
    return Path(assets_dir) / MANIFEST_NAME


def empty_manifest() -> dict:
    return {"schema_version": SCHEMA_VERSION, "models": []}


def parse_manifest(text: str, source: str = MANIFEST_NAME) -> dict:
    """Parse and validate the manifest layout; ExportError names ``source`` and what is wrong."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ExportError(f"{source}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}); fix it "
                          f"or delete it (the next export writes a new one)") from None
    if not isinstance(data, dict):
        raise ExportError(f"{source}: top level must be an object with a 'models' list, got "
                          f"{type(data).__name__}")
    version = data.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise ExportError(f"{source}: schema_version {version!r} is not supported (expected {SCHEMA_VERSION})")
    models = data.get("models", [])
    if not isinstance(models, list):
        raise ExportError(f"{source}: 'models' must be a list, got {type(models).__name__}")
    seen = set()
    for i, entry in enumerate(models):
        if not isinstance(entry, dict):
            raise ExportError(f"{source}: models[{i}] must be an object, got {type(entry).__name__}")
        file = entry.get("file")
        if not isinstance(file, str) or not file:
            raise ExportError(f"{source}: models[{i}].file must be a non-empty string")
        if file in seen:
            raise ExportError(f"{source}: models[{i}].file {file!r} is listed twice")
        seen.add(file)
    return {**data, "schema_version": SCHEMA_VERSION, "models": models}


def load_manifest(assets_dir: str | os.PathLike) -> dict:
    """The manifest in ``assets_dir`` (an empty one when the file does not exist yet)."""
    path = manifest_path(assets_dir)
    if not path.exists():
        return empty_manifest()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ExportError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    return parse_manifest(text, str(path))


def check_manifest(assets_dir: str | os.PathLike, with_metadata: bool = True) -> None:
    """Fail before a long export when ``--android-assets`` cannot be updated."""
    if not with_metadata:
        raise ExportError("--android-assets needs the Task Library metadata (the app reads the vocab and labels "
                          "packed in the model); drop --no-metadata")
    assets_dir = Path(assets_dir)
    if assets_dir.exists() and not assets_dir.is_dir():
        raise ExportError(f"--android-assets {assets_dir}: exists and is not a directory")
    load_manifest(assets_dir)


def check_task(task: str, dynamic: bool = False) -> None:
    """ExportError unless the apps run ``task`` models (``dynamic``: at their own length, with a fallback)."""
    if task not in APP_TASKS:
        raise ExportError(f"--android-assets: the Android demo runs {' and '.join(APP_TASKS)} models, not {task!r}")
    if dynamic and task not in DYNAMIC_APP_TASKS:
        raise ExportError(f"--android-assets/--web-assets: dynamic-length {task} models are not used by the apps; "
                          f"export with --seq-len N")


def fallback_path(out: str | os.PathLike, seq_len: int = FALLBACK_SEQ_LEN) -> Path:
    """Where the fixed fallback of the dynamic export ``out`` is written: ``<stem>_fixed<seq_len>.tflite``.

    Args:
        out: the dynamic export's .tflite path.
        seq_len: the fallback's fixed length.

    Returns:
        The fallback's path, in the same folder.

    Example:
        >>> fallback_path("runs/sst2_int8.tflite").name
        'sst2_int8_fixed128.tflite'
    """
    out = Path(out)
    return out.with_name(f"{out.stem}_fixed{int(seq_len)}{out.suffix or '.tflite'}")


def dumps(manifest: dict) -> str:
    return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"


@contextlib.contextmanager
def _locked(assets_dir: Path):
    """Exclusive lock for a read-modify-write of the manifest (two exports into one assets folder)."""
    lock_path = assets_dir / f".{MANIFEST_NAME}.lock"
    with open(lock_path, "a+") as lock:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; the rename below is still atomic
            yield
            return
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def update_manifest(assets_dir: str | os.PathLike, entry: dict, *more: dict) -> dict:
    """Insert ``entry`` (and ``more`` entries, in one atomic write), each keyed by its ``file``, or replace
    the entry of the same file in place. Returns the manifest written."""
    assets_dir = Path(assets_dir)
    assets_dir.mkdir(parents=True, exist_ok=True)
    with _locked(assets_dir):
        manifest = load_manifest(assets_dir)
        models = list(manifest["models"])
        for new in (entry, *more):
            index = next((i for i, m in enumerate(models) if m.get("file") == new["file"]), None)
            if index is None:
                models.append(new)
            else:
                models[index] = new
        manifest = {**manifest, "models": models}
        atomic_write_bytes(manifest_path(assets_dir), dumps(manifest).encode("utf-8"))
    return manifest


# ------------------------------------------------------------------------------------ entry from model
def _tensor_specs(details) -> list[dict]:
    """Name, dtype and shape signature ([1, -1] for a dynamic length) of each tensor, in model order."""
    specs = []
    for d in details:
        dtype = getattr(d["dtype"], "__name__", str(d["dtype"]))
        shape = d.get("shape_signature", d["shape"])
        specs.append({"name": d["name"], "dtype": DTYPES.get(dtype, dtype), "shape": [int(x) for x in shape]})
    return specs


def describe_model(data: bytes, file: str, quantization: str) -> dict:
    """The manifest entry of the .tflite ``data``: read from the model itself (tensors from the
    interpreter, vocab and labels from the metadata), so the manifest cannot drift from the file."""
    from mobilebert_tf.export import metadata as md
    from mobilebert_tf.export.tflite_io import check_tflite_bytes, make_interpreter, seq_spec

    check_tflite_bytes(data, file)
    interpreter = make_interpreter(data)
    spec = seq_spec(data)
    inputs = _tensor_specs(interpreter.get_input_details())
    outputs = _tensor_specs(interpreter.get_output_details())
    out_names = sorted(o["name"] for o in outputs)
    if out_names == ["end_logits", "start_logits"]:
        task = "qa"
    elif out_names == ["probability"]:
        task = "classifier"
    else:
        raise ExportError(f"{file}: outputs {out_names} are neither a QA model (end_logits, start_logits) nor a "
                          f"classifier (probability); the Android demo runs only these two tasks")
    in_names = sorted(i["name"] for i in inputs)
    if in_names != ["ids", "mask", "segment_ids"]:
        raise ExportError(f"{file}: inputs {in_names} are not the Task Library's ids, mask, segment_ids")
    seq_lens = {tuple(i["shape"]) for i in inputs}
    if len(seq_lens) != 1 or len(next(iter(seq_lens))) != 2 or next(iter(seq_lens))[0] != 1:
        raise ExportError(f"{file}: inputs must all be [1, seq], got {[i['shape'] for i in inputs]}")
    seq_len = int(next(iter(seq_lens))[1])
    if spec.dynamic:
        check_task(task, dynamic=True)
        if spec.max_len is None:
            raise ExportError(f"{file}: a dynamic-length model without its maximum length in the metadata "
                              f"(re-export it with --seq-len dynamic)")
        seq_len = spec.max_len

    info, files = md.read(data)
    if info is None or not info.tokenizer_vocab or info.tokenizer_vocab not in files:
        raise ExportError(f"{file}: no Task Library metadata with a vocab file (exported with --no-metadata?); "
                          f"the app tokenizes with the vocab packed in the model")
    vocab = files[info.tokenizer_vocab].decode("utf-8").splitlines()
    labels: list[str] = []
    if task == "classifier":
        label_file = next((f.name for t in info.outputs for f in t.associated_files
                           if f.type == md.TENSOR_AXIS_LABELS), None)
        labels = files[label_file].decode("utf-8").splitlines() if label_file in files else []
        n = outputs[0]["shape"][-1]
        if len(labels) != n:
            raise ExportError(f"{file}: {len(labels)} labels in the metadata for {n} class probabilities")
    if task == "qa":
        compatible = seq_len == TASK_LIBRARY_QA_SEQ_LEN
        note = "" if compatible else (f"BertQuestionAnswerer pads inputs to {TASK_LIBRARY_QA_SEQ_LEN} tokens; this "
                                      f"seq {seq_len} model runs through the app's Interpreter path")
    else:
        compatible, note = True, ""
    return {
        "file": file,
        "task": task,
        "quantization": quantization,
        "seq_len": seq_len,
        "inputs": inputs,
        "outputs": outputs,
        "labels": labels,
        "tokenizer": {"type": "bert_wordpiece", "vocab_file": info.tokenizer_vocab, "vocab_size": len(vocab),
                      "lowercase": True},
        "task_library": {"api": TASK_LIBRARY_API[task], "compatible": compatible, "note": note},
        "description": info.description,
        "size_bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def _entry_and_copy(result, assets_dir: Path) -> dict:
    """The manifest entry of ``result`` (an ``ExportedModel``), after copying its file into ``assets_dir``."""
    from mobilebert_tf.export.tflite_io import read_tflite

    src = Path(result.path)
    data = read_tflite(src)
    entry = describe_model(data, src.name, result.quantize)
    report = getattr(result, "report", None) or {}
    if "agreement" in report:
        entry["accuracy_gate"] = {k: report[k] for k in ("agreement", "threshold", "examples", "passed")
                                  if k in report}
    assets_dir.mkdir(parents=True, exist_ok=True)
    dst = assets_dir / src.name
    if not (dst.exists() and os.path.samefile(src, dst)):
        atomic_copy(src, dst)
    return entry


def _pair(dynamic: dict, fixed: dict) -> None:
    """Link a dynamic entry to its fixed fallback (same task, labels and quantization), in place."""
    if fixed["inputs"][0]["shape"][-1] == -1:
        raise ExportError(f"{fixed['file']}: the fallback must be a fixed-length export, not a dynamic one")
    for key in ("task", "quantization", "labels"):
        if dynamic[key] != fixed[key]:
            raise ExportError(f"{fixed['file']}: not a fallback of {dynamic['file']} ({key} {fixed[key]!r} vs "
                              f"{dynamic[key]!r})")
    if fixed["file"] == dynamic["file"]:
        raise ExportError(f"{fixed['file']}: the fallback needs its own file name")
    dynamic["dynamic"] = {"max_seq_len": dynamic["seq_len"], "fallback": fixed["file"]}
    fixed["fallback_for"] = dynamic["file"]


def install(result, assets_dir: str | os.PathLike, fallback=None) -> dict:
    """Copy ``result.path`` (an ``ExportedModel``) into ``assets_dir`` and record it in the manifest.

    Args:
        result: the export (``path``, ``quantize``, ``report``).
        assets_dir: the Android (or web) assets folder holding ``models.json``.
        fallback: for a dynamic-length classifier (``--seq-len dynamic``), the fixed-length export of the same
            model (e.g. written to :func:`fallback_path`): both are copied and linked in one manifest update,
            the app runs the fixed one where the dynamic one cannot run. Required for dynamic models.

    Returns:
        The manifest entry of ``result``.

    Example:
        >>> dyn = export_tflite(model, "classifier", "m.tflite", seq_len="dynamic", ...)  # doctest: +SKIP
        >>> fixed = export_tflite(model, "classifier", fallback_path("m.tflite"), seq_len=128, ...)  # doctest: +SKIP
        >>> install(dyn, "android_demo/app/src/main/assets", fallback=fixed)["dynamic"]  # doctest: +SKIP
        {'max_seq_len': 511, 'fallback': 'm_fixed128.tflite'}
    """
    from mobilebert_tf.export.tflite_io import read_tflite, seq_spec

    assets_dir = Path(assets_dir)
    check_manifest(assets_dir)
    name = Path(result.path).name
    dynamic = seq_spec(read_tflite(result.path)).dynamic
    if not dynamic and fallback is not None:
        raise ExportError(f"{name} is a fixed-length model: it needs no fallback")
    if dynamic and fallback is None:
        raise ExportError(f"{name} is a dynamic-length model: install it with its fixed-length fallback "
                          f"(runtimes that cannot resize inputs, e.g. LiteRT.js, run that one)")
    entry = _entry_and_copy(result, assets_dir)
    if not dynamic:
        update_manifest(assets_dir, entry)
        return entry
    fixed = _entry_and_copy(fallback, assets_dir)
    _pair(entry, fixed)
    update_manifest(assets_dir, fixed, entry)
    return entry


def contract_view(entry: dict) -> dict:
    """The fields of an entry that the app relies on (what a committed manifest pins)."""
    view = {k: entry.get(k) for k in CONTRACT_FIELDS}
    # tensor order is the model's; the Task Library and the app find tensors by name
    for key in ("inputs", "outputs"):
        view[key] = sorted(view[key] or [], key=lambda t: t["name"])
    return view
