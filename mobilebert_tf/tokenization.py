"""BERT WordPiece tokenizer on tensorflow-text, id-for-id equal to HF ``BertTokenizerFast``.

Pipeline (every step a TF op, so it runs eagerly, in ``tf.function`` and inside ``tf.data``):

1. ``tf_normalize``: BERT's text cleaning (drop control/format/private-use characters and U+FFFD,
   map whitespace to a space); if ``lowercase``: NFD, drop combining marks (accents), lower-case.
2. ``text.regex_split`` with BERT's word boundaries: whitespace, ASCII and Unicode punctuation and
   CJK ideographs (each a word of its own).
3. Words longer than ``MAX_CHARS_PER_WORD`` (100 characters, as BERT/HF) become ``[UNK]``.
4. ``text.WordpieceTokenizer`` (greedy longest match, ``##`` continuation, ``[UNK]`` for a word
   that cannot be covered).

These are the stages of ``text.BertTokenizer``; we run them ourselves because its built-in
``lower_case`` applies NFKC case folding (µ→μ, ½→1⁄2, ς→σ), replaces control characters with a
space instead of removing them, and limits words in UTF-8 bytes rather than characters. Each of
these changed ids on real GLUE/SQuAD text (7 of 7445 texts); with the steps above parity is exact.

Strings such as ``"[CLS]"`` inside input text are plain text (``[``, ``cl``, ``##s``, ``]``), as
in Google's BERT tokenizer; HF would map them to the special ids. Special ids are only added by
the packing helpers.

Packing (``pack_single``/``pack_pair``/``tf_pack``): ``[CLS] a [SEP]`` or ``[CLS] a [SEP] b [SEP]``,
right-padded to ``seq_len``. Over-long input is cut at the end. For pairs the longer member loses
its last token until the pair fits, ties cut ``b`` first (Google BERT's ``_truncate_seq_pair``;
``text.RoundRobinTrimmer`` gives exactly these lengths). HF's ``longest_first`` cuts ``a`` on ties.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import tensorflow as tf
import tensorflow_text as text

from mobilebert_tf.errors import MobileBertError

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
MAX_CHARS_PER_WORD = 100
SUFFIX_INDICATOR = "##"

# Word boundaries as in BERT's BasicTokenizer: ASCII punctuation ranges (includes $+<=>^`|~, which
# are not Unicode P*), Unicode punctuation, and the CJK ideograph blocks BERT splits per character.
_PUNCT = r"[!-/:-@\[-`{-~\p{P}]"
_CJK = (r"[\x{4E00}-\x{9FFF}\x{3400}-\x{4DBF}\x{20000}-\x{2A6DF}\x{2A700}-\x{2B73F}"
        r"\x{2B740}-\x{2B81F}\x{2B820}-\x{2CEAF}\x{F900}-\x{FAFF}\x{2F800}-\x{2FA1F}]")
_DELIM = rf"\s+|{_PUNCT}|{_CJK}"
_KEEP_DELIM = rf"{_PUNCT}|{_CJK}"
# Replaces a word over MAX_CHARS_PER_WORD before WordPiece. It is a private-use character: the
# cleaning step removes those from input text, so it cannot collide with a real word.
_LONG_WORD = "\ue000"
_CHUNK = 8192  # texts per eager call in encode(); bounds the memory of one ragged batch


class TokenizerError(MobileBertError, ValueError):
    """Unusable vocabulary or tokenizer input. The message names the file and the problem."""


def check_text(text, where: str = "text") -> None:
    """TokenizerError unless ``text`` is a str (or UTF-8 bytes) that UTF-8 can encode: a lone surrogate (e.g.
    ``"\\ud800"`` from JSON) is named by position instead of failing deep in TensorFlow.

    Example:
        >>> check_text("caf\u00e9")
    """
    if isinstance(text, bytes):
        try:
            text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise TokenizerError(f"{where}: not UTF-8 ({e.reason} at byte {e.start})") from None
        return
    if not isinstance(text, str):
        raise TokenizerError(f"{where}: expected a string, got {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise TokenizerError(f"{where}: character {e.start + 1} is a lone surrogate (U+{ord(text[e.start]):04X}), "
                             f"not valid Unicode text") from None


def load_vocab(vocab_file: str | os.PathLike) -> list[str]:
    """Reads a one-token-per-line vocab; line number = id. Checks the special tokens are present."""
    path = Path(vocab_file)
    if not path.exists():
        raise TokenizerError(f"vocab file {path}: not found")
    if not path.is_file():
        raise TokenizerError(f"vocab file {path}: not a file")
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise TokenizerError(f"vocab file {path}: not UTF-8 ({e})") from None
    vocab = [line.rstrip("\r") for line in raw.split("\n")]
    if vocab and vocab[-1] == "":  # trailing newline, not a token
        vocab.pop()
    if not any(tok.strip() for tok in vocab):
        raise TokenizerError(f"vocab file {path}: is empty")
    seen: dict[str, int] = {}
    for i, tok in enumerate(vocab):
        if tok in seen:
            raise TokenizerError(f"vocab file {path}: token {tok!r} appears twice (lines {seen[tok] + 1} and {i + 1})")
        seen[tok] = i
    missing = [t for t in SPECIAL_TOKENS if t not in seen]
    if missing:
        raise TokenizerError(f"vocab file {path}: missing special token(s) {', '.join(missing)}; "
                             f"a BERT vocab needs all of {', '.join(SPECIAL_TOKENS)}")
    return vocab


def tf_normalize(texts: tf.Tensor, lowercase: bool = True) -> tf.Tensor:
    """BERT text normalization, as HF's ``BertNormalizer``. texts: string tensor of any shape."""
    texts = tf.strings.regex_replace(texts, r"[\t\n\r]", " ")  # whitespace, not control characters
    texts = tf.strings.regex_replace(texts, r"[\p{C}\x{FFFD}]", "")
    texts = tf.strings.regex_replace(texts, r"\p{Z}", " ")
    if lowercase:
        texts = text.normalize_utf8(texts, "NFD")
        texts = tf.strings.regex_replace(texts, r"\p{Mn}", "")
        # ICU lower-cases a word-final Σ to ς; BERT/HF lower-case per character (σ).
        texts = tf.strings.regex_replace(texts, "Σ", "σ")
        texts = tf.strings.lower(texts, encoding="utf-8")
    return texts


def truncate_pair(ids_a: Sequence[int], ids_b: Sequence[int], max_total: int) -> tuple[list[int], list[int]]:
    """Cuts the end of the longer list until ``len(a) + len(b) <= max_total``; ties cut ``b``."""
    a, b = list(ids_a), list(ids_b)
    # Closed form of popping one token at a time from the longer list.
    if len(a) + len(b) > max_total:
        half_a, half_b = (max_total + 1) // 2, max_total // 2
        if len(a) <= half_a:
            b = b[:max_total - len(a)]
        elif len(b) <= half_b:
            a = a[:max_total - len(b)]
        else:
            a, b = a[:half_a], b[:half_b]
    return a, b


def _pack(segments: list[list[int]], seq_len: int, cls_id: int, sep_id: int, pad_id: int) -> dict[str, np.ndarray]:
    ids, seg = [cls_id], [0]
    for s, tokens in enumerate(segments):
        ids += list(tokens) + [sep_id]
        seg += [s] * (len(tokens) + 1)
    n = len(ids)
    out = {"input_ids": np.full(seq_len, pad_id, np.int32), "input_mask": np.zeros(seq_len, np.int32),
           "segment_ids": np.zeros(seq_len, np.int32)}
    out["input_ids"][:n], out["input_mask"][:n], out["segment_ids"][:n] = ids, 1, seg
    return out


def pack_single(ids: Sequence[int], seq_len: int, cls_id: int, sep_id: int, pad_id: int = 0) -> dict[str, np.ndarray]:
    """``[CLS] ids [SEP] pad…`` -> ``input_ids``, ``input_mask``, ``segment_ids``: int32 [seq_len].

    ``ids`` beyond ``seq_len - 2`` are dropped from the end.
    """
    if seq_len < 2:
        raise ValueError(f"seq_len must be >= 2 for [CLS] and [SEP], got {seq_len}")
    return _pack([list(ids)[:seq_len - 2]], seq_len, cls_id, sep_id, pad_id)


def pack_pair(ids_a: Sequence[int], ids_b: Sequence[int], seq_len: int, cls_id: int, sep_id: int,
              pad_id: int = 0) -> dict[str, np.ndarray]:
    """``[CLS] a [SEP] b [SEP] pad…`` (segment 0 up to the first [SEP], then 1) -> int32 [seq_len] each.

    Longest member truncated first (``truncate_pair``) so that the pair fits ``seq_len - 3``.
    """
    if seq_len < 3:
        raise ValueError(f"seq_len must be >= 3 for [CLS] and two [SEP], got {seq_len}")
    a, b = truncate_pair(ids_a, ids_b, seq_len - 3)
    return _pack([a, b], seq_len, cls_id, sep_id, pad_id)


def tf_pack(segments: Sequence[tf.RaggedTensor | tf.Tensor], seq_len: int, cls_id: int, sep_id: int,
            pad_id: int = 0) -> dict[str, tf.Tensor]:
    """Graph version of ``pack_single`` (1 segment) / ``pack_pair`` (2), same truncation and layout.

    segments: RaggedTensor [batch, (tokens)] each, or 1-D Tensors for one unbatched example.
    Returns int32 ``input_ids``, ``input_mask``, ``segment_ids``: [batch, seq_len] (or [seq_len]).
    """
    if len(segments) not in (1, 2):
        raise ValueError(f"tf_pack takes 1 or 2 segments, got {len(segments)}")
    unbatched = not isinstance(segments[0], tf.RaggedTensor) and segments[0].shape.rank == 1
    segs = []
    for s in segments:
        if unbatched:
            s = tf.RaggedTensor.from_tensor(tf.expand_dims(s, 0))
        elif not isinstance(s, tf.RaggedTensor):
            s = tf.RaggedTensor.from_tensor(s)
        segs.append(tf.cast(s, tf.int32))
    # RoundRobinTrimmer hands out the budget one token per segment in turn, which yields exactly
    # the lengths of "cut the longer one, ties cut b" (checked against truncate_pair in the tests).
    trimmed = text.RoundRobinTrimmer(seq_len - 1 - len(segs)).trim(segs)
    ids, segment_ids = text.combine_segments(trimmed, start_of_sequence_id=cls_id, end_of_segment_id=sep_id)
    input_ids, input_mask = text.pad_model_inputs(ids, max_seq_length=seq_len, pad_value=pad_id)
    segment_ids, _ = text.pad_model_inputs(segment_ids, max_seq_length=seq_len, pad_value=0)
    out = {"input_ids": tf.cast(input_ids, tf.int32), "input_mask": tf.cast(input_mask, tf.int32),
           "segment_ids": tf.cast(segment_ids, tf.int32)}
    return {k: v[0] for k, v in out.items()} if unbatched else out


class BertTokenizer:
    """Uncased (``lowercase=True``) or cased BERT WordPiece tokenizer over ``vocab_file``.

    Attributes: ``vocab`` (list[str], index = id), ``vocab_size``, ``pad_id``, ``unk_id``, ``cls_id``,
    ``sep_id``, ``mask_id``, ``vocab_file``, ``lowercase``.
    """

    def __init__(self, vocab_file: str | os.PathLike, lowercase: bool = True):
        self.vocab_file = str(vocab_file)
        self.lowercase = bool(lowercase)
        self.vocab = load_vocab(vocab_file)
        self.vocab_size = len(self.vocab)
        self._ids = {tok: i for i, tok in enumerate(self.vocab)}
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = (self._ids[t] for t in SPECIAL_TOKENS)
        init = tf.lookup.KeyValueTensorInitializer(tf.constant(self.vocab),
                                                   tf.range(self.vocab_size, dtype=tf.int64))
        # Misses never reach the OOV bucket: WordpieceTokenizer emits unknown_token instead.
        self._table = tf.lookup.StaticVocabularyTable(init, num_oov_buckets=1)
        # max_bytes_per_word only has to admit every word of <= 100 characters (UTF-8: <= 4 bytes
        # each); the real limit, in characters, is applied in tf_words().
        self._wordpiece = text.WordpieceTokenizer(
            self._table, suffix_indicator=SUFFIX_INDICATOR, max_bytes_per_word=4 * MAX_CHARS_PER_WORD,
            token_out_type=tf.int64, unknown_token="[UNK]")

    def __repr__(self):
        return f"BertTokenizer({self.vocab_file!r}, lowercase={self.lowercase}, vocab_size={self.vocab_size})"

    def token_to_id(self, token: str) -> int:
        """Vocab id of one token (``unk_id`` if absent)."""
        return self._ids.get(token, self.unk_id)

    def tf_words(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """Normalized words before WordPiece. texts: string [batch] -> RaggedTensor [batch, (words)]."""
        words = text.regex_split(tf_normalize(texts, self.lowercase), _DELIM, _KEEP_DELIM)
        too_long = tf.strings.length(words.flat_values, unit="UTF8_CHAR") > MAX_CHARS_PER_WORD
        return words.with_flat_values(tf.where(too_long, _LONG_WORD, words.flat_values))

    def tf_encode(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """string [batch] -> RaggedTensor int32 [batch, (tokens)], no special tokens.

        Pure TF ops: works eagerly, in ``tf.function`` and in ``tf.data`` maps. A scalar string gives
        a 1-D int32 Tensor.
        """
        texts = tf.convert_to_tensor(texts, dtype=tf.string)
        if texts.shape.rank == 0:
            return self.tf_encode(tf.expand_dims(texts, 0))[0]
        pieces = self._wordpiece.tokenize(self.tf_words(texts))  # [batch, (words), (pieces)]
        pieces = pieces.merge_dims(-2, -1)
        return pieces.with_flat_values(tf.cast(pieces.flat_values, tf.int32))

    def encode(self, texts: Iterable[str]) -> list[list[int]]:
        """list of str -> list of id lists (no special tokens)."""
        if isinstance(texts, (str, bytes)):
            raise TypeError("encode() takes a list of strings; wrap a single text as [text]")
        texts = list(texts)
        for i, item in enumerate(texts):
            check_text(item, f"text {i + 1}")
        out: list[list[int]] = []
        for start in range(0, len(texts), _CHUNK):
            chunk = texts[start:start + _CHUNK]
            out.extend(self.tf_encode(tf.constant(chunk, dtype=tf.string)).to_list())
        return out

    def decode(self, ids: Iterable[int]) -> list[str]:
        """ids -> token strings (``##`` kept, special tokens included)."""
        ids = np.asarray(ids).reshape(-1).tolist()
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise TokenizerError(f"ids {bad[:5]} are outside the vocab of {self.vocab_file} "
                                 f"(size {self.vocab_size})")
        return [self.vocab[i] for i in ids]

    def pack_single(self, ids: Sequence[int], seq_len: int) -> dict[str, np.ndarray]:
        """``pack_single`` with this vocab's special ids."""
        return pack_single(ids, seq_len, self.cls_id, self.sep_id, self.pad_id)

    def pack_pair(self, ids_a: Sequence[int], ids_b: Sequence[int], seq_len: int) -> dict[str, np.ndarray]:
        """``pack_pair`` with this vocab's special ids."""
        return pack_pair(ids_a, ids_b, seq_len, self.cls_id, self.sep_id, self.pad_id)

    def encode_single(self, texts: Sequence[str], seq_len: int) -> dict[str, np.ndarray]:
        """texts [batch] -> ``input_ids``, ``input_mask``, ``segment_ids``: int32 [batch, seq_len]."""
        rows = [self.pack_single(ids, seq_len) for ids in self.encode(texts)]
        return _stack(rows, seq_len)

    def encode_pair(self, texts_a: Sequence[str], texts_b: Sequence[str], seq_len: int) -> dict[str, np.ndarray]:
        """Sentence pairs [batch] -> ``input_ids``, ``input_mask``, ``segment_ids``: int32 [batch, seq_len]."""
        texts_a, texts_b = list(texts_a), list(texts_b)
        if len(texts_a) != len(texts_b):
            raise ValueError(f"encode_pair: {len(texts_a)} first texts but {len(texts_b)} second texts")
        ids = self.encode(texts_a + texts_b)
        rows = [self.pack_pair(a, b, seq_len) for a, b in zip(ids[:len(texts_a)], ids[len(texts_a):])]
        return _stack(rows, seq_len)

    def tf_pack(self, ids_a: tf.RaggedTensor | tf.Tensor, ids_b: tf.RaggedTensor | tf.Tensor | None = None,
                seq_len: int = 128) -> dict[str, tf.Tensor]:
        """``tf_pack`` with this vocab's special ids: ragged ids [batch, (n)] -> int32 [batch, seq_len]."""
        segments = [ids_a] if ids_b is None else [ids_a, ids_b]
        return tf_pack(segments, seq_len, self.cls_id, self.sep_id, self.pad_id)


def _stack(rows: list[dict[str, np.ndarray]], seq_len: int) -> dict[str, np.ndarray]:
    keys = ("input_ids", "input_mask", "segment_ids")
    if not rows:
        return {k: np.zeros((0, seq_len), np.int32) for k in keys}
    return {k: np.stack([r[k] for r in rows]) for k in keys}
