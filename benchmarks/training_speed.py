"""Pre-training step throughput, side by side in one process: our ``pretrain`` step (tf.function, LAMB, MLM
head at the masked positions) against HF transformers' ``MobileBertForPreTraining`` training step (torch CPU
eager, AdamW; its MLM head scores every position), same configs, shapes, threads and batches.

    python benchmarks/training_speed.py                 # mobilebert preset + the distillation benchmark's student
    python benchmarks/training_speed.py --quick         # tiny config, a few steps (a test, not a result)

Rounds alternate ours / torch so both see the same machine load; tokens/s = batch x seq / median step
time (the first step of each of our runs, which traces, is left out; torch gets one warm-up step).
Writes ``benchmarks/results/training_speed.{json,md}`` (``--results``).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from mobilebert_tf.fileio import atomic_write_json, atomic_write_text  # noqa: E402
from mobilebert_tf.benchmarks.distillation import FULL, split_or_head  # noqa: E402
from mobilebert_tf.benchmarks.finetune import machine  # noqa: E402

QUICK_CONFIG = dict(num_hidden_layers=2, hidden_size=64, embedding_size=32, intra_bottleneck_size=32,
                    intermediate_size=64, num_feedforward_networks=2, num_attention_heads=2)
MODELS = {"mobilebert": {}, "benchmark_student": FULL.student}


def set_threads(threads: int) -> dict:
    """Intra-op threads of TF and torch; inter-op 1 for both. TF's can only be set before its runtime starts."""
    import tensorflow as tf
    import torch

    note = None
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError as e:  # already initialized (e.g. inside pytest)
        note = f"TensorFlow threads not applied: {e}"
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    return {"threads": threads, "tf_intra": tf.config.threading.get_intra_op_parallelism_threads(),
            "torch_threads": torch.get_num_threads(), "note": note}


def make_data(data: Path, work: Path, seq_len: int, lines: int) -> str:
    from mobilebert_tf.data.pretraining import PretrainingDataConfig, create_pretraining_data

    target = work / f"data_seq{seq_len}"
    if not (target / "manifest.json").is_file():
        corpus = split_or_head(data / "corpus" / "wikitext-2-wiki.train.tokens", lines, work)
        create_pretraining_data([corpus], data / "vocab" / "bert-base-uncased-vocab.txt", target,
                                PretrainingDataConfig(seq_len=seq_len, max_predictions=max(5, seq_len * 20 // 128),
                                                      seed=7))
    return str(target)


def ours_round(config, data: str, out: Path, batch: int, steps: int) -> list[float]:
    """Seconds of each of our pretrain steps after the first (tracing) one."""
    import shutil

    from mobilebert_tf.training import PretrainConfig, pretrain

    if out.exists():
        shutil.rmtree(out)
    result = pretrain(config, data, out, PretrainConfig(steps=steps + 1, batch_size=batch, checkpoint_every=10 ** 9,
                                                        log_every=10 ** 9), progress=False)
    return [h["step_seconds"] for h in result.history[1:]]


def torch_batches(data: str, batch: int, n: int) -> list[dict]:
    """The same pre-training batches as torch tensors, MLM labels at the masked positions (-100 elsewhere)."""
    import numpy as np
    import torch

    from mobilebert_tf.data.pretraining import make_pretraining_dataset

    out = []
    for b in make_pretraining_dataset(data, batch, shuffle=True, seed=0, repeat=True).take(n):
        b = {k: v.numpy() for k, v in b.items()}
        labels = np.full(b["input_ids"].shape, -100, np.int64)
        rows, cols = np.nonzero(b["masked_lm_weights"])
        labels[rows, b["masked_lm_positions"][rows, cols]] = b["masked_lm_ids"][rows, cols]
        out.append({"input_ids": torch.tensor(b["input_ids"], dtype=torch.long),
                    "attention_mask": torch.tensor(b["input_mask"], dtype=torch.long),
                    "token_type_ids": torch.tensor(b["segment_ids"], dtype=torch.long),
                    "labels": torch.tensor(labels), "next_sentence_label": torch.tensor(
                        b["next_sentence_labels"], dtype=torch.long)})
    return out


def torch_round(config, batches: list[dict]) -> list[float]:
    """Seconds of each HF training step (forward + backward + AdamW) after one warm-up step."""
    import torch
    import transformers

    from mobilebert_tf.checkpoints.hf import config_to_hf_dict

    torch.manual_seed(0)
    model = transformers.MobileBertForPreTraining(transformers.MobileBertConfig(**config_to_hf_dict(config)))
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    times = []
    for i, b in enumerate(batches):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = model(**b).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if i:
            times.append(time.perf_counter() - start)
    return times


def measure(name: str, config, data: str, work: Path, batch: int, seq_len: int, steps: int, rounds: int) -> dict:
    batches = torch_batches(data, batch, steps + 1)
    ours, theirs = [], []
    for r in range(rounds):
        ours += ours_round(config, data, work / f"ours-{name}", batch, steps)
        theirs += torch_round(config, batches)
        print(f"[training_speed] {name} round {r + 1}: ours median {statistics.median(ours):.3f} s/step, torch "
              f"{statistics.median(theirs):.3f} s/step", flush=True)
    tokens = batch * seq_len
    row = {"config": {k: getattr(config, k) for k in ("num_hidden_layers", "hidden_size", "intra_bottleneck_size",
                                                      "intermediate_size", "num_feedforward_networks")},
           "ours_step_seconds": [round(t, 4) for t in ours], "torch_step_seconds": [round(t, 4) for t in theirs],
           "ours_tokens_per_second": round(tokens / statistics.median(ours), 1),
           "torch_tokens_per_second": round(tokens / statistics.median(theirs), 1)}
    row["ratio_ours_over_torch"] = round(row["ours_tokens_per_second"] / row["torch_tokens_per_second"], 3)
    return row


def markdown(r: dict) -> str:
    lines = [f"# Pre-training step throughput{' (QUICK smoke run, not a result)' if r['quick'] else ''}", "",
             f"{r['date']}, {r['machine']['cpu']}, {r['machine']['cores']} cores, threads {r['threads']}; load average "
             f"{r['machine']['load_average_start']} -> {r['machine']['load_average_end']}. Batch {r['batch_size']}, "
             f"seq {r['seq_len']}, {r['steps']} timed steps x {r['rounds']} rounds each, alternating. Ours: "
             "`pretrain`'s tf.function step with LAMB, MLM head at the masked positions only. Torch: HF "
             "`MobileBertForPreTraining` eager, AdamW, MLM logits at every position. Goal: ours >= 1.0x.", "",
             "| model | ours tokens/s | torch tokens/s | ours / torch |", "|---|---|---|---|"]
    for name, row in r["models"].items():
        lines.append(f"| {name} {row['config']} | {row['ours_tokens_per_second']} | {row['torch_tokens_per_second']} "
                     f"| {row['ratio_ours_over_torch']}x |")
    lines += ["", f"Command: `{r['command']}`", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    from mobilebert_tf.paths import default_data_dir

    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny config, 2 steps, 1 round (a smoke test)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--steps", type=int, default=5, help="timed steps per round and side (default: %(default)s)")
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds (default: %(default)s)")
    p.add_argument("--data", default=str(default_data_dir()), help="shared data folder (default: %(default)s)")
    p.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    p.add_argument("--work-dir", default=str(ROOT / "runs" / "bench_training_speed"))
    args = p.parse_args(argv)
    if args.quick:
        args.batch_size, args.seq_len, args.steps, args.rounds = 4, 32, 2, 1
    threads = set_threads(args.threads)

    from mobilebert_tf.config import MobileBertConfig

    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    data = make_data(Path(args.data), work, args.seq_len, 300 if args.quick else 2000)
    models = {"quick": QUICK_CONFIG} if args.quick else MODELS
    results = {"date": time.strftime("%Y-%m-%d %H:%M"), "quick": args.quick, "machine": machine(),
               "threads": threads, "batch_size": args.batch_size, "seq_len": args.seq_len, "steps": args.steps,
               "rounds": args.rounds, "command": "python benchmarks/training_speed.py" + (" " + " ".join(argv)
                                                                                          if argv else ""),
               "models": {}}
    for name, overrides in models.items():
        config = MobileBertConfig.from_preset("mobilebert", **overrides)
        results["models"][name] = measure(name, config, data, work, args.batch_size, args.seq_len, args.steps,
                                          args.rounds)
    results["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    out = Path(args.results)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "training_speed.json", results, indent=1, ensure_ascii=True)
    atomic_write_text(out / "training_speed.md", markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
