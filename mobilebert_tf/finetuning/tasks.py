"""Fine-tuning tasks: every GLUE task (classification, STS-B regression) and SQuAD v1.1/v2.0 span QA.

A ``FinetuneTask`` says what model a task needs (head kind and width), how its official metrics are scored
and how to turn its files into fixed-length model inputs (``TaskData``). Reading and metrics themselves live
in ``mobilebert_tf.data.glue``, ``mobilebert_tf.data.squad``, ``mobilebert_tf.metrics`` and
``mobilebert_tf.squad_eval``; this module only connects them to training.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mobilebert_tf.data import DataError
from mobilebert_tf.data.glue import TASKS as GLUE_TASKS
from mobilebert_tf.data.glue import GlueTask, get_task, read_glue
from mobilebert_tf.errors import UsageError

__all__ = ["FinetuneTask", "TaskData", "TASK_NAMES", "get_finetune_task", "load_glue_split", "load_squad_split",
           "resolve_squad_file", "squad_subset", "sample_indices", "describe", "KINDS"]

KINDS = ("classification", "regression", "span")

# Human-readable names of the GLUE classes, in class-id order (the files hold "0"/"1"). Meanings from the GLUE
# paper (Wang et al. 2019, table 1 and appendix): SST-2 1 = positive sentiment, CoLA 1 = acceptable, MRPC/QQP
# 1 = paraphrase / duplicate, WNLI 1 = entailment. Tasks whose files already hold words keep them.
_DISPLAY_LABELS = {
    "cola": ("unacceptable", "acceptable"),
    "sst-2": ("negative", "positive"),
    "mrpc": ("not_equivalent", "equivalent"),
    "qqp": ("not_duplicate", "duplicate"),
    "wnli": ("not_entailment", "entailment"),
}

SQUAD_VERSIONS = {"squad1": 1, "squad2": 2}
_SQUAD_ALIASES = {"squad": "squad1", "squad1.1": "squad1", "squad-v1.1": "squad1", "squad11": "squad1",
                  "squad-v1": "squad1", "squad2.0": "squad2", "squad-v2.0": "squad2", "squad20": "squad2",
                  "squad-v2": "squad2"}
TASK_NAMES: tuple[str, ...] = tuple(GLUE_TASKS) + tuple(SQUAD_VERSIONS)


@dataclass(frozen=True)
class FinetuneTask:
    """One fine-tuning task.

    kind: ``classification`` (softmax over ``labels``), ``regression`` (one score, STS-B) or ``span``
    (start/end logits, SQuAD). labels: class names in class-id order (``("score",)`` for regression, ``()``
    for span). label_values: the label strings as written in the data files. metrics: the official metric
    names, as returned by ``score``. default_seq_len: 128 for GLUE, 384 for SQuAD (Google's settings).

    Args:
        name, kind, labels, label_values, metrics, default_seq_len: above.
        glue: the GLUE reader's task (None for SQuAD).
        squad_version: 1 or 2 (None for GLUE).

    Example:
        >>> task = get_finetune_task("mrpc")
        >>> task.kind, task.labels, task.metrics
        ('classification', ('not_equivalent', 'equivalent'), ('accuracy', 'f1'))
    """

    name: str
    kind: str
    labels: tuple[str, ...]
    label_values: tuple[str, ...]
    metrics: tuple[str, ...]
    default_seq_len: int
    glue: GlueTask | None = None
    squad_version: int | None = None

    @property
    def defaults(self) -> dict[str, Any]:
        """Default hyper-parameters (docs/finetuning.md). SQuAD: Google's 5 epochs, lr 4e-5, batch 32, seq 384.
        GLUE: 3 epochs, batch 32, seq 128 and lr 1e-4, above BERT's usual 2e-5..5e-5 because MobileBERT needs
        higher rates; search it (and seeds, for CoLA/MRPC/RTE) for real results."""
        if self.kind == "span":
            return {"epochs": 5, "learning_rate": 4e-5, "batch_size": 32, "seq_len": 384}
        return {"epochs": 3, "learning_rate": 1e-4, "batch_size": 32, "seq_len": 128}

    @property
    def num_outputs(self) -> int:
        """Classifier width (classes, or 1 for regression); 2 (start, end) for span QA."""
        return 2 if self.kind == "span" else len(self.labels)

    @property
    def model_class_name(self) -> str:
        """The model class for this task's model, from the task table (mobilebert_tf.model_tasks)."""
        from mobilebert_tf.model_tasks import get_model_task  # the table imports the models (TensorFlow)

        return get_model_task(self.task_type).model_class.__name__

    @property
    def task_type(self) -> str:
        """The ``task_type`` our model directories record for this task's model (model.json)."""
        return "qa" if self.kind == "span" else "classification"

    @property
    def family(self) -> str:
        """Tasks of one family share training data and label meaning (mnli / mnli-mm; squad1 / squad2 heads)."""
        return self.glue.dir_name if self.glue is not None else "squad"

    def main_score(self, metrics: dict[str, float]) -> float:
        """The number that picks the best checkpoint: SQuAD F1; for GLUE the mean of the task's official
        metrics, the GLUE leaderboard's rule for tasks with two (MRPC, QQP: accuracy and F1; STS-B's mean of
        Pearson and Spearman is its ``corr``, and the mean of pearson, spearman and corr is corr again)."""
        if self.kind == "span":
            return float(metrics["f1"])
        values = [float(metrics[m]) for m in self.metrics]
        return float(np.mean(values)) if not any(math.isnan(v) for v in values) else float("-inf")


def get_finetune_task(name: str) -> FinetuneTask:
    """Task by name: any GLUE name ``get_task`` accepts (``sst2``, ``STS-B``, ``mnli-mm``), ``squad1`` or
    ``squad2`` (also ``squad``, ``squad-v1.1``, ``squad2.0``).

    Args:
        name: the task name, in any of the spellings above.

    Returns:
        The ``FinetuneTask``.

    Raises:
        DataError: an unknown name (the message lists the valid ones).

    Example:
        >>> get_finetune_task("STS_B").name, get_finetune_task("squad").name
        ('sts-b', 'squad1')
    """
    key = name.strip().lower().replace("_", "-") if isinstance(name, str) else None
    key = _SQUAD_ALIASES.get(key, key)
    if key in SQUAD_VERSIONS:
        version = SQUAD_VERSIONS[key]
        metrics = ("exact_match", "f1") if version == 1 else ("exact", "f1")
        return FinetuneTask(key, "span", (), (), metrics, 384, squad_version=version)
    try:
        glue = get_task(name)
    except DataError:
        raise DataError(f"unknown task {name!r}; valid tasks: {', '.join(TASK_NAMES)}") from None
    if glue.is_regression:
        return FinetuneTask(glue.name, "regression", ("score",), (), glue.metrics, 128, glue=glue)
    labels = _DISPLAY_LABELS.get(glue.name, glue.labels)
    return FinetuneTask(glue.name, "classification", tuple(labels), tuple(glue.labels), glue.metrics, 128,
                        glue=glue)


@dataclass
class TaskData:
    """One encoded split.

    inputs: ``input_ids``, ``input_mask``, ``segment_ids``: int32 [N, seq_len] (N = examples for GLUE,
    windows (features) for SQuAD). targets: ``labels`` int32 [N] (classification) or float32 [N]
    (regression); ``start_positions``, ``end_positions`` int32 [N] (SQuAD training). examples: the
    ``GlueExample`` / ``SquadExample`` objects; features: ``SquadFeature`` per row (SQuAD only);
    dataset: the SQuAD JSON restricted to ``examples`` (for the official evaluation); source: where it came from.

    Args:
        inputs, targets, examples, source, features, dataset: above.
        notes: one-line remarks for the log (e.g. how many windows the questions became).

    Example:
        >>> data = load_task_data(get_finetune_task("sst-2"), tokenizer, "glue", "dev", FinetuneConfig())
        >>> len(data), data.inputs["input_ids"].shape
        (872, (872, 128))
    """

    inputs: dict[str, np.ndarray]
    targets: dict[str, np.ndarray]
    examples: list
    source: str
    features: list | None = None
    dataset: dict | None = None
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.inputs["input_ids"].shape[0])


def sample_indices(n: int, limit: int | None, seed: int | None) -> np.ndarray:
    """All of range(n), or ``limit`` of them: a seeded random sample in file order (training, so a prefix of
    a sorted file cannot bias it) or the first ``limit`` (seed None: evaluation, reproducible by eye).

    Args:
        n: the number of examples.
        limit: how many to keep (None, or >= n: all).
        seed: the sample's seed (None: the first ``limit``).

    Returns:
        Sorted int indices into the examples.

    Raises:
        UsageError: ``limit`` below 1.

    Example:
        >>> sample_indices(10, 3, seed=None)
        array([0, 1, 2])
    """
    if limit is None or limit >= n:
        return np.arange(n)
    if limit < 1:
        raise UsageError(f"example limit must be positive, got {limit}")
    if seed is None:
        return np.arange(limit)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


# ---------------------------------------------------------------------------------------------------- GLUE

def load_glue_split(task: FinetuneTask, tokenizer, path, split: str, seq_len: int, *,
                    max_examples: int | None = None, sample_seed: int | None = None) -> TaskData:
    """Read and encode one GLUE split. path: the GLUE root, the task folder or the .tsv itself. tokenizer None:
    read only (``inputs`` empty), enough to score a prediction file.

    Labels outside the task's set are DataErrors naming the file and line (``read_glue``).

    Args:
        task: a GLUE task.
        tokenizer: a ``BertTokenizer``, or None to read only.
        path: the GLUE root, the task folder or the .tsv.
        split: ``train``, ``dev`` or ``test``.
        seq_len: the packed length.
        max_examples, sample_seed: keep ``sample_indices(n, max_examples, sample_seed)`` of the examples.

    Returns:
        The ``TaskData``.

    Example:
        >>> load_glue_split(get_finetune_task("rte"), tokenizer, "glue", "dev", 128, max_examples=20)
    """
    from mobilebert_tf.data.glue import resolve_glue_file

    examples = read_glue(task.glue, path, split)
    source = str(resolve_glue_file(task.glue, path, split))
    if not examples:
        raise DataError(f"{source}: no examples")
    if split != "test" and any(e.label is None for e in examples):
        raise DataError(f"{source}: unlabeled rows cannot be used for training or evaluation")
    examples = [examples[i] for i in sample_indices(len(examples), max_examples, sample_seed)]
    targets = {}
    if split != "test":
        dtype = np.float32 if task.kind == "regression" else np.int32
        targets["labels"] = np.asarray([e.label for e in examples], dtype)
    if tokenizer is None:
        return TaskData({}, targets, examples, source)
    texts_a = [e.text_a for e in examples]
    if task.glue.text_b is None:
        inputs = tokenizer.encode_single(texts_a, seq_len)
    else:
        inputs = tokenizer.encode_pair(texts_a, [e.text_b for e in examples], seq_len)
    truncated = int(np.sum(inputs["input_mask"][:, -1] == 1))
    notes = [f"{truncated} of {len(examples)} examples fill all {seq_len} positions (possibly truncated)"] \
        if truncated else []
    return TaskData(inputs, targets, examples, source, notes=notes)


# ---------------------------------------------------------------------------------------------------- SQuAD

def _squad_file_names(version: int, split: str) -> list[str]:
    tag = "v1.1" if version == 1 else "v2.0"
    return [f"{split}-{tag}.json", f"{split}-{tag}.json.zip"]


def resolve_squad_file(task: FinetuneTask, path, split: str) -> Path:
    """The SQuAD JSON for ``split``: ``path`` itself if a file, else ``path/{split}-v1.1.json`` (or ``.json.zip``;
    ``v2.0`` for squad2).

    Args:
        task: a SQuAD task.
        path: a .json / .json.zip file or the folder holding it.
        split: ``train`` or ``dev``.

    Returns:
        The file's path.

    Raises:
        DataError: no such file (the message names the paths looked at).

    Example:
        >>> resolve_squad_file(get_finetune_task("squad1"), "shared/data/squad", "dev")
        PosixPath('shared/data/squad/dev-v1.1.json.zip')
    """
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise DataError(f"{path}: no such file or folder (SQuAD {split} data)")
    names = _squad_file_names(task.squad_version, split)
    for name in names:
        if (path / name).is_file():
            return path / name
    hint = (" There is no public SQuAD train file in shared/data: pass --holdout-articles N to train on the dev "
            "file's other articles" if split == "train" else "")
    raise DataError(f"{path / names[0]}: SQuAD {split} file not found (also looked for {path / names[1]}).{hint}")


def squad_subset(dataset: dict, articles: slice | None = None, qids: set | None = None) -> dict:
    """A SQuAD JSON object with only the articles in ``articles`` and, within them, only questions in ``qids``
    (paragraphs left without questions are dropped). The input is not modified.

    Args:
        dataset: the SQuAD JSON object (or its ``data`` list).
        articles: which articles (None: all).
        qids: which question ids (None: all).

    Returns:
        A new SQuAD JSON object (``version`` kept).

    Example:
        >>> len(squad_subset(dataset, slice(0, 2))["data"])
        2
    """
    from mobilebert_tf.squad_eval import squad_articles

    out_articles = []
    chosen = squad_articles(dataset)[articles] if articles is not None else squad_articles(dataset)
    for article in chosen:
        paragraphs = []
        for paragraph in article.get("paragraphs", []):
            qas = [qa for qa in paragraph.get("qas", []) if qids is None or qa.get("id") in qids]
            if qas:
                paragraphs.append({**paragraph, "qas": qas})
        if paragraphs:
            out_articles.append({**article, "paragraphs": paragraphs})
    version = dataset.get("version") if isinstance(dataset, dict) else None
    return {"version": version, "data": out_articles} if version is not None else {"data": out_articles}


def load_squad_split(task: FinetuneTask, tokenizer, path, split: str, seq_len: int, *, doc_stride: int = 128,
                     max_query_length: int = 64, holdout_articles: int | None = None,
                     max_examples: int | None = None, sample_seed: int | None = None) -> TaskData:
    """Read and encode one SQuAD split into windows (features).

    holdout_articles N: there is no public train file beside the dev file here, so both splits come from
    ``path``'s dev file: ``dev`` = its first N articles, ``train`` = the rest (disjoint articles, so no
    context is seen in both). tokenizer None: read only. split ``train`` sets start/end targets (an impossible
    question, or an answer outside the window, targets [CLS]).

    Args:
        task: a SQuAD task.
        tokenizer: a ``BertTokenizer``, or None to read only.
        path: a .json / .json.zip file or its folder (``resolve_squad_file``).
        split: ``train`` or ``dev``.
        seq_len, doc_stride, max_query_length: the windows.
        holdout_articles: above (None: the split's own file).
        max_examples, sample_seed: keep ``sample_indices(n, max_examples, sample_seed)`` of the questions.

    Returns:
        The ``TaskData`` (one row per window; ``examples`` per question).

    Example:
        >>> load_squad_split(get_finetune_task("squad1"), tokenizer, "squad", "train", 384, holdout_articles=2)
    """
    from mobilebert_tf.data.squad import convert_examples_to_features, features_to_arrays, load_json, read_squad

    if holdout_articles is not None:
        file = resolve_squad_file(task, path, "dev")
        dataset = load_json(file)
        n_articles = len(dataset.get("data", [])) if isinstance(dataset, dict) else 0
        if not 0 < holdout_articles < n_articles:
            raise DataError(f"{file}: --holdout-articles {holdout_articles} must be between 1 and "
                            f"{n_articles - 1} (the file has {n_articles} articles)")
        part = slice(None, holdout_articles) if split == "dev" else slice(holdout_articles, None)
        dataset = squad_subset(dataset, articles=part)
        source = f"{file} articles [{part.start or 0}:{part.stop if part.stop is not None else n_articles}]"
    else:
        file = resolve_squad_file(task, path, split)
        dataset = load_json(file)
        source = str(file)
    examples = read_squad(dataset, is_training=split == "train")
    if not examples:
        raise DataError(f"{source}: no questions")
    if task.squad_version == 1 and any(e.is_impossible for e in examples):
        raise DataError(f"{source}: holds unanswerable (is_impossible) questions, which is SQuAD v2.0; "
                        f"use --task squad2")
    if split == "train":
        # read_squad kept multi-answer questions (dev files); training needs one located answer each.
        missing = [e.qas_id for e in examples if not e.is_impossible and e.start_position is None]
        if missing:
            raise DataError(f"{source}: question {missing[0]} has no answer to train on")
    keep = sample_indices(len(examples), max_examples, sample_seed)
    if len(keep) < len(examples):
        examples = [examples[i] for i in keep]
        dataset = squad_subset(dataset, qids={e.qas_id for e in examples})
    if tokenizer is None:
        return TaskData({}, {}, examples, source, dataset=dataset)
    features = convert_examples_to_features(examples, tokenizer, seq_len=seq_len, doc_stride=doc_stride,
                                            max_query_length=max_query_length, is_training=split == "train")
    arrays = features_to_arrays(features)
    inputs = {k: arrays[k] for k in ("input_ids", "input_mask", "segment_ids")}
    targets = {k: arrays[k] for k in ("start_positions", "end_positions") if k in arrays}
    notes = [f"{len(examples)} questions -> {len(features)} windows of {seq_len} tokens (stride {doc_stride})"]
    return TaskData(inputs, targets, examples, source, features=features, dataset=dataset, notes=notes)


def describe(task: FinetuneTask) -> dict[str, Any]:
    """A JSON-able summary of the task, for model.json.

    Args:
        task: the task.

    Returns:
        ``{"task", "task_kind", "metrics", ...}`` plus labels, label values and the task type.

    Example:
        >>> describe(get_finetune_task("sst-2"))["labels"]
        ['negative', 'positive']
    """
    out: dict[str, Any] = {"task": task.name, "task_kind": task.kind, "metrics": list(task.metrics)}
    if task.kind != "span":
        out["labels"] = list(task.labels)
        out["num_labels"] = task.num_outputs
    if task.label_values:
        out["label_values"] = list(task.label_values)
    if task.glue is not None and task.glue.score_range:
        out["score_range"] = list(task.glue.score_range)
    return out
