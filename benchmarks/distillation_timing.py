"""Timing of the distillation benchmark at its full config's shapes:

    python benchmarks/distillation_timing.py --estimate          # -> distillation_estimate.json
    python benchmarks/distillation_timing.py --time-truncation   # -> distillation_truncation.{json,md}


* ``estimate``: a few steps of every phase (teacher pre-training, scratch, the three KT strategies,
  one short fine-tuning run per task), then the full config's time from the measured per-step
  times (median step, plus each stage's first-step tracing overhead), evaluations and fine-tuning.
* ``time_truncation``: progressive stages with truncated encoders (stage k runs layers 1..k of
  teacher and student) against full encoders, interleaved stage by stage in one process, so that
  both see the same machine load; writes ``distillation_truncation.{json,md}``.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from mobilebert_tf.fileio import atomic_write_json, atomic_write_text  # noqa: E402
from mobilebert_tf.benchmarks.distillation import FULL, TRAIN_SEED, Budget, configs, split_or_head, log  # noqa: E402
from mobilebert_tf.benchmarks.finetune import RunSettings, finetune_run, machine  # noqa: E402

TRAIN_LINES_TOTAL = 36718  # lines of wikitext-2-wiki.train.tokens (wc -l)


def _small_data(budget: Budget, data: Path, work: Path, lines: int, name: str,
                split: str = "train") -> tuple[str, float]:
    from mobilebert_tf.data.pretraining import PretrainingDataConfig, create_pretraining_data

    target = work / name
    start = time.perf_counter()
    if not (target / "manifest.json").is_file():
        corpus = split_or_head(data / "corpus" / f"wikitext-2-wiki.{split}.tokens", lines, work)
        create_pretraining_data([corpus], data / "vocab" / "bert-base-uncased-vocab.txt", target,
                                PretrainingDataConfig(seq_len=budget.seq_len, max_predictions=budget.max_predictions,
                                                      seed=TRAIN_SEED))
    return str(target), time.perf_counter() - start


def _stage_times(history: list[dict]) -> dict[str, dict]:
    """Per stage: median step seconds and tracing overhead (first step minus median)."""
    by_stage: dict[str, list[float]] = {}
    for h in history:
        by_stage.setdefault(h.get("stage", "pretraining"), []).append(h["step_seconds"])
    return {s: {"median": statistics.median(v[1:] or v), "first": v[0], "steps": len(v)} for s, v in by_stage.items()}


def _save_random(config, path: Path, vocab: str) -> str:
    import tf_keras as keras

    from mobilebert_tf.models import MobileBertForPreTraining

    if not (path / "model.json").is_file():
        keras.utils.set_random_seed(0)
        MobileBertForPreTraining(config).build_with_dummy().save_pretrained(path, vocab_file=vocab)
    return str(path)


def estimate(budget: Budget, args) -> int:
    """Measure a few steps of every phase at ``budget``'s shapes and print the estimated full run time."""
    from mobilebert_tf.distillation import DistillConfig, distill
    from mobilebert_tf.training import OptimizerConfig, PretrainConfig, pretrain
    from mobilebert_tf.training.evaluation import PretrainingEvaluator

    data = Path(args.data)
    work = Path(args.work_dir) / "estimate"
    work.mkdir(parents=True, exist_ok=True)
    vocab = str(data / "vocab" / "bert-base-uncased-vocab.txt")
    lines = 3000
    train, data_seconds = _small_data(budget, data, work, lines, "data_train")
    heldout, _ = _small_data(budget, data, work, 1500, "data_heldout", split="test")
    teacher_config, student_config = configs(budget)
    n = 6
    opt = OptimizerConfig(learning_rate=budget.lr)
    measured = {"data_seconds_for_3000_lines": round(data_seconds, 1)}

    def timed_pretrain(name, config, steps):
        ev = PretrainingEvaluator(heldout, max_examples=budget.eval_examples)
        r = pretrain(config, train, work / name, PretrainConfig(steps=steps, batch_size=budget.batch_size,
                                                                  checkpoint_every=10_000, optimizer=opt),
                     progress=False, eval_data=ev)
        return r, ev

    r, ev = timed_pretrain("teacher", teacher_config, n)
    teacher_dir = _save_random(teacher_config, work / "teacher_random", vocab)
    measured["teacher"] = {"stage": _stage_times(r.history), "eval_call_seconds": ev.seconds / len(r.evals)}
    r, ev = timed_pretrain("scratch", student_config, n)
    measured["scratch"] = {"stage": _stage_times(r.history), "eval_call_seconds": ev.seconds / len(r.evals)}
    for strategy, sps, final in (("progressive", 3, 3), ("joint", 1, 3), ("auxiliary", 1, 2)):
        r = distill(teacher_dir, student_config, train, work / strategy, DistillConfig(
            strategy=strategy, steps_per_stage=sps, final_steps=final, batch_size=budget.batch_size,
            checkpoint_every=10_000, optimizer=opt), progress=False)
        measured[strategy] = {"stage": _stage_times(r.history)}

    L = budget.layers
    est = {}
    atomic_write_json(work / "measured.json", measured, indent=1, ensure_ascii=True)  # kept if what follows fails

    def phase(stage_times: dict, steps_of: dict) -> float:
        return sum(stage_times[s]["median"] * steps_of[s] + max(0.0, stage_times[s]["first"] - stage_times[s]["median"])
                   for s in steps_of)

    evals_per_run = budget.student_steps // budget.eval_every + 2
    est["data"] = data_seconds * TRAIN_LINES_TOTAL / lines
    teacher_evals = budget.teacher_steps // budget.eval_every + 2
    est["teacher"] = (phase(measured["teacher"]["stage"], {"pretraining": budget.teacher_steps})
                      + teacher_evals * measured["teacher"]["eval_call_seconds"])
    student_eval = measured["scratch"]["eval_call_seconds"]
    est["scratch"] = phase(measured["scratch"]["stage"], {"pretraining": budget.student_steps})
    prog = measured["progressive"]["stage"]
    est["progressive"] = phase(prog, {**{f"transfer_layer_{k}": budget.steps_per_stage for k in range(L)},
                                      "pretraining_distillation": budget.final_steps})
    est["joint"] = phase(measured["joint"]["stage"], {"joint_transfer": budget.steps_per_stage * L,
                                                      "pretraining_distillation": budget.final_steps})
    # a one-stage run logs no stage name (_stage_times files it under "pretraining")
    est["auxiliary"] = phase(measured["auxiliary"]["stage"], {"pretraining": budget.student_steps})
    for arm in ("scratch", "progressive", "joint", "auxiliary"):
        est[arm] += evals_per_run * student_eval

    # fine-tuning: one short run per task on a (random) student, scaled to the full step count
    student_dir = _save_random(student_config, work / "student_random", vocab)
    ft = {}
    for task, settings in budget.finetune.items():
        probe = RunSettings(**{**settings.__dict__, "max_steps": 30, "epochs": 1})
        run = finetune_run(task, probe, student_dir, work / f"ft-{task}", data=data / "glue", seed=0)
        examples = settings.max_train or run["train_examples"]
        full_steps = settings.epochs * math.ceil(examples / settings.batch_size)
        per_step = run["train_seconds"] / max(run["steps"], 1)
        overhead = run["wall_seconds"] - run["train_seconds"]  # tracing + one dev evaluation
        ft[task] = {"seconds_per_step": per_step, "overhead_seconds": overhead, "full_steps": full_steps,
                    "estimate_per_run": per_step * full_steps + overhead * settings.epochs}
    runs_per_task = 4 * len(budget.seeds)
    est["finetune"] = sum(v["estimate_per_run"] * runs_per_task for v in ft.values())
    est["final_evals"] = 5 * student_eval * 4  # full held-out set, about 4x the curve's 512 examples
    total = sum(est.values())
    result = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine(), "budget": budget.to_dict(),
              "measured": measured, "finetune_probe": ft, "estimate_seconds": {k: round(v) for k, v in est.items()},
              "estimate_total_hours": round(total / 3600, 2)}
    out = Path(args.results)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "distillation_estimate.json", result, indent=1, ensure_ascii=True)
    for k, v in est.items():
        print(f"{k:>12}: {v / 60:6.1f} min")
    print(f"{'total':>12}: {total / 3600:6.2f} h (load average {os.getloadavg()[0]:.2f}; shared machine: noisy)")
    return 0


def time_truncation(budget: Budget, args, steps_per_stage: int = 8) -> int:
    """Progressive transfer stages with and without truncated encoders, interleaved, at ``budget``'s shapes."""
    from mobilebert_tf.distillation import DistillConfig, Distiller
    from mobilebert_tf.training import OptimizerConfig

    data = Path(args.data)
    work = Path(args.work_dir) / "truncation"
    work.mkdir(parents=True, exist_ok=True)
    vocab = str(data / "vocab" / "bert-base-uncased-vocab.txt")
    train, _ = _small_data(budget, data, work, 1500, "data_train")
    teacher_config, student_config = configs(budget)
    teacher_dir = _save_random(teacher_config, work / "teacher_random", vocab)
    config = DistillConfig(strategy="progressive", steps_per_stage=steps_per_stage, final_steps=0,
                           batch_size=budget.batch_size, checkpoint_every=10_000,
                           optimizer=OptimizerConfig(learning_rate=budget.lr))
    runs = {}
    for truncate in (True, False):
        out = work / f"student_truncate_{truncate}"
        if out.exists():
            import shutil

            shutil.rmtree(out)
        runs[truncate] = Distiller(teacher_dir, student_config, train, out, config, truncate=truncate, progress=False)
    stages = runs[True].stages
    rows = []
    load_start = [round(x, 2) for x in os.getloadavg()]
    for k, stage in enumerate(stages):
        row = {"stage": stage.name, "depths_truncated": runs[True].stage_depths(stage)}
        order = (True, False) if k % 2 == 0 else (False, True)  # alternate who goes first
        for truncate in order:
            start = time.perf_counter()
            result = runs[truncate].run(stop_at=(k + 1) * steps_per_stage)
            wall = time.perf_counter() - start
            steps = [h["step_seconds"] for h in result.history]
            key = "truncated" if truncate else "full"
            row[key] = {"wall_seconds": round(wall, 2), "median_step_seconds": round(statistics.median(steps[1:]), 4),
                        "first_step_seconds": round(steps[0], 2)}
        log(f"{stage.name}: truncated {row['truncated']['wall_seconds']} s, full {row['full']['wall_seconds']} s")
        rows.append(row)
    tot = {key: sum(r[key]["wall_seconds"] for r in rows) for key in ("truncated", "full")}
    steady = {key: sum(r[key]["median_step_seconds"] for r in rows) * steps_per_stage for key in ("truncated", "full")}
    result = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": {**machine(), "load_average_start": load_start,
                                                                   "load_average_end": [round(x, 2) for x in
                                                                                        os.getloadavg()]},
              "teacher": budget.teacher, "student": budget.student, "batch_size": budget.batch_size,
              "seq_len": budget.seq_len, "steps_per_stage": steps_per_stage, "stages": rows,
              "wall_seconds": {k: round(v, 1) for k, v in tot.items()},
              "wall_ratio_full_over_truncated": round(tot["full"] / tot["truncated"], 2),
              "steady_seconds": {k: round(v, 2) for k, v in steady.items()},
              "steady_ratio_full_over_truncated": round(steady["full"] / steady["truncated"], 2)}
    out = Path(args.results)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "distillation_truncation.json", result, indent=1, ensure_ascii=True)
    lines = [f"# Progressive stages: truncated vs full encoders ({result['date']}, {result['machine']['cpu']}, "
             f"{result['machine']['cores']} cores, load {load_start} -> {result['machine']['load_average_end']})", "",
             f"Teacher {budget.teacher}, student {budget.student}; batch {budget.batch_size}, seq {budget.seq_len}, "
             f"{steps_per_stage} steps per stage, interleaved stage by stage in one process (who goes first "
             "alternates). Wall includes each stage's tracing; steady = median step x steps. The machine is "
             "shared and noisy.", "",
             "| stage | depths (teacher, student) | truncated wall s | full wall s | truncated median step s | "
             "full median step s |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['stage']} | {r['depths_truncated']} | {r['truncated']['wall_seconds']} | "
                     f"{r['full']['wall_seconds']} | {r['truncated']['median_step_seconds']} | "
                     f"{r['full']['median_step_seconds']} |")
    lines += ["", f"Total wall: truncated {tot['truncated']:.1f} s, full {tot['full']:.1f} s, ratio full/truncated "
              f"{result['wall_ratio_full_over_truncated']}x; steady-state ratio "
              f"{result['steady_ratio_full_over_truncated']}x.",
              "", "Command: `python benchmarks/distillation_timing.py --time-truncation`", ""]
    atomic_write_text(out / "distillation_truncation.md", "\n".join(lines))
    print("\n".join(lines))
    return 0


def main(argv=None) -> int:
    from mobilebert_tf.paths import default_data_dir

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--estimate", action="store_true", help="estimate the full run's time from a few steps")
    mode.add_argument("--time-truncation", action="store_true", help="truncated vs full encoders, interleaved")
    p.add_argument("--steps-per-stage", type=int, default=8, help="--time-truncation: steps per stage")
    p.add_argument("--data", default=str(default_data_dir()), help="shared data folder (default: %(default)s)")
    p.add_argument("--results", default=str(ROOT / "benchmarks" / "results"), help="where the results go")
    p.add_argument("--work-dir", default=str(ROOT / "runs" / "bench_distillation"), help="data and model directories")
    args = p.parse_args(argv)
    if args.estimate:
        return estimate(FULL, args)
    return time_truncation(FULL, args, steps_per_stage=args.steps_per_stage)


if __name__ == "__main__":
    sys.exit(main())
