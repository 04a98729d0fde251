"""Property tests of the readers (issue 14): on any input each one parses or raises our error type (a
MobileBertError subclass naming the problem), never anything else. Seeded (derandomize) and small, so the
whole file stays well under a minute."""
from __future__ import annotations

import json
import string

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mobilebert_tf.export import ExportError
from mobilebert_tf.export import metadata as md
from mobilebert_tf.config import ConfigError, MobileBertConfig
from mobilebert_tf.data import DataError, squad
from mobilebert_tf.data.glue import read_glue
from mobilebert_tf.tokenization import BertTokenizer, TokenizerError
from conftest import VOCAB

FAST = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# any code point, lone surrogates included (they reach us from JSON "\ud800" escapes)
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
JSON = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False) | ANY_TEXT,
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
                    max_leaves=12)


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer(VOCAB)


@FAST
@given(texts=st.lists(ANY_TEXT, min_size=1, max_size=4))
def test_tokenizer_on_random_unicode(tokenizer, texts):
    try:
        batch = tokenizer.encode(texts)
    except TokenizerError as e:
        assert any(not _utf8_ok(t) for t in texts), e  # only lone surrogates are refused
        return
    assert batch == [tokenizer.encode([t])[0] for t in texts]  # batch = one by one
    assert all(0 <= i < tokenizer.vocab_size for ids in batch for i in ids)


def _utf8_ok(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


CELL = st.text(st.characters(codec="utf-8", exclude_characters="\t\n\r"), max_size=12)


@FAST
@given(header=st.lists(st.sampled_from(["index", "sentence1", "sentence2", "label", "x"]) | CELL, max_size=5),
       rows=st.lists(st.lists(CELL | st.sampled_from(["entailment", "not_entailment", "0"]), max_size=5), max_size=4),
       raw=st.binary(max_size=60), use_raw=st.booleans())
def test_glue_tsv_reader(tmp_path_factory, header, rows, raw, use_raw):
    path = tmp_path_factory.mktemp("glue") / "train.tsv"
    if use_raw:
        path.write_bytes(raw)
    else:
        path.write_text("\n".join("\t".join(r) for r in [header] + rows) + "\n", encoding="utf-8")
    try:
        examples = read_glue("rte", path, "train")
    except DataError:
        return
    assert all(e.label in (0, 1) and isinstance(e.text_a, str) for e in examples)


def _squad_doc(context, question, answer_start, text):
    return {"data": [{"title": "t", "paragraphs": [{"context": context, "qas": [
        {"id": "q1", "question": question, "answers": [{"text": text, "answer_start": answer_start}]}]}]}]}


@FAST
@given(doc=JSON | st.builds(_squad_doc, ANY_TEXT, ANY_TEXT, st.integers(-3, 50) | ANY_TEXT, ANY_TEXT),
       is_training=st.booleans())
def test_squad_json_reader(doc, is_training):
    try:
        examples = squad.read_squad(doc, is_training=is_training)
    except DataError:
        return
    assert all(isinstance(e.question_text, str) for e in examples)


@FAST
@given(raw=st.binary(max_size=200))
def test_squad_file_of_random_bytes(tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("squad") / "dev.json"
    path.write_bytes(raw)
    try:
        squad.read_squad(squad.load_json(path))
    except DataError:
        pass


FIELDS = MobileBertConfig.field_names()
VALUES = st.none() | st.booleans() | st.integers(-5, 2000) | st.floats(allow_nan=True) | ANY_TEXT | \
    st.sampled_from(["relu", "gelu", "no_norm", "layer_norm", "google"]) | st.lists(st.integers(), max_size=2)


@FAST
@given(drop=st.sets(st.sampled_from(FIELDS), max_size=2), changes=st.dictionaries(
    st.sampled_from(FIELDS) | ANY_TEXT, VALUES, max_size=3), raw=st.binary(max_size=80), use_raw=st.booleans())
def test_config_json_parsing(tmp_path_factory, drop, changes, raw, use_raw):
    path = tmp_path_factory.mktemp("cfg") / "config.json"
    values = {k: v for k, v in MobileBertConfig().to_dict().items() if k not in drop}
    values.update(changes)
    if use_raw:
        path.write_bytes(raw)
    else:
        path.write_text(json.dumps(values, ensure_ascii=True), encoding="utf-8")
    try:
        config = MobileBertConfig.from_json(path)
    except ConfigError:
        return
    assert config == MobileBertConfig.from_json(config.to_json())


@pytest.fixture(scope="module")
def tflite_with_metadata():
    import tensorflow as tf

    class Tiny(tf.Module):
        def __init__(self):
            self.w = tf.Variable(np.ones((8, 8), np.float32))

        @tf.function(input_signature=[tf.TensorSpec([1, 8], tf.float32, name="x")])
        def __call__(self, x):
            return {"y": tf.matmul(x, self.w)}

    m = Tiny()
    data = tf.lite.TFLiteConverter.from_concrete_functions([m.__call__.get_concrete_function()], m).convert()
    info = md.ModelInfo(name="t", description="d", version="1", author="a", license="l",
                        inputs=[md.TensorInfo("x", "in")], outputs=[md.TensorInfo("y", "out", [
                            md.AssociatedFile("labels.txt", "labels", md.TENSOR_AXIS_LABELS)])],
                        tokenizer_vocab="vocab.txt")
    return md.attach(data, info, {"vocab.txt": b"[PAD]\n[UNK]\n" + string.ascii_lowercase.encode(),
                                  "labels.txt": b"a\nb\n"})


@FAST
@given(edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=6),
       cut=st.none() | st.floats(0, 1))
def test_tflite_metadata_reader_on_mutated_files(tflite_with_metadata, edits, cut):
    data = bytearray(tflite_with_metadata)
    # mutations land in the metadata buffer and the zip (the tail) as often as in the model
    tail = len(data) // 2
    for where, value in edits:
        data[tail + int(where * (len(data) - tail))] = value
    if cut is not None:
        data = data[:int(cut * len(data))]
    try:
        info, files = md.read(bytes(data), "m.tflite")
    except ExportError as e:
        assert "m.tflite" in str(e)
        return
    assert info is None or isinstance(info.name, str)
    assert all(isinstance(v, bytes) for v in files.values())
