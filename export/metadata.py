"""TFLite model metadata in the tflite-support schema (``metadata_schema.fbs``, identifier ``M001``),
written and read with the ``flatbuffers`` runtime that TensorFlow already depends on.

Why not tflite-support: its last release (0.4.4) pins protobuf 3.20, which TF 2.21 cannot use,
and MediaPipe (which carries the schema now) pins absl-py 2.x against tfmot's 1.x. The metadata is
a small flatbuffer, so we build the few tables we need ourselves; field slots follow the schema
(see docs/export.md). Task Library's BertQuestionAnswerer / BertNLClassifier read:

- ``TFLITE_METADATA`` entry of the model pointing at a buffer holding a ``ModelMetadata``;
- per-tensor ``TensorMetadata.name`` (``ids``, ``mask``, ``segment_ids``, ``end_logits``,
  ``start_logits``, ``probability``) in the subgraph's tensor order;
- a subgraph input process unit ``BertTokenizerOptions`` with ``vocab.txt`` as associated file;
- for classifiers, a ``TENSOR_AXIS_LABELS`` labels file on the output tensor;
- associated files packed as a zip archive appended to the .tflite (the model stays loadable).
"""
from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field

import flatbuffers
from flatbuffers import number_types as N
from flatbuffers.table import Table

from mobilebert_tf.export import ExportError

METADATA_NAME = "TFLITE_METADATA"
FILE_IDENTIFIER = b"M001"
# BertTokenizerOptions came with metadata parser version 1.1.0 (the populator's computed minimum).
MIN_PARSER_VERSION = "1.1.0"

# enum AssociatedFileType : byte
DESCRIPTIONS, TENSOR_AXIS_LABELS, VOCABULARY = 1, 2, 5
# union ContentProperties / ProcessUnitOptions member indices (NONE = 0)
FEATURE_PROPERTIES = 1
BERT_TOKENIZER_OPTIONS = 4


@dataclass
class AssociatedFile:
    """A file packed with the model (``vocab.txt``, ``labels.txt``), as the metadata names it.

    Args:
      name: the file's name in the appended zip.
      description: what it is.
      type: ``AssociatedFileType`` (``TENSOR_AXIS_LABELS``, ``VOCABULARY``; 0 unknown).
    Example:
      ``AssociatedFile("labels.txt", "class labels", TENSOR_AXIS_LABELS)``
    """
    name: str
    description: str = ""
    type: int = 0


@dataclass
class TensorInfo:
    """One input or output tensor's metadata.

    Args:
      name: the tensor's name (the signature key: ``ids``, ``probability`` ...).
      description: what it holds.
      associated_files: files that describe it (a classifier's labels).
    Example:
      ``TensorInfo("mask", "1 for real tokens, 0 for padding")``
    """
    name: str
    description: str = ""
    associated_files: list[AssociatedFile] = field(default_factory=list)


@dataclass
class ModelInfo:
    """A model's ``ModelMetadata``: what the Task Library reads.

    Args:
      name: the model's name.
      description: what it is (length and quantization included).
      version: its version string.
      author: who made it.
      license: its license.
      inputs: input tensors, in the subgraph's order.
      outputs: output tensors, in the subgraph's order.
      tokenizer_vocab: the vocab associated file of a ``BertTokenizerOptions`` process unit, or None.
      min_parser_version: the oldest metadata parser that reads it.
    Example:
      ``attach(data, ModelInfo("MobileBERT qa", "...", "1", "me", "Apache-2.0", inputs, outputs, "vocab.txt"), files)``
    """
    name: str
    description: str
    version: str
    author: str
    license: str
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    tokenizer_vocab: str | None = None          # name of the vocab associated file, if any
    min_parser_version: str = MIN_PARSER_VERSION


# ------------------------------------------------------------------------------------------ writer
def _string(b: flatbuffers.Builder, s: str | None):
    return b.CreateString(s) if s else None


def _table(b: flatbuffers.Builder, n_slots: int, slots: dict):
    """Build a table. ``slots``: slot -> ("offset", uoffset) | ("int8", v); None values are skipped."""
    b.StartObject(n_slots)
    for slot, value in slots.items():
        if value is None:
            continue
        kind, v = value
        if kind == "offset":
            if v is not None:
                b.PrependUOffsetTRelativeSlot(slot, v, 0)
        elif kind == "int8":
            b.PrependInt8Slot(slot, v, 0)
        elif kind == "uint8":
            b.PrependUint8Slot(slot, v, 0)
    return b.EndObject()


def _vector(b: flatbuffers.Builder, offsets: list[int]):
    if not offsets:
        return None
    b.StartVector(4, len(offsets), 4)
    for off in reversed(offsets):
        b.PrependUOffsetTRelative(off)
    return b.EndVector()


def _associated_file(b, f: AssociatedFile):
    name, desc = _string(b, f.name), _string(b, f.description)
    # table AssociatedFile { name 0, description 1, type 2, locale 3, version 4 }
    return _table(b, 5, {0: ("offset", name), 1: ("offset", desc), 2: ("int8", f.type) if f.type else None})


def _tensor(b, t: TensorInfo):
    name, desc = _string(b, t.name), _string(b, t.description)
    files = _vector(b, [_associated_file(b, f) for f in t.associated_files])
    feature = _table(b, 0, {})  # FeatureProperties {}
    # table Content { content_properties_type 0, content_properties 1, range 2 }
    content = _table(b, 3, {0: ("uint8", FEATURE_PROPERTIES), 1: ("offset", feature)})
    # table TensorMetadata { name 0, description 1, dimension_names 2, content 3, process_units 4,
    #                        stats 5, associated_files 6 }
    return _table(b, 7, {0: ("offset", name), 1: ("offset", desc), 3: ("offset", content),
                         6: ("offset", files)})


def build_metadata(info: ModelInfo) -> bytes:
    """Serialize ``info`` as a ``ModelMetadata`` flatbuffer (file identifier ``M001``).

    Args:
      info: the metadata.
    Returns:
      The flatbuffer bytes (:func:`parse_metadata` reads them back).
    Example:
      ``parse_metadata(build_metadata(info)) == info``
    """
    b = flatbuffers.Builder(1024)
    inputs = _vector(b, [_tensor(b, t) for t in info.inputs])
    outputs = _vector(b, [_tensor(b, t) for t in info.outputs])
    process_units = None
    if info.tokenizer_vocab:
        vocab = _vector(b, [_associated_file(b, AssociatedFile(info.tokenizer_vocab, "WordPiece vocabulary",
                                                               VOCABULARY))])
        bert_options = _table(b, 1, {0: ("offset", vocab)})  # BertTokenizerOptions { vocab_file 0 }
        # table ProcessUnit { options_type 0, options 1 }
        unit = _table(b, 2, {0: ("uint8", BERT_TOKENIZER_OPTIONS), 1: ("offset", bert_options)})
        process_units = _vector(b, [unit])
    sg_name = _string(b, info.name)
    # table SubGraphMetadata { name 0, description 1, input_tensor_metadata 2, output_tensor_metadata 3,
    #   associated_files 4, input_process_units 5, output_process_units 6, ... }
    subgraph = _table(b, 10, {0: ("offset", sg_name), 2: ("offset", inputs), 3: ("offset", outputs),
                              5: ("offset", process_units)})
    subgraphs = _vector(b, [subgraph])
    strings = {k: _string(b, getattr(info, k)) for k in ("name", "description", "version", "author", "license",
                                                          "min_parser_version")}
    # table ModelMetadata { name 0, description 1, version 2, subgraph_metadata 3, author 4, license 5,
    #                       associated_files 6, min_parser_version 7 }
    root = _table(b, 8, {0: ("offset", strings["name"]), 1: ("offset", strings["description"]),
                         2: ("offset", strings["version"]), 3: ("offset", subgraphs),
                         4: ("offset", strings["author"]), 5: ("offset", strings["license"]),
                         7: ("offset", strings["min_parser_version"])})
    b.Finish(root, file_identifier=FILE_IDENTIFIER)
    return bytes(b.Output())


# ------------------------------------------------------------------------------------------ reader
class _Reader:
    def __init__(self, buf: bytes, pos: int):
        self.t = Table(buf, pos)

    def _off(self, slot):
        return self.t.Offset(4 + 2 * slot)

    def string(self, slot):
        o = self._off(slot)
        return self.t.String(o + self.t.Pos).decode("utf-8") if o else None

    def int8(self, slot):
        o = self._off(slot)
        return self.t.Get(N.Int8Flags, o + self.t.Pos) if o else 0

    def uint8(self, slot):
        o = self._off(slot)
        return self.t.Get(N.Uint8Flags, o + self.t.Pos) if o else 0

    def table(self, slot):
        o = self._off(slot)
        return _Reader(self.t.Bytes, self.t.Indirect(o + self.t.Pos)) if o else None

    def tables(self, slot):
        o = self._off(slot)
        if not o:
            return []
        start, n = self.t.Vector(o), self.t.VectorLen(o)
        return [_Reader(self.t.Bytes, self.t.Indirect(start + 4 * i)) for i in range(n)]


def _read_file(r: _Reader) -> AssociatedFile:
    return AssociatedFile(r.string(0) or "", r.string(1) or "", r.int8(2))


def parse_metadata(buf: bytes) -> ModelInfo:
    """Inverse of :func:`build_metadata` (reads the fields we write).

    Args:
      buf: a ``ModelMetadata`` flatbuffer.
    Returns:
      The ModelInfo; ValueError when ``buf`` lacks the ``M001`` identifier.
    Example:
      ``parse_metadata(build_metadata(info)).name``
    """
    if len(buf) < 8 or buf[4:8] != FILE_IDENTIFIER:
        raise ValueError("not a TFLite metadata flatbuffer (file identifier M001 missing)")
    root = _Reader(buf, flatbuffers.encode.Get(N.UOffsetTFlags.packer_type, buf, 0))
    sg = root.tables(3)[0]

    def tensors(slot):
        return [TensorInfo(t.string(0) or "", t.string(1) or "", [_read_file(f) for f in t.tables(6)])
                for t in sg.tables(slot)]

    vocab = None
    for unit in sg.tables(5):
        if unit.uint8(0) == BERT_TOKENIZER_OPTIONS:
            files = unit.table(1).tables(0)
            vocab = _read_file(files[0]).name if files else None
    return ModelInfo(name=root.string(0) or "", description=root.string(1) or "", version=root.string(2) or "",
                     author=root.string(4) or "", license=root.string(5) or "", inputs=tensors(2),
                     outputs=tensors(3), tokenizer_vocab=vocab, min_parser_version=root.string(7) or "")


# ------------------------------------------------------------------------------ model file surgery
def attach(model_bytes: bytes, info: ModelInfo, files: dict[str, bytes]) -> bytes:
    """Return the model with ``info`` as ``TFLITE_METADATA`` and ``files`` zipped after it.

    Args:
      model_bytes: a .tflite flatbuffer (an earlier ``TFLITE_METADATA`` entry is replaced).
      info: the metadata.
      files: associated files, name -> content, stored uncompressed after the flatbuffer.
    Returns:
      The model bytes, still loadable by any TFLite interpreter.
    Example:
      ``attach(data, info, {"vocab.txt": Path("vocab.txt").read_bytes()})``
    """
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(model_bytes))
    model.metadata = [m for m in (model.metadata or []) if m.name.decode() != METADATA_NAME] \
        if model.metadata else []
    buffer = schema.BufferT()
    buffer.data = list(build_metadata(info))
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = METADATA_NAME.encode()
    entry.buffer = len(model.buffers) - 1
    model.metadata.append(entry)
    out = io.BytesIO(flatbuffer_utils.convert_object_to_bytearray(model))
    if files:
        # Opening a non-zip stream in append mode writes a zip archive after the existing bytes; the
        # flatbuffer is untouched, and Task Library finds associated files in that archive.
        with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_STORED) as zf:
            for name, data in files.items():
                zf.writestr(name, data)
    return out.getvalue()


def read(model_bytes: bytes, source: str = "model") -> tuple[ModelInfo | None, dict[str, bytes]]:
    """Metadata and associated files of a .tflite (``(None, {})`` when it has none).

    Raises ExportError naming ``source`` when the metadata flatbuffer or the appended zip of associated files
    is damaged (these bytes come from a file on disk: any parse failure is the file's, not ours).

    Args:
      model_bytes: the .tflite content.
      source: what to name in messages (a path).
    Returns:
      (ModelInfo or None, associated files name -> bytes).
    Example:
      ``info, files = read(read_tflite("m.tflite")); files["vocab.txt"]``
    """
    from tensorflow.lite.python import schema_py_generated as schema

    try:
        model = schema.Model.GetRootAsModel(model_bytes, 0)
        info = None
        for i in range(model.MetadataLength()):
            m = model.Metadata(i)
            if m.Name().decode() == METADATA_NAME:
                info = parse_metadata(model.Buffers(m.Buffer()).DataAsNumpy().tobytes())
    except Exception as e:  # struct/Index/Unicode/Attribute errors of a damaged flatbuffer
        raise ExportError(f"{source}: damaged TFLite metadata ({type(e).__name__}: {e})") from e
    files = {}
    try:
        if zipfile.is_zipfile(io.BytesIO(model_bytes)):
            with zipfile.ZipFile(io.BytesIO(model_bytes)) as zf:
                files = {n: zf.read(n) for n in zf.namelist()}
    except Exception as e:  # BadZipFile, zlib.error, EOFError, NotImplementedError (unknown compression), ...
        raise ExportError(f"{source}: damaged associated-files zip in the .tflite ({type(e).__name__}: {e})") from e
    return info, files
