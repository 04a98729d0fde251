"""Host replay of the Android demo's text pipeline, in Python.

It mirrors, function for function, the pure-Kotlin classes the app runs
(``android_demo/core/src/main/kotlin/org/mobilebert/demo/core/``), which in turn mirror the TFLite Task
Library (tflite-support 0.4.x):

- ``WordpieceTokenizer``: Kotlin ``WordpieceTokenizer``; C++ ``text/tokenizers/bert_tokenizer.cc`` (RE2
  split, then tf.text's WordpieceTokenize)
- ``qa_preprocess`` / ``qa_postprocess``: Kotlin ``BertQa.preprocess`` / ``BertQa.postprocess``; C++
  ``BertQuestionAnswerer::Preprocess`` / ``Postprocess`` (``task/text/qa/bert_question_answerer.cc``)
- ``word_char_spans``: Kotlin ``AnswerHighlighter.wordSpans`` (the app's highlight of ``orig_tokens_``)
- ``classifier_preprocess``: Kotlin ``BertClassifierInput.preprocess``; C++
  ``processor::BertPreprocessor::Preprocess`` (used by BertNLClassifier)

- ``normalize_text``: Kotlin ``TextNormalizer`` and ``web_demo/bert.js`` ``normalizeText``: the training
  tokenizer's text normalization (``mobilebert_tf.tokenization.tf_normalize``), applied by the app
  before any text reaches the Task Library or the Interpreter

The Task Library itself only lower-cases ASCII letters and keeps accents (``café`` stays ``café``, ``[UNK]``
in the uncased vocab), so the app (and ``answer`` / ``classify_input`` here) first normalizes text as
training did: drop control characters, map whitespace to spaces, NFD, drop combining marks (accents),
lower-case. After that the phone's ids equal the training ids. Other differences from our training
tokenizer (``mobilebert_tf.tokenization``) stay: whitespace is RE2's ``\\s`` (space, tab, CR, LF, FF);
the passage is split into words on ``' '`` only; a context longer than the window is cut (no doc stride),
and an answer is whole space-separated words (no ``get_final_text`` trimming).

Dependency-free (numpy only for the argsort), so it runs next to LiteRT on a laptop.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np

# BertQuestionAnswerer's constants (bert_question_answerer.h)
MAX_QUERY_LEN = 64
MAX_SEQ_LEN = 384
PREDICT_ANS_NUM = 5
MAX_ANS_LEN = 32
OUTPUT_OFFSET = 1
# BertTokenizerOptions defaults (bert_tokenizer.h)
MAX_BYTES_PER_TOKEN = 100
MAX_CHARS_PER_SUBTOKEN = 100
SUFFIX_INDICATOR = "##"
UNKNOWN_TOKEN = "[UNK]"
CLS, SEP = "[CLS]", "[SEP]"

WHITESPACE = "\t\n\f\r "  # RE2's \s
CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
              (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def normalize_text(text: str) -> tuple[str, list[int]]:
    """The training tokenizer's normalization (``tf_normalize`` with ``lowercase=True``), one character
    at a time: tab/LF/CR and Unicode separators (Z*) -> space; other control, format, private-use,
    unassigned characters (C*) and U+FFFD dropped; then NFD, combining marks (Mn) dropped, lower-case
    (per character: a final Σ becomes σ, as in BERT).

    Args:
        text: any text (a passage, a question, a sentence).
    Returns:
        (normalized text, source) where source[i] is the index in ``text`` of the character that
        normalized character i came from (to map an answer back to the passage).

    Example:
        >>> normalize_text("Café Été")
        ('cafe ete', [0, 1, 2, 3, 4, 5, 6, 7])
    """
    out: list[str] = []
    source: list[int] = []
    for i, c in enumerate(text):
        category = unicodedata.category(c)
        if c in "\t\n\r" or category.startswith("Z"):
            pieces = " "
        elif category.startswith("C") or c == "\ufffd":
            continue
        else:
            pieces = "".join(ch.lower() for ch in unicodedata.normalize("NFD", c)
                             if unicodedata.category(ch) != "Mn")
        out.append(pieces)
        source.extend([i] * len(pieces))
    return "".join(out), source


def original_span(source: list[int], start: int, end: int) -> tuple[int, int]:
    """The original text's [start, end) behind the normalized text's [start, end).

    Args:
        source: the second value of ``normalize_text``; start, end: a non-empty span of the normalized text.
    Returns:
        (start, end) in the original text.

    Example:
        >>> text = "Café au lait"; norm, source = normalize_text(text)
        >>> text[slice(*original_span(source, 0, 4))]
        'Café'
    """
    return source[start], source[end - 1] + 1


def ascii_lower(text: str) -> str:
    """absl::AsciiStrToLower: A-Z only."""
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


def is_kept_delimiter(c: str) -> bool:
    """kDefaultIncludeDelimRe: ASCII punctuation ranges, Unicode P*, CJK ideographs."""
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    if unicodedata.category(c).startswith("P"):
        return True
    return any(lo <= cp <= hi for lo, hi in CJK_RANGES)


class WordpieceTokenizer:
    """Task Library BertTokenizer: RegexSplit(text, delim, include_delim) then greedy longest-match
    WordPiece per word. No lower-casing here: callers lower-case ASCII first, as the Task Library does."""

    def __init__(self, vocab: list[str]):
        self.vocab = list(vocab)
        self.ids = {}
        for i, token in enumerate(self.vocab):
            self.ids.setdefault(token, i)

    @classmethod
    def from_file(cls, path) -> "WordpieceTokenizer":
        with open(path, encoding="utf-8") as f:
            return cls(f.read().splitlines())

    def lookup_id(self, token: str) -> int | None:
        return self.ids.get(token)

    def split_words(self, text: str) -> list[str]:
        words, current = [], []
        for c in text:
            if c in WHITESPACE:
                if current:
                    words.append("".join(current))
                    current = []
            elif is_kept_delimiter(c):
                if current:
                    words.append("".join(current))
                    current = []
                words.append(c)
            else:
                current.append(c)
        if current:
            words.append("".join(current))
        return words

    def wordpiece(self, word: str) -> list[str]:
        if len(word.encode("utf-8")) > MAX_BYTES_PER_TOKEN:
            return [UNKNOWN_TOKEN]
        pieces, start = [], 0
        while start < len(word):
            end = min(len(word), start + MAX_CHARS_PER_SUBTOKEN)
            found = None
            while end > start:
                candidate = word[start:end] if start == 0 else SUFFIX_INDICATOR + word[start:end]
                if candidate in self.ids:
                    found = candidate
                    break
                end -= 1
            if found is None:
                return [UNKNOWN_TOKEN]
            pieces.append(found)
            start = end
        return pieces

    def tokenize(self, text: str) -> list[str]:
        out = []
        for word in self.split_words(text):
            out.extend(self.wordpiece(word))
        return out


@dataclass
class QaFeature:
    """One model input, as BertQuestionAnswerer::Preprocess builds it."""
    ids: list[int]
    mask: list[int]
    segment_ids: list[int]
    tokens: list[str]
    token_to_orig_map: dict[int, int]   # key: token position + 1 (the C++ inserts after push_back)
    orig_tokens: list[str]


@dataclass
class QaAnswer:
    text: str
    start: int            # token positions in the logits
    end: int
    logit: float          # start_logits[start] + end_logits[end], float32 as in C++
    word_start: int = -1  # indices into orig_tokens
    word_end: int = -1
    char_start: int = -1  # the highlight in the passage: context[char_start:char_end]
    char_end: int = -1


def split_context(context: str) -> list[str]:
    """absl::StrSplit(context, ByChar(' '), SkipEmpty())."""
    return [t for t in context.split(" ") if t]


def word_char_spans(context: str) -> list[tuple[int, int]]:
    """[start, end) character span of each word of split_context(context)."""
    spans, start = [], None
    for i, c in enumerate(context):
        if c == " ":
            if start is not None:
                spans.append((start, i))
                start = None
        elif start is None:
            start = i
    if start is not None:
        spans.append((start, len(context)))
    return spans


def qa_preprocess(tokenizer: WordpieceTokenizer, context: str, query: str, max_seq_len: int = MAX_SEQ_LEN,
                  max_query_len: int = MAX_QUERY_LEN) -> QaFeature:
    orig_tokens = split_context(context)
    processed_tokens = [ascii_lower(t) for t in orig_tokens]
    query_tokens = tokenizer.tokenize(ascii_lower(query))[:max_query_len]

    all_doc_tokens, token_to_orig_index = [], []
    for i, token in enumerate(processed_tokens):
        for sub_token in tokenizer.tokenize(token):
            token_to_orig_index.append(i)
            all_doc_tokens.append(sub_token)
    max_context_len = max(0, max_seq_len - len(query_tokens) - 3)  # [CLS], [SEP], [SEP]
    all_doc_tokens = all_doc_tokens[:max_context_len]

    tokens, segment_ids, token_to_orig_map = [CLS], [0], {}
    for query_token in query_tokens:
        tokens.append(query_token)
        segment_ids.append(0)
    tokens.append(SEP)
    segment_ids.append(0)
    for i, doc_token in enumerate(all_doc_tokens):
        tokens.append(doc_token)
        segment_ids.append(1)
        token_to_orig_map[len(tokens)] = token_to_orig_index[i]
    tokens.append(SEP)
    segment_ids.append(1)

    ids = [tokenizer.lookup_id(t) or 0 for t in tokens]  # LookupId leaves 0 on a miss
    mask = [1] * len(tokens)
    pad = max_seq_len - len(ids)
    return QaFeature(ids + [0] * pad, mask + [0] * pad, segment_ids + [0] * pad, tokens, token_to_orig_map,
                     orig_tokens)


def reverse_sort_indices(values) -> list[int]:
    """task_utils ReverseSortIndices: std::stable_sort by value, descending (ties keep index order)."""
    values = np.asarray(values, np.float32)
    return np.argsort(-values, kind="stable").tolist()


def qa_postprocess(feature: QaFeature, start_logits, end_logits, predict_ans_num: int = PREDICT_ANS_NUM,
                   max_ans_len: int = MAX_ANS_LEN, output_offset: int = OUTPUT_OFFSET,
                   context: str | None = None) -> list[QaAnswer]:
    start_logits = np.asarray(start_logits, np.float32).reshape(-1)
    end_logits = np.asarray(end_logits, np.float32).reshape(-1)
    start_indices = reverse_sort_indices(start_logits)
    end_indices = reverse_sort_indices(end_logits)
    m = feature.token_to_orig_map

    orig_results = []
    for start_index in range(min(predict_ans_num, len(start_indices))):
        for end_index in range(min(predict_ans_num, len(end_indices))):
            start = start_indices[start_index]
            end = end_indices[end_index]
            if (start + output_offset) not in m or (end + output_offset) not in m or end < start \
                    or (end - start + 1) > max_ans_len:
                continue
            orig_results.append((start, end, np.float32(start_logits[start] + end_logits[end])))
    # std::sort by logit, descending; a stable sort here (and in Kotlin) fixes the order of exact ties
    orig_results.sort(key=lambda r: -r[2])

    spans = word_char_spans(context) if context is not None else None
    answers = []
    for start, end, logit in orig_results[:predict_ans_num]:
        w0, w1 = m[start + output_offset], m[end + output_offset]
        text = " ".join(feature.orig_tokens[w0:w1 + 1]) if start > 0 else ""
        answer = QaAnswer(text, start, end, float(logit), w0, w1)
        if spans is not None:
            answer.char_start, answer.char_end = spans[w0][0], spans[w1][1]
        answers.append(answer)
    return answers


def answer(tokenizer: WordpieceTokenizer, run_model, context: str, question: str,
           max_seq_len: int = MAX_SEQ_LEN) -> list[QaAnswer]:
    """The app's whole QA flow: normalize context and question as training did, then the Task Library's
    steps on the normalized text. Each answer's ``text`` is the normalized words (what the Task Library
    returns); ``char_start``/``char_end`` are the highlight in the ORIGINAL ``context``.
    run_model(ids, mask, segment_ids) -> (start_logits, end_logits)."""
    norm_context, source = normalize_text(context)
    feature = qa_preprocess(tokenizer, norm_context, normalize_text(question)[0], max_seq_len)
    start_logits, end_logits = run_model(feature.ids, feature.mask, feature.segment_ids)
    answers = qa_postprocess(feature, start_logits, end_logits, context=norm_context)
    for a in answers:
        a.char_start, a.char_end = original_span(source, a.char_start, a.char_end)
    return answers


def classify_input(tokenizer: WordpieceTokenizer, text: str, max_seq_len: int) -> dict[str, list[int]]:
    """The app's classifier input: ``normalize_text`` then BertNLClassifier's preprocessing."""
    return classifier_preprocess(tokenizer, normalize_text(text)[0], max_seq_len)


def classifier_preprocess(tokenizer: WordpieceTokenizer, text: str, max_seq_len: int) -> dict[str, list[int]]:
    """BertPreprocessor::Preprocess (static input shape): [CLS] tokens [SEP], zeros after, segment 0."""
    subwords = tokenizer.tokenize(ascii_lower(text))
    n = min(max_seq_len, len(subwords) + 2)
    tokens = [CLS] + subwords[:n - 2] + [SEP]
    ids = [0] * max_seq_len
    mask = [0] * max_seq_len
    for i, token in enumerate(tokens):
        ids[i] = tokenizer.lookup_id(token) or 0
        mask[i] = 1
    return {"ids": ids, "mask": mask, "segment_ids": [0] * max_seq_len}
