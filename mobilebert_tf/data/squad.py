"""SQuAD v1.1 / v2.0: JSON reader, conversion to fixed-length features, and post-processing of logits.

Follows google-research/bert ``run_squad.py``: the context is split into words on whitespace (keeping a
char -> word map), each word is WordPiece-tokenized on its own, long contexts become overlapping windows
(doc stride), a token belongs to the window where it has the most context, and predicted token spans are
mapped back to the original words and then trimmed to the predicted text (``get_final_text``).
"""
from __future__ import annotations

import collections
import json
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mobilebert_tf.data import DataError
from mobilebert_tf.errors import UsageError

__all__ = ["SquadExample", "SquadFeature", "load_json", "read_squad", "convert_examples_to_features",
           "features_to_arrays", "postprocess_predictions", "split_words", "get_final_text"]


# ---------------------------------------------------------------------------------------------- reading

def load_json(path):
    """Parse a JSON file, or the ``.json`` member of a ``.zip`` (read in memory, not unpacked)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    name = str(path)
    try:
        if path.suffix.lower() == ".zip":
            with zipfile.ZipFile(path) as zf:
                members = [m for m in zf.namelist() if m.lower().endswith(".json") and not m.startswith("__MACOSX")]
                if len(members) != 1:
                    raise DataError(f"{path}: expected exactly one .json member in the zip, found {members}")
                name = f"{path}!{members[0]}"
                raw = zf.read(members[0])
        else:
            raw = path.read_bytes()
    except zipfile.BadZipFile as e:
        raise DataError(f"{path}: not a valid zip file ({e})") from None
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        raise DataError(f"{name}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise DataError(f"{name}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from None


@dataclass(frozen=True)
class SquadExample:
    """One question on one context.

    doc_tokens: the context split on whitespace. answers: all gold answer texts (empty when impossible).
    orig_answer_text, start_position / end_position: the training target and its word indices: the first
    answer on word boundaries, else the first answer (-1 when impossible, None when no answer is listed).
    """

    qas_id: str
    question_text: str
    context_text: str
    doc_tokens: tuple[str, ...]
    answers: tuple[str, ...]
    orig_answer_text: str | None
    start_position: int | None
    end_position: int | None
    is_impossible: bool = False


def _is_whitespace(c: str) -> bool:
    # run_squad.py's set: Python's str.isspace() would also split on e.g. U+00A0, giving other word indices.
    return c in " \t\r\n" or ord(c) == 0x202F


def split_words(text: str) -> tuple[list[str], list[int]]:
    """Whitespace words of ``text`` and, per character, the index of the word it belongs to ([len(text)];
    whitespace maps to the preceding word, -1 before the first)."""
    words: list[str] = []
    char_to_word = []
    prev_is_ws = True
    for c in text:
        if _is_whitespace(c):
            prev_is_ws = True
        else:
            if prev_is_ws:
                words.append(c)
            else:
                words[-1] += c
            prev_is_ws = False
        char_to_word.append(len(words) - 1)
    return words, char_to_word


def _get(obj, key, where, kind, source):
    if not isinstance(obj, dict):
        raise DataError(f"{source}: {where} must be an object, got {type(obj).__name__}")
    if key not in obj:
        raise DataError(f"{source}: {where}: missing field {key!r}")
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise DataError(f"{source}: {where}.{key} must be {kind.__name__}, got {type(value).__name__}")
    return value


def read_squad(source, is_training: bool = False) -> list[SquadExample]:
    """Examples of a SQuAD v1.1 or v2.0 file (``.json`` or ``.zip``) or of an already loaded JSON object.

    Every answer is checked against its context: ``context[answer_start:][:len(text)] == text``; a mismatch
    is a DataError naming the field. is_training: an answerable question must list an answer. v2.0 questions
    carry ``is_impossible``.
    """
    if isinstance(source, (str, Path)):
        name, data = str(source), load_json(source)
    else:
        name, data = "<squad json>", source
    if not isinstance(data, dict):
        raise DataError(f"{name}: top level must be an object with a 'data' list, got {type(data).__name__}")
    examples = []
    for a, article in enumerate(_get(data, "data", "top level", list, name)):
        for p, paragraph in enumerate(_get(article, "paragraphs", f"data[{a}]", list, name)):
            where_p = f"data[{a}].paragraphs[{p}]"
            context = _get(paragraph, "context", where_p, str, name)
            if not context.strip():
                raise DataError(f"{name}: {where_p}.context is empty; a question needs a context to answer from")
            words, char_to_word = split_words(context)
            words = tuple(words)  # shared by the paragraph's questions
            for q, qa in enumerate(_get(paragraph, "qas", where_p, list, name)):
                where = f"{where_p}.qas[{q}]"
                examples.append(_read_qa(qa, where, name, context, words, char_to_word, is_training))
    return examples


def _read_qa(qa, where, name, context, words, char_to_word, is_training) -> SquadExample:
    qid = _get(qa, "id", where, str, name)
    question = _get(qa, "question", where, str, name)
    impossible = _get(qa, "is_impossible", where, bool, name) if "is_impossible" in qa else False
    answers = [] if impossible and "answers" not in qa else _get(qa, "answers", where, list, name)
    texts, spans = [], []
    for i, ans in enumerate(answers):
        where_a = f"{where}.answers[{i}]"
        text = _get(ans, "text", where_a, str, name)
        start = _get(ans, "answer_start", where_a, int, name)
        if context[start:start + len(text)] != text or start < 0:
            found = context[max(start, 0):max(start, 0) + len(text)]
            raise DataError(f"{name}: {where_a}: answer_start {start} gives {found!r}, not the answer text "
                            f"{text!r}")
        # A span's leading/trailing whitespace would map to the neighbouring word; trim it first.
        stripped = text.strip(" \t\r\n\u202f")
        if not stripped:
            raise DataError(f"{name}: {where_a}.text: blank answer {text!r}")
        first = start + text.index(stripped)
        last = first + len(stripped) - 1
        texts.append(text)
        spans.append((char_to_word[first], char_to_word[last], text, _on_word_boundaries(context, first, last)))
    if impossible:
        return SquadExample(qid, question, context, words, (), "", -1, -1, True)
    if not spans:
        if is_training:
            raise DataError(f"{name}: {where}.answers: empty, but the question is not marked is_impossible")
        return SquadExample(qid, question, context, words, (), None, None, None, False)
    # The target is the first answer that does not cut through a word. Dev-set questions list several
    # answers, and some were located by string search inside another word ("8" in "20–18", "gold" in
    # "golden"); no token span can express those. With one answer (train files) this is run_squad.py's choice.
    start_word, end_word, target, _ = next((sp for sp in spans if sp[3]), spans[0])
    return SquadExample(qid, question, context, words, tuple(texts), target, start_word, end_word)


def _on_word_boundaries(context: str, first: int, last: int) -> bool:
    """Whether context[first:last + 1] starts and ends where BERT's basic tokenizer splits words (whitespace,
    punctuation, CJK), so that some token span can equal the answer."""
    def split_between(a: str, b: str) -> bool:
        return any(_is_whitespace(c) or c.isspace() or _is_punctuation(c) or _is_cjk(ord(c)) for c in (a, b))

    before = context[first - 1] if first > 0 else " "
    after = context[last + 1] if last + 1 < len(context) else " "
    return split_between(before, context[first]) and split_between(context[last], after)


# ---------------------------------------------------------------------------------------------- features

@dataclass(frozen=True, eq=False)
class SquadFeature:
    """One window of one example, padded to seq_len.

    input_ids / input_mask / segment_ids: np.int32 [seq_len], laid out ``[CLS] question [SEP] window [SEP]``.
    tokens: the unpadded WordPiece strings. token_to_orig_map: position -> word index in the example's
    doc_tokens, for window positions only. token_is_max_context: position -> whether this window is the one
    where that token has the most context. start/end_position: answer token positions (0 = [CLS] when the
    answer is outside the window or impossible); None unless built with is_training.
    """

    unique_id: int
    example_index: int
    doc_span_index: int
    tokens: tuple[str, ...]
    input_ids: np.ndarray
    input_mask: np.ndarray
    segment_ids: np.ndarray
    token_to_orig_map: dict
    token_is_max_context: dict
    start_position: int | None = None
    end_position: int | None = None
    is_impossible: bool = False


def _improve_answer_span(doc_ids, start, end, answer_ids):
    """Tightest sub-span of [start, end] whose tokens equal the tokenized answer.

    The word span of "1895" inside "(1895-1943)." covers the whole word; tokenizing the answer on its own
    lets us drop the bracket and the rest.
    """
    for new_start in range(start, end + 1):
        for new_end in range(end, new_start - 1, -1):
            if doc_ids[new_start:new_end + 1] == answer_ids:
                return new_start, new_end
    return start, end


def _doc_spans(n_tokens, max_tokens, doc_stride):
    spans, start = [], 0
    while start < n_tokens:
        length = min(n_tokens - start, max_tokens)
        spans.append((start, length))
        if start + length == n_tokens:
            break
        start += min(length, doc_stride)
    return spans


def _is_max_context(spans, span_index, position):
    """Whether window span_index is the one where token ``position`` has the most left/right context
    (ties go to the longer window, then the earlier one)."""
    best_score, best_index = None, None
    for i, (start, length) in enumerate(spans):
        end = start + length - 1
        if position < start or position > end:
            continue
        score = min(position - start, end - position) + 0.01 * length
        if best_score is None or score > best_score:
            best_score, best_index = score, i
    return span_index == best_index


def _tokenize_contexts(examples, tokenizer) -> dict[str, tuple[list[int], list[int], list[int]]]:
    """context -> (WordPiece ids, token -> word index, word -> first token index).

    A paragraph has ~5-10 questions, so each distinct context is tokenized once, and all their words go to the
    tokenizer in one call (one TF call per paragraph would dominate the run time).
    """
    words_of = {e.context_text: e.doc_tokens for e in examples}
    flat = [w for words in words_of.values() for w in words]
    flat_ids = tokenizer.encode(flat) if flat else []
    out, at = {}, 0
    for context, words in words_of.items():
        doc_ids, tok_to_orig, orig_to_tok = [], [], []
        for w, ids in enumerate(flat_ids[at:at + len(words)]):
            orig_to_tok.append(len(doc_ids))
            doc_ids.extend(ids)
            tok_to_orig.extend([w] * len(ids))
        out[context], at = (doc_ids, tok_to_orig, orig_to_tok), at + len(words)
    return out


def convert_examples_to_features(examples, tokenizer, seq_len: int = 384, doc_stride: int = 128,
                                 max_query_length: int = 64, is_training: bool = False) -> list[SquadFeature]:
    """Windows of ``examples`` as features, in example order.

    tokenizer: ``mobilebert_tf.tokenization.BertTokenizer`` (``encode(list[str]) -> list[list[int]]``,
    ``cls_id``, ``sep_id``, ``pad_id``, ``vocab``). is_training: set start/end positions (first answer).
    """
    if max_query_length < 1 or doc_stride < 1:
        raise UsageError(f"max_query_length and doc_stride must be positive, got {max_query_length}, {doc_stride}")
    vocab = tokenizer.vocab
    queries = tokenizer.encode([e.question_text for e in examples])
    answers = tokenizer.encode([e.orig_answer_text or "" for e in examples]) if is_training else None
    contexts = _tokenize_contexts(examples, tokenizer)
    features = []
    for ex_index, example in enumerate(examples):
        doc_ids, tok_to_orig, orig_to_tok = contexts[example.context_text]
        query = list(queries[ex_index][:max_query_length])
        max_tokens_for_doc = seq_len - len(query) - 3  # [CLS] question [SEP] window [SEP]
        if max_tokens_for_doc < 1:
            raise UsageError(f"seq_len {seq_len} leaves no room for the context of question {example.qas_id} "
                             f"({len(query)} tokens); lower max_query_length")

        tok_start = tok_end = None
        if is_training and not example.is_impossible:
            if example.start_position is None:
                raise DataError(f"example {example.qas_id}: no answer to train on and not marked is_impossible")
            tok_start = orig_to_tok[example.start_position]
            # The answer's last word ends one token before the next word starts.
            tok_end = (orig_to_tok[example.end_position + 1] - 1 if example.end_position + 1 < len(orig_to_tok)
                       else len(doc_ids) - 1)
            tok_start, tok_end = _improve_answer_span(doc_ids, tok_start, tok_end, list(answers[ex_index]))

        spans = _doc_spans(len(doc_ids), max_tokens_for_doc, doc_stride)
        for span_index, (start, length) in enumerate(spans):
            ids = [tokenizer.cls_id] + query + [tokenizer.sep_id]
            n_first = len(ids)
            token_to_orig, max_context = {}, {}
            for i in range(length):
                token_to_orig[n_first + i] = tok_to_orig[start + i]
                max_context[n_first + i] = _is_max_context(spans, span_index, start + i)
            ids += doc_ids[start:start + length] + [tokenizer.sep_id]
            n = len(ids)
            input_ids = np.full(seq_len, tokenizer.pad_id, np.int32)
            input_ids[:n] = ids
            input_mask = np.zeros(seq_len, np.int32)
            input_mask[:n] = 1
            segment_ids = np.zeros(seq_len, np.int32)
            segment_ids[n_first:n] = 1

            start_pos = end_pos = None
            if is_training:
                if example.is_impossible or not (start <= tok_start and tok_end <= start + length - 1):
                    start_pos = end_pos = 0  # target [CLS]: "no answer in this window"
                else:
                    start_pos, end_pos = tok_start - start + n_first, tok_end - start + n_first
            features.append(SquadFeature(
                unique_id=len(features), example_index=ex_index, doc_span_index=span_index,
                tokens=tuple(vocab[i] for i in ids), input_ids=input_ids, input_mask=input_mask,
                segment_ids=segment_ids, token_to_orig_map=token_to_orig, token_is_max_context=max_context,
                start_position=start_pos, end_position=end_pos, is_impossible=bool(example.is_impossible)))
    return features


def features_to_arrays(features) -> dict[str, np.ndarray]:
    """Stacked model inputs: input_ids / input_mask / segment_ids [N, seq] int32, plus start_positions /
    end_positions [N] int32 when the features carry them."""
    if not features:
        raise DataError("no SQuAD features: no question with a non-empty context")
    out = {k: np.stack([getattr(f, k) for f in features]) for k in ("input_ids", "input_mask", "segment_ids")}
    if features and features[0].start_position is not None:
        out["start_positions"] = np.array([f.start_position for f in features], np.int32)
        out["end_positions"] = np.array([f.end_position for f in features], np.int32)
    return out


# ---------------------------------------------------------------------------------------------- predictions

def _basic_tokenize(text: str, lowercase: bool) -> list[str]:
    """BERT's basic tokenization (clean, optional lower-case + accent strip, split punctuation and CJK):
    the same text the WordPiece tokens were cut from, so predicted text can be aligned with it."""
    out = []
    for word in text.split():
        if lowercase:
            word = "".join(c for c in unicodedata.normalize("NFD", word.lower()) if unicodedata.category(c) != "Mn")
        piece = ""
        for c in word:
            cp = ord(c)
            if cp == 0 or cp == 0xFFFD or (unicodedata.category(c).startswith("C") and c not in "\t\n\r"):
                continue
            if _is_punctuation(c) or _is_cjk(cp):
                if piece:
                    out.append(piece)
                out.append(c)
                piece = ""
            else:
                piece += c
        if piece:
            out.append(piece)
    return out


def _is_punctuation(c: str) -> bool:
    cp = ord(c)
    # BERT treats all non-alphanumeric ASCII as punctuation ("$", "^", "`"), though Unicode does not.
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(c).startswith("P")


def _is_cjk(cp: int) -> bool:
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F
            or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF
            or 0x2F800 <= cp <= 0x2FA1F)


def _strip_spaces(text):
    chars, ns_to_s = [], {}
    for i, c in enumerate(text):
        if c == " ":
            continue
        ns_to_s[len(chars)] = i
        chars.append(c)
    return "".join(chars), ns_to_s


def get_final_text(pred_text: str, orig_text: str, lowercase: bool = True) -> str:
    """The part of ``orig_text`` (original words, e.g. "Steve Smith's") that ``pred_text`` (de-tokenized
    WordPiece, e.g. "steve smith") covers: "Steve Smith". Falls back to orig_text when they can't be aligned.

    Aligns character by character with spaces removed: basic tokenization only inserts spaces (and, when
    lower-casing, changes case and drops accents), so non-space characters correspond one to one unless
    accent stripping changed the length, which is the fallback case.
    """
    tok_text = " ".join(_basic_tokenize(orig_text, lowercase))
    start = tok_text.find(pred_text)
    if start == -1:
        return orig_text
    end = start + len(pred_text) - 1
    orig_ns, orig_ns_to_s = _strip_spaces(orig_text)
    tok_ns, tok_ns_to_s = _strip_spaces(tok_text)
    if len(orig_ns) != len(tok_ns):
        return orig_text
    tok_s_to_ns = {s: ns for ns, s in tok_ns_to_s.items()}
    if start not in tok_s_to_ns or end not in tok_s_to_ns:
        return orig_text
    orig_start = orig_ns_to_s.get(tok_s_to_ns[start])
    orig_end = orig_ns_to_s.get(tok_s_to_ns[end])
    if orig_start is None or orig_end is None:
        return orig_text
    return orig_text[orig_start:orig_end + 1]


def _softmax(scores):
    if not scores:
        return []
    x = np.asarray(scores, np.float64)
    e = np.exp(x - x.max())
    return list(e / e.sum())


_Prelim = collections.namedtuple("_Prelim", "feature_index start_index end_index start_logit end_logit")


def postprocess_predictions(examples, features, start_logits, end_logits, n_best: int = 20,
                            max_answer_length: int = 30, version_2: bool = False, null_threshold: float = 0.0,
                            lowercase: bool = True):
    """Answer texts from per-token logits.

    start_logits / end_logits: [num_features, seq_len], row i for ``features[i]``.
    Returns (predictions qid -> text, nbest qid -> list of {text, probability, start_logit, end_logit},
    na_probs qid -> null score minus best non-null score; empty for v1.1). With version_2, a question whose
    score difference exceeds null_threshold is answered "" (no answer).
    """
    start_logits = np.asarray(start_logits, np.float64)
    end_logits = np.asarray(end_logits, np.float64)
    if start_logits.shape != end_logits.shape or start_logits.ndim != 2 or len(start_logits) != len(features):
        raise ValueError(f"start/end logits must both be [num_features={len(features)}, seq_len], got "
                         f"{start_logits.shape} and {end_logits.shape}")
    # Top-n positions per feature, ties in position order as run_squad.py's stable sort.
    top_start = np.argsort(-start_logits, axis=1, kind="stable")[:, :n_best].tolist()
    top_end = np.argsort(-end_logits, axis=1, kind="stable")[:, :n_best].tolist()
    by_example = collections.defaultdict(list)
    for i, f in enumerate(features):
        by_example[f.example_index].append(i)

    predictions, nbest_out, na_probs = {}, {}, {}
    for ex_index, example in enumerate(examples):
        prelim = []
        score_null, null_entry = 1e6, None  # run_squad.py's start value: no window -> "no answer" wins
        for fi in by_example.get(ex_index, []):
            f, s_log, e_log = features[fi], start_logits[fi], end_logits[fi]
            if version_2 and s_log[0] + e_log[0] < score_null:
                score_null = s_log[0] + e_log[0]
                null_entry = _Prelim(fi, 0, 0, s_log[0], e_log[0])
            n_tok = len(f.tokens)
            for s in top_start[fi]:
                for e in top_end[fi]:
                    # Only spans inside the window's context, in this token's best window, and not too long.
                    if s >= n_tok or e >= n_tok or s not in f.token_to_orig_map or e not in f.token_to_orig_map:
                        continue
                    if not f.token_is_max_context.get(s, False) or e < s or e - s + 1 > max_answer_length:
                        continue
                    prelim.append(_Prelim(fi, s, e, s_log[s], e_log[e]))
        if null_entry is not None:
            prelim.append(null_entry)
        prelim.sort(key=lambda p: p.start_logit + p.end_logit, reverse=True)

        nbest, seen = [], set()
        for p in prelim:
            if len(nbest) >= n_best:
                break
            if p.start_index > 0:
                f = features[p.feature_index]
                tok_text = " ".join(f.tokens[p.start_index:p.end_index + 1]).replace(" ##", "").replace("##", "")
                tok_text = " ".join(tok_text.split())
                w0, w1 = f.token_to_orig_map[p.start_index], f.token_to_orig_map[p.end_index]
                text = get_final_text(tok_text, " ".join(example.doc_tokens[w0:w1 + 1]), lowercase)
            else:
                text = ""
            if text in seen:
                continue
            seen.add(text)
            nbest.append((text, p.start_logit, p.end_logit))
        if version_2 and "" not in seen and null_entry is not None:
            nbest.append(("", null_entry.start_logit, null_entry.end_logit))
        if not nbest:
            nbest.append(("empty", 0.0, 0.0))  # run_squad.py's placeholder so every question gets an answer
        probs = _softmax([s + e for _, s, e in nbest])
        nbest_out[example.qas_id] = [{"text": t, "probability": float(pr), "start_logit": float(s),
                                      "end_logit": float(e)} for (t, s, e), pr in zip(nbest, probs)]
        best_non_null = next((entry for entry in nbest if entry[0]), None)
        if not version_2:
            predictions[example.qas_id] = nbest[0][0]
        elif best_non_null is None:  # only the null answer survived the filters
            predictions[example.qas_id] = ""
            na_probs[example.qas_id] = 1e6
        else:
            diff = score_null - best_non_null[1] - best_non_null[2]
            na_probs[example.qas_id] = float(diff)
            predictions[example.qas_id] = "" if diff > null_threshold else best_non_null[0]
    return predictions, nbest_out, na_probs
