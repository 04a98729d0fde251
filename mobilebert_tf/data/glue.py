"""Readers for the nine GLUE tasks in the official TSV layout (as ``download_glue_data.py`` writes them).

Each task is a ``GlueTask`` record in ``TASKS``; ``read_glue(task, path, split)`` returns ``GlueExample``s.
Columns are found by header name, so extra columns (MNLI's parses and label1..label5) are ignored;
CoLA's train/dev files have no header and get their column names from the task record.
Files are split on tabs with no quote handling: GLUE text contains unbalanced ``"`` (MRPC).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from mobilebert_tf.data import DataError

__all__ = ["GlueTask", "GlueExample", "TASKS", "get_task", "read_glue", "resolve_glue_file"]


@dataclass(frozen=True)
class GlueTask:
    """One GLUE task's file layout, labels and metrics.

    labels: label strings as written in the files, in class-id order; None for regression (STS-B).
    text_a / text_b: header names of the text columns (text_b None for single-sentence tasks).
    label_column / id_column: header names; id_column None when rows have no id (SST-2 train/dev, CoLA).
    files: (split, file name inside ``dir_name``) pairs; test splits are unlabeled.
    headerless: splits whose files have no header row (CoLA train/dev); their columns are ``columns``.
    """

    name: str
    dir_name: str
    labels: tuple[str, ...] | None
    text_a: str
    text_b: str | None
    label_column: str
    id_column: str | None
    metrics: tuple[str, ...]
    files: tuple[tuple[str, str], ...]
    headerless: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    score_range: tuple[float, float] | None = None

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(split for split, _ in self.files)

    def file_name(self, split: str) -> str:
        for s, name in self.files:
            if s == split:
                return name
        raise DataError(f"task {self.name} has no split {split!r}; valid splits: {', '.join(self.splits)}")

    @property
    def is_regression(self) -> bool:
        return self.labels is None

    @property
    def num_labels(self) -> int:
        """Classifier width: number of classes, 1 for regression."""
        return 1 if self.labels is None else len(self.labels)


@dataclass(frozen=True)
class GlueExample:
    """One row. label: class id (index into ``GlueTask.labels``), float score (STS-B), or None (test)."""

    guid: str
    text_a: str
    text_b: str | None
    label: int | float | None


_STD_FILES = (("train", "train.tsv"), ("dev", "dev.tsv"), ("test", "test.tsv"))


def _task(name, dir_name, labels, text_a, text_b, label_column, id_column, metrics, files=_STD_FILES,
          **kw) -> GlueTask:
    return GlueTask(name, dir_name, labels, text_a, text_b, label_column, id_column, metrics, files, **kw)


_MNLI_LABELS = ("contradiction", "entailment", "neutral")  # google-research/bert's MnliProcessor order
_NLI2 = ("entailment", "not_entailment")

TASKS: dict[str, GlueTask] = {t.name: t for t in [
    _task("cola", "CoLA", ("0", "1"), "sentence", None, "label", "index", ("mcc",),
          headerless=("train", "dev"), columns=("source", "label", "author_mark", "sentence")),
    _task("sst-2", "SST-2", ("0", "1"), "sentence", None, "label", "index", ("accuracy",)),
    _task("mrpc", "MRPC", ("0", "1"), "#1 String", "#2 String", "Quality", "index", ("accuracy", "f1")),
    _task("sts-b", "STS-B", None, "sentence1", "sentence2", "score", "index", ("pearson", "spearman", "corr"),
          score_range=(0.0, 5.0)),
    _task("qqp", "QQP", ("0", "1"), "question1", "question2", "is_duplicate", "id", ("accuracy", "f1")),
    _task("mnli", "MNLI", _MNLI_LABELS, "sentence1", "sentence2", "gold_label", "index", ("accuracy",),
          files=(("train", "train.tsv"), ("dev", "dev_matched.tsv"), ("test", "test_matched.tsv"))),
    _task("mnli-mm", "MNLI", _MNLI_LABELS, "sentence1", "sentence2", "gold_label", "index", ("accuracy",),
          files=(("train", "train.tsv"), ("dev", "dev_mismatched.tsv"), ("test", "test_mismatched.tsv"))),
    _task("qnli", "QNLI", _NLI2, "question", "sentence", "label", "index", ("accuracy",)),
    _task("rte", "RTE", _NLI2, "sentence1", "sentence2", "label", "index", ("accuracy",)),
    _task("wnli", "WNLI", ("0", "1"), "sentence1", "sentence2", "label", "index", ("accuracy",)),
]}

_ALIASES = {"sst2": "sst-2", "stsb": "sts-b", "mnli-m": "mnli", "mnli-matched": "mnli", "mnli-mismatched": "mnli-mm"}


def get_task(name: str) -> GlueTask:
    """Task by name, case-insensitive; ``_`` and ``-`` are the same (``"SST-2"``, ``"sst2"``, ``"sst_2"``)."""
    key = name.strip().lower().replace("_", "-") if isinstance(name, str) else None
    key = _ALIASES.get(key, key)
    if key not in TASKS:
        raise DataError(f"unknown GLUE task {name!r}; valid names: {', '.join(TASKS)}")
    return TASKS[key]


def resolve_glue_file(task: GlueTask, path, split: str) -> Path:
    """The TSV for ``split``: ``path`` itself if a file, else ``path/<file>`` or ``path/<TaskDir>/<file>``."""
    name = task.file_name(split)
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise DataError(f"{path}: no such file or folder (GLUE {task.name} {split})")
    candidates = [path / name, path / task.dir_name / name]
    for c in candidates:
        if c.is_file():
            return c
    raise DataError(f"{candidates[0]}: GLUE {task.name} {split} file not found "
                    f"(also looked for {candidates[1]})")


def read_glue(task: GlueTask | str, path, split: str = "train") -> list[GlueExample]:
    """Read one split of a task. path: the TSV itself, its task folder, or the GLUE root folder.

    Raises DataError naming file, 1-based line and problem for a missing file or column, a row with the
    wrong number of fields, or a label outside the task's label set.
    """
    task = get_task(task) if isinstance(task, str) else task
    file = resolve_glue_file(task, path, split)
    try:
        # utf-8-sig: GLUE's MRPC files start with a BOM, which would otherwise glue onto the first column name.
        lines = file.read_text(encoding="utf-8-sig").split("\n")
    except UnicodeDecodeError as e:
        raise DataError(f"{file}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    if lines and lines[-1] == "":
        lines.pop()  # trailing newline; CoLA dev has none, which is why we don't use splitlines() blindly
    lines = [ln[:-1] if ln.endswith("\r") else ln for ln in lines]

    if split in task.headerless:
        columns, first_data_line = task.columns, 0
    else:
        if not lines:
            raise DataError(f"{file}: empty file, expected a header line")
        columns, first_data_line = tuple(lines[0].split("\t")), 1
    index = {name: i for i, name in enumerate(columns)}

    labeled = task.label_column in index
    if split != "test" and not labeled:
        raise DataError(f"{file}:{first_data_line or 1}: missing column {task.label_column!r} "
                        f"(header has {', '.join(columns)})")
    needed = [c for c in (task.text_a, task.text_b) if c is not None]
    for col in needed:
        if col not in index:
            raise DataError(f"{file}:{first_data_line or 1}: missing column {col!r} (header has {', '.join(columns)})")
    id_col = index.get(task.id_column) if task.id_column else None

    examples = []
    for n, line in enumerate(lines[first_data_line:]):
        line_no = first_data_line + n + 1
        fields = line.split("\t")
        if len(fields) != len(columns):
            raise DataError(f"{file}:{line_no}: expected {len(columns)} tab-separated fields, got {len(fields)}")
        guid = f"{split}-{fields[id_col] if id_col is not None else n}"
        text_b = fields[index[task.text_b]] if task.text_b is not None else None
        label = _parse_label(task, fields[index[task.label_column]], file, line_no) if labeled else None
        examples.append(GlueExample(guid, fields[index[task.text_a]], text_b, label))
    return examples


def _parse_label(task: GlueTask, raw: str, file: Path, line_no: int) -> int | float:
    if task.labels is not None:
        try:
            return task.labels.index(raw)
        except ValueError:
            raise DataError(f"{file}:{line_no}: label {raw!r} not in the {task.name} label set "
                            f"{list(task.labels)}") from None
    try:
        score = float(raw)
    except ValueError:
        raise DataError(f"{file}:{line_no}: score {raw!r} is not a number") from None
    lo, hi = task.score_range or (-math.inf, math.inf)
    if not (lo <= score <= hi):  # also rejects nan
        raise DataError(f"{file}:{line_no}: score {raw!r} outside the {task.name} range [{lo}, {hi}]")
    return score
