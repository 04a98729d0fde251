"""End-to-end entry points behind ``mobilebert finetune`` and ``mobilebert evaluate``: resolve the data, build
or load the model, encode, train / evaluate."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable, Mapping

from mobilebert_tf.errors import UsageError
from mobilebert_tf.fileio import check_output_dir
from mobilebert_tf.finetuning.tasks import FinetuneTask, TaskData, get_finetune_task, load_glue_split, load_squad_split
from mobilebert_tf.finetuning.trainer import MODEL_FILES, FinetuneConfig, FinetuneResult, train

__all__ = ["default_task_data", "load_task_data", "finetune", "evaluate_model"]


def default_task_data(task: FinetuneTask) -> Path:
    """The shared data folder of a task.

    Args:
        task: the task.

    Returns:
        ``<shared data>/glue`` or ``<shared data>/squad``.

    Example:
        >>> default_task_data(get_finetune_task("squad1")).name
        'squad'
    """
    from mobilebert_tf.paths import default_data_dir

    return default_data_dir() / ("squad" if task.kind == "span" else "glue")


def load_task_data(task: FinetuneTask, tokenizer, data, split: str, config: FinetuneConfig, *, file=None,
                   holdout_articles: int | None = None, max_examples: int | None = None,
                   sample_seed: int | None = None) -> TaskData:
    """One encoded split. ``file`` (a .tsv / .json / .zip) replaces the lookup in ``data``; ``holdout_articles``
    (SQuAD) splits the dev file into dev (first N articles) and train (the rest).

    Args:
        task: the task.
        tokenizer: a ``BertTokenizer``, or None to read only (enough to score a predictions file).
        data: the GLUE root / task folder / file or the SQuAD folder / file (None: ``default_task_data``).
        split: ``train``, ``dev`` (or GLUE ``test``).
        config: seq_len, and SQuAD's doc_stride and max_query_length.
        file: a file that replaces the lookup in ``data``.
        holdout_articles, max_examples, sample_seed: above and ``sample_indices``.

    Returns:
        The ``TaskData``.

    Example:
        >>> task = get_finetune_task("squad1")
        >>> load_task_data(task, tokenizer, "dev-v1.1.json.zip", "train", FinetuneConfig.for_task(task),
        ...                holdout_articles=2)
    """
    source = file if file is not None else (data if data is not None else default_task_data(task))
    if task.kind == "span":
        return load_squad_split(task, tokenizer, source, split, config.seq_len, doc_stride=config.doc_stride,
                                max_query_length=config.max_query_length,
                                holdout_articles=holdout_articles if file is None else None,
                                max_examples=max_examples, sample_seed=sample_seed)
    if holdout_articles is not None:
        raise UsageError(f"--holdout-articles applies to the SQuAD tasks only, not {task.name}")
    return load_glue_split(task, tokenizer, source, split, config.seq_len, max_examples=max_examples,
                           sample_seed=sample_seed)


def _prepare_out_dir(out_dir: Path, overwrite: bool) -> None:
    """Refuse to mix a new run into an existing model directory unless ``overwrite``. With ``overwrite`` the old
    model stays, whole, until the new run saves its first complete checkpoint over it (each file replaced
    atomically, model.json last): a bad input, a corrupt --init or a kill before that save loses nothing.
    Only the old TensorBoard logs go now (the new run's events would mix with them)."""
    check_output_dir(out_dir)
    existing = [n for n in MODEL_FILES + ("history.json",) if (out_dir / n).exists()]
    if existing and not overwrite:
        raise UsageError(f"{out_dir} already holds a model ({', '.join(existing)}); pass --overwrite or "
                         f"choose another --out")
    if (out_dir / "logs").is_dir() and overwrite:
        import shutil

        shutil.rmtree(out_dir / "logs")


def finetune(task: FinetuneTask | str, *, init: str, out_dir, data=None, config: FinetuneConfig | None = None,
             preset: str = "mobilebert", config_overrides: Mapping | None = None, vocab: str | None = None,
             lowercase: bool | None = None, train_file=None, dev_file=None, holdout_articles: int | None = None,
             max_train_examples: int | None = None, max_eval_examples: int | None = None, overwrite: bool = False,
             qat: bool = False, progress: bool = True, log: Callable[[str], None] | None = None) -> FinetuneResult:
    """Fine-tune ``init`` ("random", or a model directory) on ``task`` and keep the best dev checkpoint in
    ``out_dir``. Train examples beyond ``max_train_examples`` are dropped by a seeded random sample; dev
    examples beyond ``max_eval_examples`` from the end of the file. lowercase None: the init directory's
    setting (model.json), else uncased. ``qat``: quantization-aware training (tfmot fake quantization; the
    result exports with ``mobilebert export --quantize qat``).

    Args:
        task: the task or its name (``TASK_NAMES``).
        init: ``"random"`` (the ``preset`` with ``config_overrides``) or a model directory.
        out_dir: where the best checkpoint, history.json, dev predictions and logs/ go.
        data: the GLUE root / task folder / file, or the SQuAD folder / file (None: the shared data's).
        config: the run's settings (None: ``FinetuneConfig()``).
        preset, config_overrides: the architecture of a random init (overrides also apply to a directory's).
        vocab, lowercase: the tokenizer (None: the init directory's, else the BERT uncased vocab).
        train_file, dev_file, holdout_articles, max_train_examples, max_eval_examples: the data (above).
        overwrite: replace a model already in ``out_dir``.
        qat, progress, log: above; ``log`` gets the one-line messages (default: stderr).

    Returns:
        The ``FinetuneResult``.

    Example:
        >>> task = get_finetune_task("mrpc")
        >>> finetune(task, init="runs/student", out_dir="runs/mrpc",
        ...          config=FinetuneConfig.for_task(task, learning_rate=5e-5)).best["dev"]
    """
    from mobilebert_tf.finetuning.modeling import init_model, read_model_info, resolve_vocab
    from mobilebert_tf.tokenization import BertTokenizer

    config = config if config is not None else FinetuneConfig()
    log = log or (lambda msg: print(msg, file=sys.stderr))
    task = get_finetune_task(task) if isinstance(task, str) else task
    out_dir = Path(out_dir)
    if init != "random" and out_dir.exists() and os.path.exists(init) and out_dir.resolve() == Path(init).resolve():
        raise UsageError(f"--out {out_dir} is the --init directory; write the fine-tuned model elsewhere")
    _prepare_out_dir(out_dir, overwrite)  # before the slow part, so a wrong --out fails at once
    if lowercase is None:  # a cased model (model.json "lowercase": false) keeps its casing
        lowercase = bool(read_model_info(init).get("lowercase", True)) if init != "random" and os.path.isdir(init) \
            else True
    vocab_file = resolve_vocab(init if init != "random" else None, vocab, warn=None if init == "random" else sys.stderr)
    tokenizer = BertTokenizer(vocab_file, lowercase=lowercase)
    # the model first: a wrong --init or --qat on a GELU model fails before minutes of tokenization
    model, how = init_model(task, init, preset=preset, config_overrides=config_overrides, seed=config.seed, qat=qat)
    if tokenizer.vocab_size > model.config.vocab_size:
        raise UsageError(f"vocab {vocab_file} has {tokenizer.vocab_size} tokens but the model's embedding table "
                         f"has {model.config.vocab_size} rows")
    train_data = load_task_data(task, tokenizer, data, "train", config, file=train_file,
                                holdout_articles=holdout_articles, max_examples=max_train_examples,
                                sample_seed=config.seed)
    dev_data = load_task_data(task, tokenizer, data, "dev", config, file=dev_file, holdout_articles=holdout_articles,
                              max_examples=max_eval_examples)
    log(f"{task.name}: train {len(train_data.examples)} examples from {train_data.source}; "
        f"dev {len(dev_data.examples)} from {dev_data.source}")
    for note in train_data.notes + dev_data.notes:
        log(f"  {note}")
    log(f"model: {how}")
    metadata = {"init": init, "init_loaded": how, "vocab_source": vocab_file}
    if init == "random":
        metadata["preset"] = preset
    return train(model, task, train_data, dev_data, config, out_dir=out_dir, vocab_file=vocab_file, metadata=metadata,
                 lowercase=lowercase, progress=progress, log=log)


def evaluate_model(model_dir, task: FinetuneTask | str | None = None, *, data=None, dev_file=None,
                   holdout_articles: int | None = None, max_eval_examples: int | None = None, batch_size: int = 64,
                   allow_task_mismatch: bool = False, split: str = "dev"):
    """(EvalResult, TaskData, task) of a fine-tuned model directory on ``split`` of ``task`` (default: the
    task recorded in the directory). Settings (seq_len, doc stride, ...) come from the directory's model.json.

    Args:
        model_dir: a fine-tuned model directory.
        task: the task to score (None: the directory's).
        data, dev_file, holdout_articles, max_eval_examples: the split, as ``load_task_data``.
        batch_size: rows per call.
        allow_task_mismatch: score a model on another task of the same shape anyway.
        split: the split to score.

    Returns:
        ``(EvalResult, TaskData, FinetuneTask)``.

    Example:
        >>> result, data, task = evaluate_model("runs/sst2")
        >>> result.metrics
    """
    from mobilebert_tf.finetuning.evaluation import evaluate_task
    from mobilebert_tf.finetuning.modeling import load_task_model, resolve_vocab
    from mobilebert_tf.tokenization import BertTokenizer

    model, info, task = load_task_model(model_dir, task, allow_task_mismatch=allow_task_mismatch)
    tokenizer = BertTokenizer(resolve_vocab(str(model_dir)), lowercase=bool(info.get("lowercase", True)))
    config = settings_from_info(info, task)
    data_split = load_task_data(task, tokenizer, data, split, config, file=dev_file, holdout_articles=holdout_articles,
                                max_examples=max_eval_examples)
    result = evaluate_task(task, model, data_split, batch_size=batch_size, n_best=config.n_best,
                           max_answer_length=config.max_answer_length, null_threshold=config.null_threshold,
                           lowercase=bool(info.get("lowercase", True)))
    return result, data_split, task


def settings_from_info(info: Mapping, task: FinetuneTask) -> FinetuneConfig:
    """The inference settings a model was fine-tuned with (model.json), else the task's defaults.

    Args:
        info: the directory's model.json.
        task: its task.

    Returns:
        A ``FinetuneConfig`` carrying seq_len and the SQuAD window/decoding settings.

    Example:
        >>> settings_from_info({"seq_len": 64}, get_finetune_task("sst-2")).seq_len
        64
    """
    saved = dict(info.get("finetune_config") or {})
    known = {k: saved[k] for k in ("seq_len", "doc_stride", "max_query_length", "max_answer_length", "n_best",
                                   "null_threshold") if k in saved}
    known.setdefault("seq_len", int(info.get("seq_len", task.default_seq_len)))
    return FinetuneConfig(**known)
