"""The knowledge-transfer ablation (paper Table 6) on the shared WikiText-2 data: one teacher, one student,
the same budget for four students.

1. Pre-training data from the WikiText-2 **train** split; the held-out set from the **test** split
   (same masking code, fixed seed ``HELDOUT_SEED``).
2. One IB-BERT-shaped teacher pre-trained with MLM + NSP (``pretrain``).
3. Four MobileBERT-shaped students of one architecture, each with the same number of student optimizer
   steps on the same data: (a) ``scratch`` MLM + NSP (``pretrain``), (b) ``auxiliary``, (c) ``joint``,
   (d) ``progressive`` knowledge transfer (``distill``). Held-out MLM loss / accuracy and NSP accuracy
   (``--eval-data``; learning curves), wall time, tokens/s.
4. Each student fine-tuned on SST-2 and MRPC with identical settings over several seeds (mean +- std),
   beside majority class and TF-IDF + LR on the same train examples (``benchmarks/finetune.py``).

    python benchmarks/distillation.py                 # the full config (sized for ~3 h on 2 cores)
    python benchmarks/distillation.py --quick         # every arm for a few steps at tiny sizes (a test)
    python benchmarks/distillation_timing.py --estimate          # time a few steps of each phase -> estimate
    python benchmarks/distillation_timing.py --time-truncation   # progressive stages with/without truncation

Writes ``benchmarks/results/distillation.{json,md,png}`` (``--results``); models and data go to
``--work-dir`` (default ``runs/bench_distillation``). Finished phases are kept and skipped on a rerun
(an interrupted training phase resumes from its checkpoint).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from mobilebert_tf.data.pretraining import corpus_head  # noqa: E402
from mobilebert_tf.fileio import atomic_write_json, atomic_write_text  # noqa: E402
from mobilebert_tf.modeldir import ModelDir  # noqa: E402
from mobilebert_tf.benchmarks.finetune import (RunSettings, finetune_run, glue_baselines, machine, provenance)  # noqa: E402

ARMS = ("scratch", "auxiliary", "joint", "progressive")
KT_ARMS = ARMS[1:]
TASKS = ("sst-2", "mrpc")
HELDOUT_SEED = 12345
TRAIN_SEED = 7
#: the dev metric each task is ranked by (MRPC also reports F1)
TASK_METRICS = {"sst-2": ("accuracy",), "mrpc": ("accuracy", "f1")}


@dataclasses.dataclass(frozen=True)
class Budget:
    """One configuration of the ablation. ``teacher``/``student``: overrides of the ``ib_bert_large`` /
    ``mobilebert`` presets; ``student_steps`` = ``steps_per_stage * layers + final_steps`` for every arm;
    ``corpus_lines``/``heldout_lines``: use only the first N lines of the train/test split (None: all)."""

    seq_len: int
    max_predictions: int
    teacher: dict
    student: dict
    teacher_steps: int
    teacher_lr: float
    batch_size: int
    lr: float
    steps_per_stage: int
    final_steps: int
    eval_every: int
    eval_examples: int | None
    finetune: dict
    seeds: tuple
    corpus_lines: int | None = None
    heldout_lines: int | None = None
    dupe_factor: int = 1
    finetune_eval_examples: int | None = None  # dev examples scored (None: the whole dev file)

    @property
    def layers(self) -> int:
        return self.student["num_hidden_layers"]

    @property
    def student_steps(self) -> int:
        return self.steps_per_stage * self.layers + self.final_steps

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["finetune"] = {k: dataclasses.asdict(v) for k, v in self.finetune.items()}
        d["student_steps"] = self.student_steps
        return d


_SHARED = dict(hidden_size=256, embedding_size=64, num_attention_heads=4, max_position_embeddings=512)
# The full config, sized from steps/s measured by distillation_timing.py --estimate (docs/distillation.md).
FULL = Budget(
    seq_len=64, max_predictions=10,
    teacher=dict(num_hidden_layers=4, intra_bottleneck_size=256, intermediate_size=1024, **_SHARED),
    student=dict(num_hidden_layers=4, intra_bottleneck_size=64, intermediate_size=256, num_feedforward_networks=4,
                 **_SHARED),
    teacher_steps=2000, teacher_lr=2e-3, batch_size=32, lr=2e-3, steps_per_stage=150, final_steps=600,
    eval_every=150, eval_examples=512,
    finetune={"sst-2": RunSettings(layers=0, seq_len=64, epochs=2, learning_rate=1e-3, max_train=3000),
              "mrpc": RunSettings(layers=0, seq_len=128, epochs=2, learning_rate=1e-3)},
    seeds=(0, 1, 2))
QUICK = Budget(
    seq_len=32, max_predictions=5,
    teacher=dict(num_hidden_layers=2, hidden_size=64, embedding_size=32, intra_bottleneck_size=64,
                 intermediate_size=128, num_attention_heads=2),
    student=dict(num_hidden_layers=2, hidden_size=64, embedding_size=32, intra_bottleneck_size=32,
                 intermediate_size=64, num_feedforward_networks=2, num_attention_heads=2),
    teacher_steps=4, teacher_lr=1e-2, batch_size=8, lr=1e-2, steps_per_stage=1, final_steps=2,
    eval_every=2, eval_examples=16,
    finetune={"sst-2": RunSettings(layers=0, seq_len=32, epochs=1, learning_rate=1e-3, batch_size=16, max_train=64,
                                   max_steps=2),
              "mrpc": RunSettings(layers=0, seq_len=32, epochs=1, learning_rate=1e-3, batch_size=16, max_train=64,
                                  max_steps=2)},
    seeds=(0,), corpus_lines=300, heldout_lines=120, finetune_eval_examples=48)


def log(msg: str) -> None:
    print(f"[distillation] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------------- data

def split_or_head(split_file: Path, lines: int | None, work: Path) -> Path:
    """The split itself, or its first ``lines`` lines written into ``work`` (quick mode)."""
    return split_file if lines is None else corpus_head(split_file, lines, work)


def make_data(budget: Budget, data: Path, work: Path) -> dict:
    """Pre-training data from the train split and the held-out set from the test split (seeded)."""
    from mobilebert_tf.data.pretraining import PretrainingDataConfig, create_pretraining_data, read_manifest

    vocab = data / "vocab" / "bert-base-uncased-vocab.txt"
    out = {}
    for name, split, lines, seed in (("train", "train", budget.corpus_lines, TRAIN_SEED),
                                     ("heldout", "test", budget.heldout_lines, HELDOUT_SEED)):
        target = work / f"data_{name}"
        if not (target / "manifest.json").is_file():
            corpus = split_or_head(data / "corpus" / f"wikitext-2-wiki.{split}.tokens", lines, work)
            start = time.perf_counter()
            create_pretraining_data([corpus], vocab, target, PretrainingDataConfig(
                seq_len=budget.seq_len, max_predictions=budget.max_predictions, seed=seed,
                dupe_factor=budget.dupe_factor if name == "train" else 1, shards=4 if name == "train" else 1))
            log(f"{name} data: {time.perf_counter() - start:.0f} s")
        m = read_manifest(target)
        out[name] = {"dir": str(target), "examples": m["num_instances"], "seed": seed,
                     "corpus": [{k: c[k] for k in ("path", "sha256", "tokens")} for c in m["corpus"]]}
    return out


# ---------------------------------------------------------------------------------------------------- training

def configs(budget: Budget):
    from mobilebert_tf.config import MobileBertConfig

    return (MobileBertConfig.from_preset("ib_bert_large", **budget.teacher),
            MobileBertConfig.from_preset("mobilebert", **budget.student))


def read_curve(run_dir: Path) -> list[dict]:
    """Held-out evaluations of a run from its metrics.jsonl (the last record of each step wins: a resumed
    run may have logged one twice)."""
    by_step = {}
    path = run_dir / "logs" / "metrics.jsonl"
    if path.is_file():
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if "eval" in record:
                by_step[record["step"]] = record["eval"]
    return [{"step": s, **by_step[s]} for s in sorted(by_step)]


def train_phase(name: str, out_dir: Path, budget: Budget, heldout: str, fn) -> dict:
    """Run ``fn(evaluator)`` (a pretrain / distill call) unless ``out_dir`` already holds its model;
    returns wall time, tokens/s and the held-out curve."""
    from mobilebert_tf.training.evaluation import PretrainingEvaluator

    summary_file = out_dir / "phase.json"
    if (out_dir / "model.json").is_file() and summary_file.is_file():
        log(f"{name}: done already ({out_dir}), skipping")
        return json.loads(summary_file.read_text())
    evaluator = PretrainingEvaluator(heldout, max_examples=budget.eval_examples)
    start = time.perf_counter()
    result = fn(evaluator)
    wall = time.perf_counter() - start
    steps = [h for h in result.history if "step_seconds" in h]
    step_seconds = sum(h["step_seconds"] for h in steps)
    tokens = len(steps) * budget.batch_size * budget.seq_len
    steady = statistics.median([h["step_seconds"] for h in steps]) if steps else float("nan")
    summary = {"steps": result.state["global_step"], "steps_this_call": len(steps),
               "resumed": len(steps) < result.state["global_step"], "wall_seconds": round(wall, 1),
               "train_step_seconds": round(step_seconds, 1), "eval_seconds": round(evaluator.seconds, 1),
               "tokens_per_second": round(tokens / step_seconds, 1) if step_seconds else None,
               "tokens_per_second_median_step": round(budget.batch_size * budget.seq_len / steady, 1)
               if steps else None,
               "curve": read_curve(out_dir)}
    atomic_write_json(summary_file, summary, indent=1, ensure_ascii=True)
    log(f"{name}: {summary['steps']} steps, {wall:.0f} s, {summary['tokens_per_second']} tokens/s, held-out "
        f"MLM loss {summary['curve'][-1]['mlm_loss']:.3f}" if summary["curve"] else f"{name}: done")
    return summary


def train_teacher(budget: Budget, train: str, heldout: str, work: Path, vocab: str) -> dict:
    from mobilebert_tf.training import OptimizerConfig, PretrainConfig, pretrain

    teacher_config, _ = configs(budget)
    out = work / "teacher"
    return train_phase("teacher", out, budget, heldout, lambda ev: pretrain(
        teacher_config, train, out, PretrainConfig(steps=budget.teacher_steps, batch_size=budget.batch_size, seed=0,
                                                   checkpoint_every=500, log_every=50,
                                                   optimizer=OptimizerConfig(learning_rate=budget.teacher_lr)),
        resume=True, vocab_file=vocab, progress=False, eval_data=ev, eval_every=budget.eval_every))


def train_arm(arm: str, budget: Budget, train: str, heldout: str, work: Path, vocab: str) -> dict:
    from mobilebert_tf.distillation import DistillConfig, distill
    from mobilebert_tf.training import OptimizerConfig, PretrainConfig, pretrain

    _, student_config = configs(budget)
    out = work / arm
    optimizer = OptimizerConfig(learning_rate=budget.lr)
    if arm == "scratch":
        def fn(ev):
            return pretrain(student_config, train, out, PretrainConfig(
                steps=budget.student_steps, batch_size=budget.batch_size, seed=1, checkpoint_every=500,
                log_every=50, optimizer=optimizer), resume=True, vocab_file=vocab, progress=False, eval_data=ev,
                eval_every=budget.eval_every)
    else:
        def fn(ev):
            return distill(str(work / "teacher"), student_config, train, out, DistillConfig(
                strategy=arm, steps_per_stage=budget.steps_per_stage, final_steps=budget.final_steps,
                batch_size=budget.batch_size, seed=1, checkpoint_every=500, log_every=50, optimizer=optimizer),
                resume=True, vocab_file=vocab, progress=False, eval_data=ev, eval_every=budget.eval_every)
    summary = train_phase(arm, out, budget, heldout, fn)
    if summary["steps"] != budget.student_steps:
        raise RuntimeError(f"{arm}: {summary['steps']} student steps, expected {budget.student_steps}")
    return summary


def final_heldout(model_dir: Path, heldout: str) -> dict:
    from mobilebert_tf.training.evaluation import evaluate_pretraining, load_pretraining_model

    return evaluate_pretraining(load_pretraining_model(str(model_dir)), heldout)


# ---------------------------------------------------------------------------------------------------- fine-tuning

def mean_std(values: list[float]) -> dict:
    """Mean and sample standard deviation (ddof 1; 0 for a single value), in percent."""
    pct = [100.0 * v for v in values]
    return {"mean": round(statistics.fmean(pct), 2), "std": round(statistics.stdev(pct), 2) if len(pct) > 1 else 0.0,
            "values": [round(v, 2) for v in pct]}


def finetune_arms(budget: Budget, arms: dict[str, Path], glue: Path, work: Path) -> dict:
    out = {}
    for task in TASKS:
        settings = budget.finetune[task]
        runs: dict[str, list[dict]] = {arm: [] for arm in arms}
        baselines: dict[str, list[dict]] = {}
        for seed in budget.seeds:
            b = glue_baselines(task, settings.max_train, glue, seed, full_train=False,
                               max_dev=budget.finetune_eval_examples)
            for name, r in b["baselines"].items():
                baselines.setdefault(name, []).append(r["metrics"])
            for arm, model_dir in arms.items():
                run = finetune_run(task, settings, str(model_dir), work / "finetune" / f"{task}-{arm}-seed{seed}",
                                   data=glue, seed=seed, max_eval_examples=budget.finetune_eval_examples)
                log(f"{task} {arm} seed {seed}: {run['metrics']} ({run['wall_seconds']} s)")
                runs[arm].append(run)
        metrics = TASK_METRICS[task]
        out[task] = {
            "settings": dataclasses.asdict(settings),
            "dev_examples": b["dev_examples"],
            "baselines": {name: {m: mean_std([r[m] for r in rs]) for m in metrics} for name, rs in baselines.items()},
            "arms": {arm: {**{m: mean_std([r["metrics"][m] for r in rs]) for m in metrics},
                           "seconds_per_run": round(statistics.fmean(r["wall_seconds"] for r in rs), 1),
                           "steps": rs[0]["steps"]} for arm, rs in runs.items()}}
    return out


# ---------------------------------------------------------------------------------------------------- report

def verdicts(results: dict) -> dict:
    """The issue's targets and the paper's ordering, computed from the numbers (whatever they are)."""
    final = {arm: results["arms"][arm]["heldout"]["mlm_loss"] for arm in ARMS}
    out = {"kt_below_scratch_mlm_loss": {arm: {"met": final[arm] < final["scratch"],
                                               "margin": round(final["scratch"] - final[arm], 4)}
                                         for arm in KT_ARMS}}
    order = sorted(KT_ARMS, key=lambda a: final[a])
    out["heldout_mlm_loss_order_best_first"] = order
    out["paper_order_progressive_joint_auxiliary_mlm_loss"] = final["progressive"] <= final["joint"] <= final[
        "auxiliary"]
    sst = results["finetune"]["sst-2"]
    best_arm = max(ARMS, key=lambda a: sst["arms"][a]["accuracy"]["mean"])
    tfidf = sst["baselines"]["tfidf_lr_same_train"]["accuracy"]["mean"]
    best = sst["arms"][best_arm]["accuracy"]["mean"]
    out["best_student_beats_tfidf_sst2"] = {"met": best > tfidf, "best_arm": best_arm, "best": best,
                                            "tfidf_lr": tfidf, "margin": round(best - tfidf, 2)}
    acc = {a: sst["arms"][a]["accuracy"]["mean"] for a in KT_ARMS}
    out["paper_order_progressive_joint_auxiliary_sst2"] = acc["progressive"] >= acc["joint"] >= acc["auxiliary"]
    return out


def _pm(m: dict) -> str:
    return f"{m['mean']:.1f} ± {m['std']:.1f}"


def markdown(results: dict) -> str:
    b = results["budget"]
    mach = results["machine"]
    quick = " — QUICK smoke run, not a result" if results["quick"] else ""
    lines = [f"# Knowledge-transfer ablation (paper Table 6){quick}",
             "", f"Command: `{results['command']}`  ", f"Date {results['date']}; machine: {mach['cpu']}, "
             f"{mach['cores']} cores, TensorFlow {mach['tensorflow']}; load average {mach['load_average_start']} -> "
             f"{mach.get('load_average_end')}; total {results['total_minutes']} min.", "",
             f"Teacher: IB-BERT-shaped {b['teacher']}, {b['teacher_steps']} steps at batch {b['batch_size']}, "
             f"seq {b['seq_len']}. Student (every arm): MobileBERT-shaped {b['student']}. Every arm: "
             f"{b['student_steps']} student optimizer steps at batch {b['batch_size']} (KT: {b['steps_per_stage']} "
             f"per layer x {b['student']['num_hidden_layers']} + {b['final_steps']} final; scratch: MLM + NSP "
             f"for the same count), LAMB lr {b['lr']}. Training data: WikiText-2 train split "
             f"({results['data']['train']['examples']} examples); held-out: WikiText-2 test split "
             f"({results['data']['heldout']['examples']} examples, seed {results['data']['heldout']['seed']}).", "",
             "| model | held-out MLM loss | MLM acc | NSP acc | wall s | tokens/s (train steps) |",
             "|---|---|---|---|---|---|"]
    t = results["teacher"]
    lines.append(f"| teacher | {t['heldout']['mlm_loss']:.3f} | {100 * t['heldout']['mlm_accuracy']:.1f} | "
                 f"{100 * t['heldout']['nsp_accuracy']:.1f} | {t['wall_seconds']:.0f} | {t['tokens_per_second']} |")
    for arm in ARMS:
        a = results["arms"][arm]
        lines.append(f"| {arm} | {a['heldout']['mlm_loss']:.3f} | {100 * a['heldout']['mlm_accuracy']:.1f} | "
                     f"{100 * a['heldout']['nsp_accuracy']:.1f} | {a['wall_seconds']:.0f} | {a['tokens_per_second']} |")
    lines += ["", "Wall time includes tracing, checkpoints and held-out evaluations; tokens/s counts token "
              "positions (batch x seq) over the summed train-step times (KT arms include the teacher's forward).",
              "", "Fine-tuning (dev, mean ± std over seeds " + ", ".join(map(str, b["seeds"]))
              + "; identical settings "
              "for every student; baselines on the same train examples):", ""]
    for task in TASKS:
        f = results["finetune"][task]
        metrics = TASK_METRICS[task]
        lines += [f"**{task}** ({f['settings']})", "", "| model | " + " | ".join(metrics) + " |",
                  "|---|" + "---|" * len(metrics)]
        for name, r in f["baselines"].items():
            lines.append(f"| {name} | " + " | ".join(_pm(r[m]) for m in metrics) + " |")
        for arm in ARMS:
            lines.append(f"| {arm} | " + " | ".join(_pm(f["arms"][arm][m]) for m in metrics) + " |")
        lines.append("")
    v = results["verdicts"]
    lines += ["Targets (computed):", ""]
    for arm, r in v["kt_below_scratch_mlm_loss"].items():
        lines.append(f"- {arm} held-out MLM loss below scratch: {'MET' if r['met'] else 'MISSED'} "
                     f"(scratch minus {arm}: {r['margin']:+.4f})")
    s = v["best_student_beats_tfidf_sst2"]
    lines += [f"- best student ({s['best_arm']}, {s['best']:.1f}) beats TF-IDF + LR on SST-2 dev "
              f"({s['tfidf_lr']:.1f}): "
              f"{'MET' if s['met'] else 'MISSED'} ({s['margin']:+.2f})",
              f"- paper ordering progressive ≥ joint ≥ auxiliary: held-out MLM loss "
              f"{'holds' if v['paper_order_progressive_joint_auxiliary_mlm_loss'] else 'does not hold'} "
              f"(best first: {', '.join(v['heldout_mlm_loss_order_best_first'])}); SST-2 "
              f"{'holds' if v['paper_order_progressive_joint_auxiliary_sst2'] else 'does not hold'}",
              "", "Learning curves: `distillation.png`; every number and setting: `distillation.json`.", ""]
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for arm in ARMS:
        curve = results["arms"][arm]["curve"]
        ax.plot([c["step"] for c in curve], [c["mlm_loss"] for c in curve], marker=".", label=arm)
    teacher = results["teacher"]["heldout"]["mlm_loss"]
    ax.axhline(teacher, color="gray", linestyle="--", label=f"teacher (final) {teacher:.2f}")
    ax.set_xlabel("student optimizer step")
    ax.set_ylabel("held-out MLM loss (WikiText-2 test)")
    ax.set_title(f"Knowledge-transfer ablation{' (QUICK smoke run)' if results['quick'] else ''}")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------------- main

def run(budget: Budget, args, command: str) -> dict:
    data = Path(args.data)
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    vocab = str(data / "vocab" / "bert-base-uncased-vocab.txt")
    started = time.perf_counter()
    results = {"date": time.strftime("%Y-%m-%d"), "command": command, "quick": args.quick, "machine": machine(),
               "budget": budget.to_dict()}
    results["data"] = make_data(budget, data, work)
    train, heldout = results["data"]["train"]["dir"], results["data"]["heldout"]["dir"]
    results["teacher"] = train_teacher(budget, train, heldout, work, vocab)
    results["teacher"]["heldout"] = final_heldout(work / "teacher", heldout)
    results["arms"] = {}
    for arm in ARMS:
        results["arms"][arm] = train_arm(arm, budget, train, heldout, work, vocab)
        results["arms"][arm]["heldout"] = final_heldout(work / arm, heldout)
        results["arms"][arm]["provenance"] = provenance(ModelDir.read(work / arm).info)
    results["finetune"] = finetune_arms(budget, {arm: work / arm for arm in ARMS}, data / "glue", work)
    results["verdicts"] = verdicts(results)
    results["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    results["total_minutes"] = round((time.perf_counter() - started) / 60, 1)
    return results


def write_results(results: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "distillation.json", results, indent=1, ensure_ascii=True)
    atomic_write_text(out / "distillation.md", markdown(results))
    plot(results, out / "distillation.png")


def main(argv=None) -> int:
    from mobilebert_tf.paths import default_data_dir

    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes, a few steps per arm (a smoke test, not a result)")
    p.add_argument("--data", default=str(default_data_dir()), help="shared data folder (default: %(default)s)")
    p.add_argument("--results", default=str(ROOT / "benchmarks" / "results"), help="where the results go")
    p.add_argument("--work-dir", default=str(ROOT / "runs" / "bench_distillation"), help="data and model directories")
    args = p.parse_args(argv)
    budget = QUICK if args.quick else FULL
    command = "python benchmarks/distillation.py" + (" " + " ".join(argv) if argv else "")
    results = run(budget, args, command)
    write_results(results, Path(args.results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
