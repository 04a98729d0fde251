"""Real task inputs for calibration (int8) and the accuracy gate, packed to the export's seq len
(dynamic exports: packed at the position table's length + 1, then run at each example's own length).

- classifier / encoder: SST-2 sentences (gate: dev; calibration: train), labels for the gate.
- qa: SQuAD v1.1 features (gate: the first two dev articles; calibration: later articles of the
  dev set, since shared/data has no SQuAD train file).
``--calibration-data FILE``: ``.txt`` (a text per line), ``.tsv`` (GLUE layout with a ``sentence``
or ``sentence1``/``sentence2`` or ``question``/``sentence`` header) or ``.json`` (SQuAD).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mobilebert_tf.data import DataError
from mobilebert_tf.paths import require


@dataclass
class TaskInputs:
    """Packed inputs, int32 [N, seq] each, plus what the gate needs to score them.

    Args:
      input_ids: WordPiece ids, padded with 0.
      input_mask: 1 for real tokens, 0 for padding (padding last).
      segment_ids: 0 for the first segment, 1 for the second.
      labels: class labels (classifier gate), or None.
      squad_examples: the SQuAD questions (qa gate), or None.
      squad_features: their windows, one per row (qa gate), or None.
      source: where the examples came from, for reports and messages.
    Example:
      ``sst2_inputs(tokenizer, "data", "dev", 100, 128).batch(0)["input_ids"].shape == (1, 128)``
    """
    input_ids: np.ndarray
    input_mask: np.ndarray
    segment_ids: np.ndarray
    labels: np.ndarray | None = None           # classifier gate
    squad_examples: list | None = None         # qa gate
    squad_features: list | None = None
    source: str = ""

    def __len__(self):
        return len(self.input_ids)

    def batch(self, i: int) -> dict[str, np.ndarray]:
        """Example ``i`` as padded: ``input_ids``, ``input_mask``, ``segment_ids`` int32 [1, seq]."""
        return {k: getattr(self, k)[i:i + 1] for k in ("input_ids", "input_mask", "segment_ids")}

    def lengths(self) -> np.ndarray:
        """Each example's token count (its mask's ones; padding comes last)."""
        return self.input_mask.sum(axis=1).astype(np.int64)

    def own_length(self, i: int) -> dict[str, np.ndarray]:
        """Example ``i`` without its padding: int32 [1, n] each, n its token count."""
        n = int(self.lengths()[i])
        return {k: getattr(self, k)[i:i + 1, :n] for k in ("input_ids", "input_mask", "segment_ids")}

    def check_fits(self, max_len: int) -> None:
        """DataError naming the first example longer than ``max_len`` tokens. Pack at ``max_len + 1`` for
        this to see them: an example that filled the whole row may have been cut."""
        long = np.flatnonzero(self.lengths() > max_len)
        if long.size:
            raise DataError(f"{self.source}: example {int(long[0]) + 1} has more than {max_len} tokens, the "
                            f"longest input this model takes (its position table); shorten or split it")


def _pack_texts(tokenizer, texts_a, texts_b, seq_len, source, labels=None) -> TaskInputs:
    packed = (tokenizer.encode_pair(texts_a, texts_b, seq_len) if texts_b is not None
              else tokenizer.encode_single(texts_a, seq_len))
    return TaskInputs(packed["input_ids"], packed["input_mask"], packed["segment_ids"],
                      labels=None if labels is None else np.asarray(labels), source=source)


def sst2_inputs(tokenizer, data_dir, split: str, n: int, seq_len: int) -> TaskInputs:
    """The first ``n`` SST-2 sentences of ``split``, with their labels.

    Args:
      tokenizer: a ``BertTokenizer``.
      data_dir: the shared data folder (``glue/SST-2/{split}.tsv``).
      split: ``train`` | ``dev``.
      n: how many sentences.
      seq_len: the packed length (longer sentences are cut).
    Returns:
      TaskInputs with labels.
    Example:
      ``sst2_inputs(tokenizer, "data", "dev", 100, 128)``
    """
    from mobilebert_tf.data.glue import read_glue

    path = require(Path(data_dir) / "glue" / "SST-2" / f"{split}.tsv", "SST-2 data")
    examples = read_glue("sst-2", path, split)[:n]
    return _pack_texts(tokenizer, [e.text_a for e in examples], None, seq_len, f"{path} (first {len(examples)})",
                       labels=[e.label for e in examples])


def glue_inputs(tokenizer, data_dir, task_name: str, split: str, n: int, seq_len: int) -> TaskInputs:
    """The first ``n`` examples of GLUE ``task_name``'s ``split`` (sentence pairs packed as pairs), with class
    labels for classification tasks: a model is gated and calibrated on its own task's data.

    Args:
      tokenizer: a ``BertTokenizer``.
      data_dir: the shared data folder (``glue/<TASK>/``).
      task_name: a GLUE task name (``mobilebert_tf.data.glue.get_task``).
      split: ``train`` | ``dev``.
      n: how many examples.
      seq_len: the packed length.
    Returns:
      TaskInputs (labels for classification tasks; None for regression).
    Example:
        >>> glue_inputs(tokenizer, "data", "rte", "dev", 100, 128).source
    """
    from mobilebert_tf.data.glue import get_task, read_glue, resolve_glue_file

    task = get_task(task_name)
    path = resolve_glue_file(task, Path(data_dir) / "glue", split)
    examples = read_glue(task, path, split)[:n]
    if not examples:
        raise DataError(f"{path}: no examples")
    labels = [e.label for e in examples] if task.labels and all(isinstance(e.label, int) for e in examples) else None
    texts_b = [e.text_b for e in examples] if task.text_b else None
    return _pack_texts(tokenizer, [e.text_a for e in examples], texts_b, seq_len,
                       f"{path} ({task.name} {split}, first {len(examples)})", labels=labels)


def _own_task(glue_task: str | None) -> str | None:
    """``glue_task`` when it names a GLUE task (the fine-tuned model's model.json "task"), else None."""
    from mobilebert_tf.data.glue import get_task

    if not glue_task:
        return None
    try:
        return get_task(glue_task).name
    except DataError:
        return None


def squad_inputs(tokenizer, source, n: int, seq_len: int, skip_articles: int = 0) -> TaskInputs:
    """SQuAD v1.1 questions as windows of ``seq_len`` tokens: whole questions only, as many as fit in ``n``
    windows (at least one).

    Args:
      tokenizer: a ``BertTokenizer``.
      source: a SQuAD .json (or .json.zip) file.
      n: the most windows.
      seq_len: the window length.
      skip_articles: leave out the first articles (calibration stays disjoint from the gate's).
    Returns:
      TaskInputs with ``squad_examples`` and ``squad_features``.
    Example:
      ``squad_inputs(tokenizer, "data/squad/dev-v1.1-first2articles.json", 100, 384)``
    """
    from mobilebert_tf.data import squad

    data = squad.load_json(source)
    if skip_articles:
        data = {**data, "data": data["data"][skip_articles:]}
    examples = squad.read_squad(data, is_training=False)[:n]
    features = squad.convert_examples_to_features(examples, tokenizer, seq_len=seq_len, is_training=False)
    # keep whole questions only: cut at the last example all of whose windows fit in n
    count_per_example = np.bincount([f.example_index for f in features], minlength=len(examples))
    # (at least one question, even when its windows alone exceed n)
    n_examples = max(1, int(np.searchsorted(np.cumsum(count_per_example), n, side="right")))
    kept = examples[:n_examples]
    features = [f for f in features if f.example_index < n_examples]
    if not features:
        raise DataError(f"{source}: no SQuAD features could be made")
    arrays = squad.features_to_arrays(features)
    return TaskInputs(arrays["input_ids"], arrays["input_mask"], arrays["segment_ids"], squad_examples=kept,
                      squad_features=features, source=f"{source} ({len(kept)} questions, {len(features)} windows)")


def file_inputs(tokenizer, path, n: int, seq_len: int) -> TaskInputs:
    """Texts from a user file: ``.txt`` (a text per line), GLUE ``.tsv`` (sentence / sentence pair columns)
    or SQuAD ``.json``.

    Args:
      tokenizer: a ``BertTokenizer``.
      path: the file.
      n: how many examples (the first ones).
      seq_len: the packed length.
    Returns:
      TaskInputs (without labels; SQuAD files give questions and windows).
    Example:
      ``file_inputs(tokenizer, "calibration.txt", 100, 128)``
    """
    path = Path(require(path, "calibration data"))
    if path.suffix in (".json", ".zip"):
        return squad_inputs(tokenizer, path, n, seq_len)
    if path.suffix == ".tsv":
        with open(path, encoding="utf-8-sig", newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
        if not rows:
            raise DataError(f"{path}: no rows")
        for a, b in (("sentence", None), ("sentence1", "sentence2"), ("question", "sentence"),
                     ("#1 String", "#2 String")):
            if a in rows[0] and (b is None or b in rows[0]):
                rows = rows[:n]
                return _pack_texts(tokenizer, [r[a] for r in rows], None if b is None else [r[b] for r in rows],
                                   seq_len, str(path))
        raise DataError(f"{path}: header has none of the text columns sentence, sentence1/sentence2, "
                        f"question/sentence; got {list(rows[0])}")
    lines = [line.strip() for line in open(path, encoding="utf-8") if line.strip()][:n]
    if not lines:
        raise DataError(f"{path}: file has no text lines")
    return _pack_texts(tokenizer, lines, None, seq_len, str(path))


def gate_inputs(task: str, tokenizer, data_dir, n: int, seq_len: int, gate_file=None,
                glue_task: str | None = None) -> TaskInputs:
    """Accuracy-gate inputs: ``gate_file``, else the model's own GLUE task dev set (``glue_task``, e.g. RTE
    sentence pairs), else SST-2 dev (classifier / encoder) or the first SQuAD dev articles (qa).

    Args:
      task: ``encoder`` | ``classifier`` | ``qa``.
      tokenizer: a ``BertTokenizer``.
      data_dir: the shared data folder.
      n: how many examples (qa: windows).
      seq_len: the packed length.
      gate_file: a user file (``--gate-data``) instead of the defaults.
      glue_task: the fine-tuned model's GLUE task, e.g. ``"rte"``.
    Returns:
      TaskInputs.
    Example:
      ``gate_inputs("classifier", tokenizer, "data", 100, 128)``
    """
    if gate_file is not None:
        inputs = file_inputs(tokenizer, gate_file, n, seq_len)
        if task == "qa" and inputs.squad_features is None:
            raise DataError(f"{gate_file}: the QA gate needs a SQuAD .json file")
        return inputs
    if task == "qa":
        return squad_inputs(tokenizer, require(Path(data_dir) / "squad" / "dev-v1.1-first2articles.json",
                                               "SQuAD data"), n, seq_len)
    if _own_task(glue_task):
        return glue_inputs(tokenizer, data_dir, _own_task(glue_task), "dev", n, seq_len)
    return sst2_inputs(tokenizer, data_dir, "dev", n, seq_len)


def calibration_inputs(task: str, tokenizer, data_dir, n: int, seq_len: int, calibration_file=None,
                       glue_task: str | None = None) -> TaskInputs:
    """Calibration inputs: ``calibration_file``, else the model's own GLUE task train set (``glue_task``), else
    SST-2 train (classifier / encoder) or SQuAD dev articles 3+ (qa; disjoint from the gate's first two).

    Args:
      task: ``encoder`` | ``classifier`` | ``qa``.
      tokenizer: a ``BertTokenizer``.
      data_dir: the shared data folder.
      n: how many examples (qa: windows).
      seq_len: the packed length.
      calibration_file: a user file (``--calibration-data``) instead of the defaults.
      glue_task: the fine-tuned model's GLUE task, e.g. ``"rte"``.
    Returns:
      TaskInputs.
    Example:
      ``representative_dataset(calibration_inputs("classifier", tokenizer, "data", 100, 128))``
    """
    if calibration_file is not None:
        return file_inputs(tokenizer, calibration_file, n, seq_len)
    if task == "qa":
        # articles 3.. of the dev set: disjoint from the gate's first two articles
        return squad_inputs(tokenizer, require(Path(data_dir) / "squad" / "dev-v1.1.json.zip", "SQuAD data"),
                            n, seq_len, skip_articles=2)
    if _own_task(glue_task):
        return glue_inputs(tokenizer, data_dir, _own_task(glue_task), "train", n, seq_len)
    return sst2_inputs(tokenizer, data_dir, "train", n, seq_len)
