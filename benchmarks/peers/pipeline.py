"""The whole peers run: build and export each preset, check agreement, measure every configuration
interleaved, judge the targets, profile the missed ones; returns the results dict ``write_results``
renders."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from mobilebert_tf.benchmarks.machine import finish, load_caveat
from mobilebert_tf.benchmarks.machine import machine as describe_machine
from mobilebert_tf.benchmarks.peers.agreement import (agreement, packed_inputs, run_ort_outputs, run_tflite_outputs,
                                                      run_torch_outputs)
from mobilebert_tf.benchmarks.peers.build import (NUM_LABELS, ORT_MODES, PRESETS, SEED, TFLITE_MODES, load_torch,
                                                  prepare_preset)
from mobilebert_tf.benchmarks.peers.measure import Config, measure_in_subprocess, summarize_config, versions
from mobilebert_tf.benchmarks.peers.report import foreign_cores
from mobilebert_tf.benchmarks.peers.profile import profile_ort, profile_tflite_ops, tflite_op_stats, xnnpack_partitions
from mobilebert_tf.benchmarks.peers.targets import PRECISION, best_row, compute_ratios, profile_targets


def run(*, presets=PRESETS, layers=None, seq_len=128, threads=2, extra_threads=(), runs=30, warmup=5, rounds=3,
        n_inputs=8, tflite_modes=TFLITE_MODES, ort_modes=ORT_MODES, ort_no_spin=True, torch_eager=True,
        profile=True, force_profile=False, workdir=None, reuse=False, data_dir=None, gate_examples=8,
        calibration_examples=50, max_foreign=0.5, retries=2, log=print) -> dict:
    """Build, export, check agreement, measure, profile; returns the results dict (``write_results``).
    Targets are judged at ``threads``; ``extra_threads`` adds the same measurements at other thread
    counts (their ratios go to ``ratios_by_threads``)."""
    import torch

    from mobilebert_tf.benchmarks.inputs import real_inputs
    from mobilebert_tf.paths import bert_vocab, default_data_dir

    t0 = time.perf_counter()
    data_dir = Path(data_dir or default_data_dir())
    vocab = bert_vocab(data_dir)
    workdir = Path(workdir or tempfile.mkdtemp(prefix="mobilebert-peers-"))
    workdir.mkdir(parents=True, exist_ok=True)
    thread_counts = [threads] + [t for t in extra_threads if t != threads]
    torch.set_num_threads(threads)
    results = {"machine": describe_machine(), "versions": versions(),
               "settings": {"layers": layers, "seq_len": seq_len, "threads": threads, "extra_threads": thread_counts[1:],
                            "runs_per_round": runs, "warmup": warmup, "rounds": rounds, "batch": 1,
                            "max_other_load_cores": max_foreign, "retries": retries,
                            "inputs": n_inputs, "seed": SEED,
                            "task": f"sequence classification, {NUM_LABELS} labels, random weights",
                            "torch": "OMP_WAIT_POLICY=PASSIVE (active OpenMP spinning on shared cores gave "
                                     "p90 spikes of 10-100x)",
                            "ort": "ORT_ENABLE_ALL, CPU EP, inter_op 1, sequential; 'ORT' = default intra-op "
                                   "spinning, 'ORT no-spin' = session.intra_op.allow_spinning 0; targets use the "
                                   "faster of the two"},
               "models": {}, "agreement": {}, "latency": [], "ratios": [], "ratios_by_threads": {}, "profiles": {}}
    configs: list[Config] = []
    bench_inputs = unpadded = None
    for preset in presets:
        d = workdir / preset
        rec = prepare_preset(preset, d, layers=layers, seq_len=seq_len, tflite_modes=tflite_modes, ort_modes=ort_modes,
                             data_dir=data_dir, vocab=vocab, gate_examples=gate_examples,
                             calibration_examples=calibration_examples, reuse=reuse, log=log)
        exports, onnx, hf_dir, hf_class = rec["exports"], rec["onnx"], Path(rec["hf_dir"]), rec["hf_class"]
        results["models"][preset] = rec["info"]
        if bench_inputs is None:
            any_tflite = next(iter(exports.values()))["path"]
            bench_inputs = real_inputs(any_tflite, n_inputs, data_dir=data_dir)
            unpadded = packed_inputs(vocab, data_dir, min(n_inputs, 4), seq_len)
            results["settings"]["real_tokens_per_input"] = [int(r["mask"].sum()) for r in bench_inputs]

        # agreement, same weights: torch vs ORT fp32 vs TFLite float (+ the quantized ones, for information)
        wrapped = load_torch(hf_dir, hf_class, threads)
        agree = {}
        for label, rows in (("unpadded", unpadded), ("padded", bench_inputs)):
            outs = {"torch fp32": run_torch_outputs(wrapped, rows)}
            for k, v in onnx.items():
                outs[f"ORT {k}"] = run_ort_outputs(v["path"], rows, threads)
            for k, v in exports.items():
                outs[f"TFLite {k}"] = run_tflite_outputs(v["path"], rows, threads)
            agree[label] = agreement(outs)
        results["agreement"][preset] = agree
        for name, a in agree["unpadded"].items():
            log(f"  agreement (unpadded) {name:<14} vs torch: max |dp| {a['max_abs_diff_probability']:.2e}, "
                f"max |d log-odds| {a['max_abs_diff_log_odds']:.2e}")
        del wrapped

        for t in thread_counts:
            for mode, e in exports.items():
                configs.append(Config(preset, "TFLite (ours)", PRECISION[mode], "tflite", e["path"],
                                      size_mb=e["size_mb"], threads=t))
            for mode, o in onnx.items():
                precision = PRECISION["fp32" if mode == "fp32" else "ort-int8"]
                configs.append(Config(preset, "ORT", precision, "ort", o["path"], size_mb=o["size_mb"], threads=t))
                if ort_no_spin and t > 1:  # with one thread there is no pool to spin
                    configs.append(Config(preset, "ORT no-spin", precision, "ort", o["path"],
                                          options={"spinning": False}, size_mb=o["size_mb"], threads=t))
            if torch_eager:
                size = sum(f.stat().st_size for f in hf_dir.glob("*.safetensors")) / 1e6
                configs.append(Config(preset, "torch eager", "fp32", "torch", str(hf_dir), hf_class,
                                      options={"omp_wait_policy": "PASSIVE"}, size_mb=size, threads=t))

    log(f"measuring {len(configs)} configurations x {rounds} rounds x {runs} runs (threads {thread_counts})")
    measure_in_subprocess(configs, bench_inputs, workdir, runs, warmup, rounds, max_foreign, retries)
    rows = [summarize_config(c) for c in configs]
    results["latency"] = rows
    results["ratios"] = compute_ratios(rows, threads)
    for t in thread_counts:
        results["ratios_by_threads"][str(t)] = compute_ratios(rows, t)
    for r in results["ratios"]:
        log(f"  {r['name']}: {r['value']:.2f} (target {r['target']}) {r['status']}")

    if profile:
        for preset, mode in profile_targets(results["ratios"], presets, tflite_modes, force_profile):
            ours = best_row(rows, preset, "TFLite", PRECISION[mode], threads)
            if ours is None:
                continue
            path = next(c.path for c in configs if c.model == preset and c.kind == "tflite"
                        and c.precision == PRECISION[mode])
            log(f"profiling {preset} TFLite {mode} per op")
            prof = {"tflite": profile_tflite_ops(path, bench_inputs, threads), "tflite_ops": tflite_op_stats(path),
                    "xnnpack_partitions": xnnpack_partitions(path, bench_inputs, threads),
                    "tflite_p50_ms": ours["p50_ms"]}
            ort = None if mode == "dynamic" else best_row(rows, preset, "ORT",
                                                            PRECISION["fp32" if mode == "none" else "ort-int8"], threads)
            if ort is not None:
                ort_path = next(c.path for c in configs
                                if c.key == f"{preset}/{ort['runtime']}/{ort['precision']}/{threads}t")
                prof["ort"] = profile_ort(ort_path, bench_inputs, threads, spinning=ort["options"].get("spinning", True))
                prof["ort_p50_ms"] = ort["p50_ms"]
                prof["ort_runtime"] = ort["runtime"]
            results["profiles"][f"{preset}/{mode}"] = prof
    finish(results["machine"])
    results["machine"]["caveat"] = load_caveat(results["machine"], foreign_cores(rows), own_threads=threads)
    results["settings"]["wall_s"] = time.perf_counter() - t0
    results["settings"]["workdir"] = str(workdir)
    return results

