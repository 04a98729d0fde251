"""Fine-tuning benchmark on the real GLUE and SQuAD files, sized for a 2-core CPU.

For SST-2, RTE and MRPC: fine-tune a small MobileBERT (``mobilebert_tiny`` cut to a few layers) from (a) random
init and (b) a distilled student (``--init-distilled DIR``, skipped with a note when absent), and report the
dev metrics next to baselines computed here: majority class and TF-IDF + logistic regression (scikit-learn) on
the same train examples and on the full train file, so readers see what the numbers mean. SQuAD v1.1: a few
hundred steps on the dev file's articles 3-48 (there is no public train file in shared/data), evaluated on
articles 1-2 with the official metric, next to a "best-overlap sentence" baseline.

    .venv/bin/python benchmarks/finetune.py                       # everything, ~35 min on 2 cores
    .venv/bin/python benchmarks/finetune.py --tasks rte --no-squad --init-distilled runs/distill/student
    .venv/bin/python benchmarks/finetune.py --add-distilled runs/demo/student  # only column (b), into the json

Writes ``benchmarks/results/finetune.json`` (measured data only) and ``finetune.md`` (rendered from it); model
directories go to ``runs/bench_finetune``. Hand-written findings (the learning-rate pilot, readings of the
numbers) live in ``benchmarks/results/finetune_notes.md``, which this script never writes.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from mobilebert_tf.fileio import atomic_write_json, atomic_write_text  # noqa: E402
from mobilebert_tf.modeldir import ModelDir  # noqa: E402


@dataclass(frozen=True)
class RunSettings:
    """One fine-tuning setting. layers: ``num_hidden_layers`` of mobilebert_tiny for random init (a distilled
    student keeps its own architecture). max_train: a seeded random sample of the train file (None: all)."""

    layers: int
    seq_len: int
    epochs: int
    learning_rate: float
    batch_size: int = 32
    max_train: int | None = None
    max_steps: int | None = None


# Random init needs far higher rates than fine-tuning a pre-trained model: the GLUE runs use 2e-3, SQuAD (more
# steps per example, 384 positions) 1e-3, chosen by a hand-run pilot that this script does not repeat; its
# numbers are in NOTES (hand-written, not generated).
NOTES = "benchmarks/results/finetune_notes.md"
GLUE_SETTINGS = {
    "sst-2": RunSettings(layers=4, seq_len=64, epochs=3, learning_rate=2e-3, max_train=8000),
    "rte": RunSettings(layers=4, seq_len=128, epochs=5, learning_rate=2e-3),
    "mrpc": RunSettings(layers=4, seq_len=128, epochs=4, learning_rate=2e-3),
}
SQUAD_SETTINGS = RunSettings(layers=4, seq_len=384, epochs=1, learning_rate=1e-3, batch_size=16, max_train=4800,
                             max_steps=300)
SQUAD_HOLDOUT_ARTICLES = 2  # dev = the first 2 articles (= squad/dev-v1.1-first2articles.json), train = the rest
QUICK = {"sst-2": {"max_train": 3000, "epochs": 2}, "rte": {"epochs": 3}, "mrpc": {"epochs": 3},
         "squad": {"max_steps": 150, "max_train": 2400}}


def machine() -> dict:
    """This machine, measured now: ``mobilebert_tf.benchmarks.machine.machine`` (cpu, cores, python, tensorflow, system,
    load_average_start, ...); callers add ``load_average_end`` when they finish."""
    from mobilebert_tf.benchmarks.machine import machine as describe

    return describe()


# ---------------------------------------------------------------------------------------------------- baselines

def tfidf_baseline(task, train, dev) -> dict:
    """TF-IDF (word 1-2 grams, sublinear tf) + logistic regression, C picked by 5-fold CV on train only.
    Pairs: [a, b, a*b, |a-b|] of the two sentences' vectors, so word overlap is visible to a linear model."""
    import numpy as np
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegressionCV

    from mobilebert_tf.metrics import glue_metrics

    pair = task.glue.text_b is not None
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    vec.fit([e.text_a for e in train] + ([e.text_b for e in train] if pair else []))

    def features(examples):
        a = vec.transform([e.text_a for e in examples])
        if not pair:
            return a
        b = vec.transform([e.text_b for e in examples])
        return sp.hstack([a, b, a.multiply(b), abs(a - b)]).tocsr()

    warnings.filterwarnings("ignore", category=FutureWarning, module="sklearn")  # 1.10 API-transition notices
    start = time.perf_counter()
    clf = LogisticRegressionCV(Cs=[0.1, 1.0, 10.0, 100.0], cv=5, max_iter=3000)
    clf.fit(features(train), np.array([e.label for e in train]))
    pred = clf.predict(features(dev))
    metrics = glue_metrics(task.glue, pred, [e.label for e in dev])
    return {"metrics": metrics, "train_examples": len(train), "C": float(clf.C_[0]),
            "seconds": round(time.perf_counter() - start, 1)}


def majority_baseline(task, train, dev) -> dict:
    from collections import Counter

    from mobilebert_tf.metrics import glue_metrics

    label = Counter(e.label for e in train).most_common(1)[0][0]
    return {"metrics": glue_metrics(task.glue, [label] * len(dev), [e.label for e in dev]),
            "label": task.labels[label]}


_WORD = re.compile(r"\w+")
_STOP = frozenset("a an the of in on at to for by with from and or is are was were be been what which who whom "
                  "whose when where why how did do does that this these those it its as".split())


def squad_sentence_baseline(examples, dataset) -> dict:
    """Answer each question with the context sentence sharing the most (non-stopword, lower-cased) words with it:
    a floor that needs no learning (cf. the sliding-window baseline of Rajpurkar et al. 2016)."""
    from mobilebert_tf.squad_eval import evaluate

    preds = {}
    for e in examples:
        q = {w for w in _WORD.findall(e.question_text.lower()) if w not in _STOP}
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", e.context_text) if s.strip()]
        preds[e.qas_id] = max(sentences, key=lambda s: len(q & set(_WORD.findall(s.lower()))))
    return {"metrics": evaluate(dataset, preds, version=1)}


# ---------------------------------------------------------------------------------------------------- runs

def finetune_run(task_name, settings: RunSettings, init: str, out_dir: Path, *, data, seed: int, **extra) -> dict:
    from mobilebert_tf.finetuning import FinetuneConfig, finetune, get_finetune_task

    task = get_finetune_task(task_name)
    config = FinetuneConfig.for_task(task, epochs=settings.epochs, learning_rate=settings.learning_rate,
                                     batch_size=settings.batch_size, seq_len=settings.seq_len, seed=seed,
                                     max_steps=settings.max_steps)
    overrides = {"num_hidden_layers": settings.layers} if init == "random" else None
    start = time.perf_counter()
    result = finetune(task, init=init, out_dir=out_dir, data=data, config=config, preset="mobilebert_tiny",
                      config_overrides=overrides, max_train_examples=settings.max_train, overwrite=True,
                      progress=False, **extra)
    info = ModelDir.read(out_dir).info
    return {"init": init, "metrics": result.best["dev"], "best_epoch": result.best["epoch"],
            "steps": result.total_steps, "train_examples": info["train_examples"],
            "wall_seconds": round(time.perf_counter() - start, 1), "train_seconds": result.train_seconds,
            "history": list(result.history), "model_dir": str(out_dir.relative_to(ROOT)) if out_dir.is_relative_to(ROOT)
            else str(out_dir), "settings": {**settings.__dict__, "learning_rate": settings.learning_rate}}


def glue_baselines(task_name, max_train: int | None, glue_dir, seed: int, *, full_train: bool = True,
                   max_dev: int | None = None) -> dict:
    """Majority class and TF-IDF + LR on exactly the train examples ``finetune`` draws for ``max_train``
    and ``seed`` (and, with ``full_train``, TF-IDF + LR on the whole train file), scored on dev (its
    first ``max_dev`` examples, as ``finetune(max_eval_examples=...)`` keeps).
    Returns ``{"dev_examples", "train_examples_available", "baselines": {name: {"metrics", ...}}}``."""
    from mobilebert_tf.data.glue import read_glue
    from mobilebert_tf.finetuning import get_finetune_task
    from mobilebert_tf.finetuning.tasks import sample_indices

    task = get_finetune_task(task_name)
    train_all = read_glue(task.glue, Path(glue_dir), "train")
    dev = read_glue(task.glue, Path(glue_dir), "dev")[:max_dev]
    # the same seeded sample finetune() draws, so the baselines see exactly the model's training examples
    train = [train_all[i] for i in sample_indices(len(train_all), max_train, seed)]
    out = {"dev_examples": len(dev), "train_examples_available": len(train_all), "baselines": {}}
    out["baselines"]["majority"] = majority_baseline(task, train, dev)
    out["baselines"]["tfidf_lr_same_train"] = tfidf_baseline(task, train, dev)
    if full_train and len(train) < len(train_all):
        out["baselines"]["tfidf_lr_full_train"] = tfidf_baseline(task, train_all, dev)
    return out


def glue_task(task_name, settings: RunSettings, args) -> dict:
    glue = Path(args.data) / "glue"
    out = {**glue_baselines(task_name, settings.max_train, glue, args.seed), "runs": {}}
    log(f"{task_name}: baselines {json.dumps({k: v['metrics'] for k, v in out['baselines'].items()})}")
    work = Path(args.work_dir)
    out["runs"]["random"] = finetune_run(task_name, settings, "random", work / f"{task_name}-random", data=glue,
                                         seed=args.seed)
    log(f"{task_name}: random init {out['runs']['random']['metrics']} in {out['runs']['random']['wall_seconds']} s")
    out["runs"]["distilled"] = distilled_run(task_name, settings, args, data=glue)
    return out


def distilled_run(task_name, settings, args, **kw) -> dict:
    if not args.init_distilled:
        note = "no --init-distilled given (the distillation benchmark's student does not exist yet)"
    elif not Path(args.init_distilled).is_dir():
        note = f"--init-distilled {args.init_distilled} does not exist"
    else:
        run = finetune_run(task_name, settings, args.init_distilled,
                           Path(args.work_dir) / f"{task_name}-distilled", seed=args.seed, **kw)
        log(f"{task_name}: distilled init {run['metrics']} in {run['wall_seconds']} s")
        return run
    print(f"note: {task_name}: skipping the distilled-student run: {note}", file=sys.stderr)
    return {"skipped": note}


def squad(settings: RunSettings, args) -> dict:
    from mobilebert_tf.data.squad import load_json, read_squad
    from mobilebert_tf.finetuning.tasks import squad_subset

    source = Path(args.data) / "squad" / "dev-v1.1.json.zip"
    dev_dataset = squad_subset(load_json(source), articles=slice(None, SQUAD_HOLDOUT_ARTICLES))
    dev_examples = read_squad(dev_dataset)
    out = {"source": str(source), "holdout_articles": SQUAD_HOLDOUT_ARTICLES, "dev_questions": len(dev_examples),
           "baselines": {"best_overlap_sentence": squad_sentence_baseline(dev_examples, dev_dataset)}, "runs": {}}
    log(f"squad1: baseline {out['baselines']['best_overlap_sentence']['metrics']}")
    extra = dict(data=source, holdout_articles=SQUAD_HOLDOUT_ARTICLES)
    out["runs"]["random"] = finetune_run("squad1", settings, "random", Path(args.work_dir) / "squad1-random",
                                         seed=args.seed, **extra)
    log(f"squad1: random init {out['runs']['random']['metrics']} in {out['runs']['random']['wall_seconds']} s")
    out["runs"]["distilled"] = distilled_run("squad1", settings, args, **extra)
    return out


def model_params(layers: int) -> int:
    """Parameters of the random-init classifier (mobilebert_tiny, ``layers`` blocks, 2 labels)."""
    from mobilebert_tf import MobileBertConfig, MobileBertForSequenceClassification

    config = MobileBertConfig.from_preset("mobilebert_tiny", num_hidden_layers=layers)
    return int(MobileBertForSequenceClassification(config, num_labels=2).build_with_dummy().count_params())


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------- report

def _fmt(metrics: dict, keys, scale=100.0) -> str:
    return " / ".join(f"{metrics[k] * scale:.1f}" for k in keys)


def load_note(m: dict) -> str:
    """What the recorded load averages say about the run's cores (from the data, not a fixed caveat).

    Args:
        m: ``results["machine"]`` (cores, load_average_start, load_average_end).

    Returns:
        A parenthesis for the report, or "" when the 1-minute loads stayed below the core count.

    Example:
        >>> load_note({"cores": 2, "load_average_start": [6.66, 5.2, 4.6], "load_average_end": [4.9, 5.3, 5.4]})
        ' (above the 2 cores: other jobs shared them)'
    """
    loads = [m.get(k, [0])[0] for k in ("load_average_start", "load_average_end")]
    return f" (above the {m['cores']} cores: other jobs shared them)" if max(loads) > m["cores"] else ""


def markdown(results: dict) -> str:
    """The report, rendered from ``finetune.json``'s data alone (``--render-only`` redoes just this).

    Args:
        results: the finetune.json object.

    Returns:
        finetune.md's text.

    Example:
        >>> atomic_write_text("finetune.md", markdown(json.loads(Path("finetune.json").read_text())))
    """
    m = results["machine"]
    lines = ["# Fine-tuning benchmark", "",
             f"Machine: **{m['cores']}-core CPU** ({m['cpu']}), {m['system']}, Python {m['python']}, "
             f"TensorFlow {m['tensorflow']}. Load average {m['load_average_start']} at the start, "
             f"{m['load_average_end']} at the end{load_note(m)}. "
             f"Generated by `benchmarks/finetune.py{' --quick' if results['quick'] else ''}` on {results['date']}; "
             f"total {results['total_minutes']:.0f} min.", ""]
    if results["quick"]:
        lines += ["**Reduced settings (`--quick`)**: fewer train examples / epochs / steps than the defaults.", ""]
    lines += ["## GLUE dev (real files in shared/data/glue)", "",
              f"MobileBERT-Tiny cut to 4 layers (`mobilebert_tiny`, `num_hidden_layers=4`; "
              f"{results['model_params'] / 1e6:.1f} M parameters, 3.9 M of them the word embeddings), "
              "**random init**: these numbers show what the fine-tuning code learns from the task data alone. "
              "The distilled-student column starts from `make demo`'s student instead (described below): a few "
              "minutes of CPU pre-training and distillation on WikiText-2 valid (1.1 MB of text), far from what "
              "MobileBERT reaches after full pre-training and distillation (paper, 24 layers, GLUE test server: "
              "SST-2 92.8, MRPC 88.8, RTE 66.2).", "",
              "| task | metric | train ex. | majority | TF-IDF + LR (same ex.) | TF-IDF + LR (full train) | "
              "MobileBERT-Tiny-4L random init | distilled student | fine-tune time |",
              "|---|---|---|---|---|---|---|---|---|"]
    for name, r in results["glue"].items():
        from mobilebert_tf.finetuning import get_finetune_task

        keys = list(get_finetune_task(name).metrics)
        b = r["baselines"]
        run = r["runs"]["random"]
        dist = r["runs"]["distilled"]
        full = _fmt(b["tfidf_lr_full_train"]["metrics"], keys) + f" ({r['train_examples_available']})" \
            if "tfidf_lr_full_train" in b else "(same)"
        distilled = "skipped" if "skipped" in dist else f"{_fmt(dist['metrics'], keys)} (epoch {dist['best_epoch']})"
        lines.append(f"| {name} | {'/'.join(keys)} | {run['train_examples']} | {_fmt(b['majority']['metrics'], keys)} | "
                     f"{_fmt(b['tfidf_lr_same_train']['metrics'], keys)} | {full} | "
                     f"{_fmt(run['metrics'], keys)} (epoch {run['best_epoch']}) | "
                     f"{distilled} | "
                     f"{run['wall_seconds'] / 60:.1f} min ({run['steps']} steps) |")
    lines += ["", "Settings (random init): " + "; ".join(
        f"{n}: seq {r['runs']['random']['settings']['seq_len']}, batch {r['runs']['random']['settings']['batch_size']}, "
        f"{r['runs']['random']['settings']['epochs']} epochs, lr {r['runs']['random']['settings']['learning_rate']:g}"
        for n, r in results["glue"].items()) + ". AdamW, 10% warmup, linear decay, weight decay 0.01, clip 1.0; "
        "the best dev epoch is kept (so the dev numbers are optimistic by the choice of epoch; the baselines pick "
        "C by 5-fold CV on train only). Majority = always the most frequent train label. The learning rates "
        f"come from a hand-run pilot that this script does not repeat (`{NOTES}`).", ""]
    notes = sorted({r["runs"]["distilled"]["skipped"] for r in list(results["glue"].values()) +
                    ([results["squad"]] if results.get("squad") else []) if "skipped" in r["runs"]["distilled"]})
    if notes:
        lines += [f"Distilled student: skipped: {notes[0]}. Rerun with `--init-distilled DIR` once it exists.", ""]
    if results.get("distilled"):
        d = results["distilled"]
        c = d["student"]["config"]
        lines += [f"Distilled student: `{d['student']['dir']}` ({c['num_hidden_layers']} layers, hidden "
                  f"{c['hidden_size']}, bottleneck {c['intra_bottleneck_size']}, {c['num_feedforward_networks']} "
                  f"FFNs of {c['intermediate_size']}, {c['num_attention_heads']} heads), made by `make demo`: a small "
                  "IB-BERT teacher pre-trained on the shared corpus, then progressive knowledge transfer to the "
                  "student (docs/training.md). Its own architecture, the same fine-tuning settings and seed as the "
                  f"random-init column; run on {d['date']} ({d['minutes']:.0f} min, load average "
                  f"{d['load_average_start']} -> {d['load_average_end']}).", "",
                  f"A reading of this column (hand-written) is in `{NOTES}`.", ""]
    if results.get("squad"):
        s = results["squad"]
        run = s["runs"]["random"]
        st = run["settings"]
        lines += ["## SQuAD v1.1 (real dev-v1.1.json.zip)", "",
                  f"No SQuAD train file is in shared/data, so training uses questions of the dev file's articles "
                  f"{s['holdout_articles'] + 1}-48 ({run['train_examples']} of them, a seeded sample) and evaluation its "
                  f"first {s['holdout_articles']} articles ({s['dev_questions']} questions, the same as "
                  f"`squad/dev-v1.1-first2articles.json`): disjoint contexts.", "",
                  "| model | steps | EM | F1 | time |", "|---|---|---|---|---|",
                  f"| best-overlap sentence baseline (no learning) | - | "
                  f"{s['baselines']['best_overlap_sentence']['metrics']['exact_match']:.1f} | "
                  f"{s['baselines']['best_overlap_sentence']['metrics']['f1']:.1f} | - |",
                  f"| MobileBERT-Tiny-4L random init, seq {st['seq_len']}, stride 128, batch {st['batch_size']}, "
                  f"lr {st['learning_rate']:g} | {run['steps']} | {run['metrics']['exact_match']:.1f} | "
                  f"{run['metrics']['f1']:.1f} | {run['wall_seconds'] / 60:.1f} min |"]
        dist = s["runs"]["distilled"]
        if "skipped" not in dist:
            lines.append(f"| distilled student | {dist['steps']} | {dist['metrics']['exact_match']:.1f} | "
                         f"{dist['metrics']['f1']:.1f} | {dist['wall_seconds'] / 60:.1f} min |")
        lines += ["", "A few hundred steps from random init on 2 CPU cores cannot learn reading comprehension; the "
                  "row shows the pipeline end to end (features, training, post-processing, official metric) on the "
                  "real file. The paper reports F1 of about 90 on the full dev set after pre-training and distillation.",
                  ""]
    lines += ["Per-epoch history, settings and model directories: `benchmarks/results/finetune.json`.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    from mobilebert_tf.paths import default_data_dir

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", default="sst-2,rte,mrpc", help="GLUE tasks (default: %(default)s)")
    p.add_argument("--no-squad", action="store_true", help="skip the SQuAD run")
    p.add_argument("--init-distilled", metavar="DIR", help="the distillation benchmark's student directory")
    p.add_argument("--data", default=str(default_data_dir()), help="shared data folder (default: %(default)s)")
    p.add_argument("--results", default=str(ROOT / "benchmarks" / "results"), help="where finetune.json/.md go")
    p.add_argument("--work-dir", default=str(ROOT / "runs" / "bench_finetune"), help="model directories")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="reduced settings for a loaded machine (noted in the md)")
    p.add_argument("--render-only", action="store_true", help="rewrite finetune.md from finetune.json, no runs")
    p.add_argument("--add-distilled", metavar="DIR", help="run only the distilled-student column from DIR and add it "
                   "to the existing finetune.json (its random-init runs and baselines are kept)")
    args = p.parse_args(argv)
    if args.render_only:
        results = json.loads((Path(args.results) / "finetune.json").read_text())
        atomic_write_text(Path(args.results) / "finetune.md", markdown(results))
        return 0
    if args.add_distilled:
        return add_distilled(args)

    import dataclasses

    started = time.perf_counter()
    results = {"date": time.strftime("%Y-%m-%d"), "quick": args.quick, "machine": machine(), "seed": args.seed,
               "model_params": model_params(GLUE_SETTINGS["sst-2"].layers), "glue": {}, "squad": None}
    for name in [t.strip() for t in args.tasks.split(",") if t.strip()]:
        settings = GLUE_SETTINGS[name]
        if args.quick:
            settings = dataclasses.replace(settings, **QUICK.get(name, {}))
        results["glue"][name] = glue_task(name, settings, args)
    if not args.no_squad:
        settings = dataclasses.replace(SQUAD_SETTINGS, **QUICK["squad"]) if args.quick else SQUAD_SETTINGS
        results["squad"] = squad(settings, args)
    results["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    results["total_minutes"] = round((time.perf_counter() - started) / 60, 1)
    out = Path(args.results)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "finetune.json", results, indent=1, ensure_ascii=True)
    atomic_write_text(out / "finetune.md", markdown(results))
    print(markdown(results))
    return 0


def describe_student(path) -> dict:
    """Architecture and provenance of a distilled student directory (config.json + model.json)."""
    from mobilebert_tf import MobileBertConfig

    config = MobileBertConfig.from_json(Path(path) / "config.json")
    info = ModelDir.read(path).info  # {} without a model.json
    keys = ("num_hidden_layers", "hidden_size", "intra_bottleneck_size", "intermediate_size",
            "num_feedforward_networks", "num_attention_heads", "embedding_size")
    return {"dir": str(path), "config": {k: getattr(config, k) for k in keys},
            "provenance": provenance(info)}


def provenance(info: dict) -> dict:
    """How a model directory was trained, from its ``model.json``: the distiller's ``distilled_from``
    (teacher, strategy, stages, steps, layer map) or pretrain's ``trained_by``; {} when neither."""
    for key in ("distilled_from", "trained_by"):
        if isinstance(info.get(key), dict):
            return {"source": key, **info[key]}
    return {}


def add_distilled(args) -> int:
    """The distilled-student column for the tasks of an existing finetune.json (same settings and seed)."""
    import dataclasses

    out = Path(args.results)
    results = json.loads((out / "finetune.json").read_text())
    if not Path(args.add_distilled).is_dir():
        raise SystemExit(f"--add-distilled {args.add_distilled}: no such directory")
    started = time.perf_counter()
    load_start = [round(x, 2) for x in os.getloadavg()]
    args.init_distilled = args.add_distilled
    for name, r in results["glue"].items():
        settings = GLUE_SETTINGS[name]
        if results["quick"]:
            settings = dataclasses.replace(settings, **QUICK.get(name, {}))
        r["runs"]["distilled"] = distilled_run(name, settings, args, data=Path(args.data) / "glue")
    if results.get("squad"):
        settings = dataclasses.replace(SQUAD_SETTINGS, **QUICK["squad"]) if results["quick"] else SQUAD_SETTINGS
        s = results["squad"]
        s["runs"]["distilled"] = distilled_run("squad1", settings, args, data=Path(s["source"]),
                                               holdout_articles=s["holdout_articles"])
    results["distilled"] = {"date": time.strftime("%Y-%m-%d"), "student": describe_student(args.add_distilled),
                            "load_average_start": load_start,
                            "load_average_end": [round(x, 2) for x in os.getloadavg()],
                            "minutes": round((time.perf_counter() - started) / 60, 1)}
    atomic_write_json(out / "finetune.json", results, indent=1, ensure_ascii=True)
    atomic_write_text(out / "finetune.md", markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
