"""Inference with a fine-tuned model directory: classify (or score) sentences and sentence pairs, answer
questions over a context. Everything it needs (vocab, labels, seq_len, doc stride) comes from the directory."""
from __future__ import annotations

import json
from typing import Any, Iterable, Sequence

import numpy as np

from mobilebert_tf.data import DataError
from mobilebert_tf.models import InputError
from mobilebert_tf.tokenization import check_text

__all__ = ["Predictor", "read_jsonl_records"]


class Predictor:
    """A fine-tuned model directory ready to predict: ``classify(texts, texts_b=None)``,
    ``answer(questions, contexts)``, ``predict_records(records)`` (dicts with ``text``[/``text_b``] or
    ``question`` + ``context``). What ``mobilebert predict`` runs.

    Args:
        model_dir: the directory (model, task, labels, vocab and settings all come from it).
        batch_size: rows per call.

    Example:
        >>> Predictor("runs/sst2").classify(["a gripping film"])[0]["label"]
        'positive'
    """

    def __init__(self, model_dir, *, batch_size: int = 32):
        from mobilebert_tf.finetuning.modeling import load_task_model, resolve_vocab
        from mobilebert_tf.finetuning.pipeline import settings_from_info
        from mobilebert_tf.tokenization import BertTokenizer

        self.model, self.info, self.task = load_task_model(model_dir)
        self.settings = settings_from_info(self.info, self.task)
        self.lowercase = bool(self.info.get("lowercase", True))
        self.tokenizer = BertTokenizer(resolve_vocab(str(model_dir)), lowercase=self.lowercase)
        self.batch_size = batch_size
        self.labels = list(self.info.get("labels") or self.task.labels)

    @property
    def kind(self) -> str:
        return self.task.kind

    def classify(self, texts: Sequence[str], texts_b: Sequence[str | None] | None = None) -> list[dict[str, Any]]:
        """Per text: ``{"label", "probabilities": {label: p}}``, or ``{"score"}`` for a regression model.
        texts_b: second sentences for pair tasks (MRPC, RTE, ...)."""
        from mobilebert_tf.finetuning.evaluation import predict_logits

        if self.kind == "span":
            raise DataError(f"{self.task.name} model answers questions: give a question and a context, not a text")
        seq = self.settings.seq_len
        if texts_b is not None and any(b is not None for b in texts_b):
            inputs = self.tokenizer.encode_pair(list(texts), [b or "" for b in texts_b], seq)
        else:
            inputs = self.tokenizer.encode_single(list(texts), seq)
        logits = predict_logits(self.model, inputs, ("logits",), self.batch_size)["logits"]
        if self.kind == "regression":
            return [{"score": float(row[0])} for row in logits]
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        return [{"label": self.labels[int(p.argmax())],
                 "probabilities": {name: round(float(x), 6) for name, x in zip(self.labels, p)}} for p in probs]

    def answer(self, questions: Sequence[str], contexts: Sequence[str], n_best: int = 3) -> list[dict[str, Any]]:
        """Per question: ``{"answer", "probability", "nbest": [{"text", "probability"}, ...]}``; a SQuAD v2.0
        model answers ``""`` when it judges the context to hold no answer (``no_answer`` true)."""
        from mobilebert_tf.data.squad import (convert_examples_to_features, features_to_arrays,
                                              postprocess_predictions, read_squad)
        from mobilebert_tf.finetuning.evaluation import predict_logits

        if self.kind != "span":
            raise DataError(f"{self.task.name} model classifies text: give a text, not a question and a context")
        if len(questions) != len(contexts):
            raise InputError(f"{len(questions)} questions but {len(contexts)} contexts")
        dataset = {"data": [{"paragraphs": [{"context": c, "qas": [{"id": str(i), "question": q, "answers": []}]}]}
                            for i, (q, c) in enumerate(zip(questions, contexts))]}
        examples = read_squad(dataset)
        s = self.settings
        features = convert_examples_to_features(examples, self.tokenizer, seq_len=s.seq_len, doc_stride=s.doc_stride,
                                                max_query_length=s.max_query_length)
        out = predict_logits(self.model, features_to_arrays(features), ("start_logits", "end_logits"), self.batch_size)
        version_2 = self.task.squad_version == 2
        preds, nbest, _ = postprocess_predictions(examples, features, out["start_logits"], out["end_logits"],
                                                  n_best=max(s.n_best, n_best), max_answer_length=s.max_answer_length,
                                                  version_2=version_2, null_threshold=s.null_threshold,
                                                  lowercase=self.lowercase)
        results = []
        for ex in examples:
            entries = nbest[ex.qas_id]
            text = preds[ex.qas_id]
            prob = next((e["probability"] for e in entries if e["text"] == text), 0.0)
            row = {"answer": text, "probability": round(float(prob), 6),
                   "nbest": [{"text": e["text"], "probability": round(e["probability"], 6)} for e in entries[:n_best]]}
            if version_2:
                row["no_answer"] = text == ""
            results.append(row)
        return results

    def predict_records(self, records: Iterable[dict], source: str = "input",
                        line_numbers: Sequence[int] | None = None) -> list[dict[str, Any]]:
        """Predictions for dicts ``{"text": .., "text_b": ..}`` or ``{"question": .., "context": ..}``; other keys
        (an ``id``) are copied to the output. A record of the wrong kind for the model is a DataError naming
        its line (``line_numbers``, default 1, 2, ...)."""
        records = list(records)
        line_numbers = list(line_numbers) if line_numbers is not None else list(range(1, len(records) + 1))
        need = ("question", "context") if self.kind == "span" else ("text",)
        for i, r in zip(line_numbers, records):
            if not isinstance(r, dict):
                raise DataError(f"{source}:{i}: expected a JSON object, got {type(r).__name__}")
            missing = [k for k in need if not isinstance(r.get(k), str)]
            if missing:
                kind = "a question-answering" if self.kind == "span" else f"a {self.kind}"
                raise DataError(f"{source}:{i}: {kind} model needs string field(s) {', '.join(map(repr, need))}; "
                                f"missing or not a string: {', '.join(map(repr, missing))}")
            if "text_b" in r and r["text_b"] is not None and not isinstance(r["text_b"], str):
                raise DataError(f"{source}:{i}: 'text_b' must be a string")
            for key in need + (("text_b",) if r.get("text_b") is not None else ()):
                if not r[key].strip():
                    raise DataError(f"{source}:{i}: {key!r} is empty; nothing to " +
                                    ("answer from" if key == "context" else "predict on"))
                check_text(r[key], f"{source}:{i}: {key!r}")
        if not records:
            return []
        if self.kind == "span":
            outs = self.answer([r["question"] for r in records], [r["context"] for r in records])
        else:
            pair = any(r.get("text_b") is not None for r in records)
            outs = self.classify([r["text"] for r in records], [r.get("text_b") for r in records] if pair else None)
        passthrough = lambda r: {k: v for k, v in r.items() if k not in need + ("text_b",)}  # noqa: E731
        results = [{**passthrough(r), **o} for r, o in zip(records, outs)]
        for row, cut in zip(results, self._truncation(records)):
            if cut:
                row["truncated"] = cut  # the model saw only part of the input: say so
        return results

    def _truncation(self, records: list[dict]) -> list[str | None]:
        """Per record, what was cut to fit the model's sequence length (None: nothing)."""
        seq = self.settings.seq_len
        if self.kind == "span":  # long contexts are read in windows (doc stride); only a long question is cut
            lengths = [len(ids) for ids in self.tokenizer.encode([r["question"] for r in records])]
            return [f"question: {n} tokens, {self.settings.max_query_length} used" if n > self.settings.max_query_length
                    else None for n in lengths]
        a = self.tokenizer.encode([r["text"] for r in records])
        b = self.tokenizer.encode([r.get("text_b") or "" for r in records])
        out = []
        for r, ia, ib in zip(records, a, b):
            n = len(ia) + len(ib) + (3 if r.get("text_b") is not None else 2)
            out.append(f"{n} tokens with [CLS]/[SEP], {seq} used" if n > seq else None)
        return out


def read_jsonl_records(path) -> list[tuple[int, Any]]:
    """Read a JSON-lines file; blank lines are skipped.

    Args:
        path: the .jsonl file.

    Returns:
        ``[(line number, object), ...]``.

    Raises:
        DataError: a missing or non-UTF-8 file, or bad JSON (naming the line).

    Example:
        >>> read_jsonl_records("in.jsonl")
        [(1, {'text': 'fine'})]
    """
    records = []
    try:
        with open(path, encoding="utf-8-sig") as f:
            lines = f.read().split("\n")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append((n, json.loads(line)))
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{n}: invalid JSON: {e.msg} at column {e.colno}") from None
    return records
