"""``mobilebert demo`` (README's first command): the whole road on the shared real data, small enough
for 2 CPU cores in about 15 minutes.

WikiText-2 train split -> pre-training data -> pre-train a small IB-BERT teacher -> progressive
distillation of a MobileBERT-shaped student -> held-out MLM/NSP of both (WikiText-2 test split) ->
fine-tune on SST-2 -> export float and int8, fixed and ``--seq-len dynamic`` (with metadata and the
accuracy gate) -> benchmark next to a same-depth BERT-style baseline, and fixed vs real-length latency
on SST-2 dev sentences -> one summary (``summary.md`` + ``summary.json``; ``--results DIR`` also writes
``DIR/demo.{md,json}``, as committed in ``benchmarks/results/``).

The teacher/student settings are the ones ``benchmarks/distillation.py`` found best that still fit about
15 minutes on 2 cores (docs/distillation.md). Every step writes under ``--out`` (default ``runs/demo``)
and is skipped when its output is already there, unless ``--force``.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from mobilebert_tf.argtypes import positive_int
from mobilebert_tf.fileio import atomic_write_json, atomic_write_text

HELP = "the end-to-end demo"

# Small shapes that keep MobileBERT's structure (bottlenecks, NoNorm, stacked FFNs, trigram input).
SEQ_LEN = 64
TEACHER = dict(hidden_size=256, embedding_size=64, intra_bottleneck_size=256, intermediate_size=1024,
               num_hidden_layers=4, num_attention_heads=4, max_position_embeddings=512)
STUDENT = dict(hidden_size=256, embedding_size=64, intra_bottleneck_size=64, intermediate_size=256,
               num_feedforward_networks=2, num_hidden_layers=4, num_attention_heads=4, max_position_embeddings=512)
# Pre-training budget (steps of batch 32). The strategy and learning rate are the distillation benchmark's
# best arm (benchmarks/results/distillation.md: joint transfer had the lowest held-out MLM loss and the best
# SST-2 mean, LAMB 2e-3); the step counts are what fits the 15-minute budget on 2 cores.
TEACHER_STEPS = 500
DISTILL_STRATEGY = "joint"
STEPS_PER_STAGE = 60
FINAL_STEPS = 240
LEARNING_RATE = 2e-3
# --quick: the first lines of the train split and a few steps per stage (a smoke run, not a result)
QUICK_LINES = 2000
# Real-length latency: the first SST-2 dev sentences, fixed (padded to SEQ_LEN) vs each at its own length.
REAL_LENGTH_EXAMPLES = 300
# int8 for the host CPU: int8 weights and activations, the attention score path float (docs/export.md)
INT8 = "int8-mixed"
# The held-out set: the first lines of the WikiText-2 test split (never trained on), masked with a fixed seed.
HELDOUT_LINES = 1500
HELDOUT_SEED = 12345
BASELINE = dict(hidden_size=256, embedding_size=256, intra_bottleneck_size=256, intermediate_size=1024,
                num_hidden_layers=4, num_attention_heads=4, max_position_embeddings=512)


def configure(parser):
    """Flags of ``mobilebert demo`` (README.md, quick start): data and output folders, --force, --quick, --results."""
    from mobilebert_tf.paths import default_data_dir

    parser.add_argument("--data", default=str(default_data_dir()),
                        help="the shared data folder (vocab/, corpus/, glue/, squad/); default: %(default)s")
    parser.add_argument("--out", default="runs/demo", help="artifact folder (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="redo every step")
    parser.add_argument("--quick", action="store_true", help="a few steps per stage (a smoke run, not a result)")
    parser.add_argument("--threads", type=positive_int, default=2, help="benchmark threads (default: %(default)s)")
    parser.add_argument("--results", default=None,
                        help="also write the summary as RESULTS/demo.md and RESULTS/demo.json (e.g. benchmarks/results)")


class Steps:
    """Runs named steps once: a step is done when its ``done`` marker exists.

    Each call prints ``[demo] NAME ...`` and the step's seconds, or that it is skipped; ``timings`` maps
    the name of every step run by this invocation to its wall-clock seconds (``summary.json``).

    Args:
        out: Path. The demo's artifact folder (``--out``).
        force: bool. ``--force``: run every step even when its marker exists.

    Example:
        >>> steps = Steps(Path("runs/demo"), force=False)
        >>> steps("fine-tune the student on SST-2", Path("runs/demo/sst2/model.json"), finetune_sst2)  # doctest: +SKIP
        [demo] fine-tune the student on SST-2 ...
    """

    def __init__(self, out: Path, force: bool):
        self.out, self.force = out, force
        self.timings: dict[str, float] = {}

    def __call__(self, name: str, marker: Path, fn):
        """Run ``fn()`` unless ``marker`` exists (and not ``force``), timing it.

        Args:
            name: str. The step's name, printed and used as its ``timings`` key.
            marker: Path. A file the step writes last; its existence means the step is done.
            fn: callable ``() -> None``. The step.

        Returns:
            None.
        """
        if marker.exists() and not self.force:
            print(f"[demo] {name}: done already ({marker}), skipping (--force to redo)", flush=True)
            return
        print(f"[demo] {name} ...", flush=True)
        start = time.perf_counter()
        fn()
        self.timings[name] = time.perf_counter() - start
        print(f"[demo] {name}: {self.timings[name]:.0f} s", flush=True)


def _fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    return path


def run(args) -> int:
    """Run ``mobilebert demo`` (README.md): every step not yet done, then the summary; returns the exit code."""
    from mobilebert_tf import MobileBertConfig
    from mobilebert_tf.data.pretraining import corpus_head
    from mobilebert_tf.paths import require

    data = Path(args.data)
    vocab = require(data / "vocab" / "bert-base-uncased-vocab.txt", "BERT vocab")
    train_split = require(data / "corpus" / "wikitext-2-wiki.train.tokens", "WikiText-2 train split")
    require(data / "glue" / "SST-2" / "train.tsv", "SST-2 data")
    test_split = require(data / "corpus" / "wikitext-2-wiki.test.tokens", "WikiText-2 test split")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    steps = Steps(out, args.force)
    q = args.quick
    corpus = corpus_head(train_split, QUICK_LINES, out) if q else train_split
    paths = {k: out / k for k in ("pretraining_data", "teacher", "student", "sst2", "tflite", "baseline",
                                  "heldout_data")}

    def make_data():
        from mobilebert_tf.data.pretraining import PretrainingDataConfig, create_pretraining_data

        create_pretraining_data([str(corpus)], str(vocab), str(_fresh(paths["pretraining_data"])),
                                PretrainingDataConfig(seq_len=SEQ_LEN, max_predictions=10, dupe_factor=1, seed=7),
                                progress=True)

    steps(f"pre-training data ({corpus.name})", paths["pretraining_data"] / "manifest.json",
          make_data)

    def pretrain_teacher():
        from mobilebert_tf.training import OptimizerConfig, PretrainConfig, pretrain

        config = MobileBertConfig.from_preset("ib_bert_large", **TEACHER)
        pretrain(config, str(paths["pretraining_data"]), str(_fresh(paths["teacher"])),
                 PretrainConfig(steps=20 if q else TEACHER_STEPS, batch_size=32, seed=0, checkpoint_every=100,
                                optimizer=OptimizerConfig(learning_rate=LEARNING_RATE)),
                 vocab_file=str(vocab), progress=True)

    steps("pre-train the IB-BERT teacher (4 layers)", paths["teacher"] / "model.json", pretrain_teacher)

    def distill_student():
        from mobilebert_tf.distillation import DistillConfig, distill
        from mobilebert_tf.training import OptimizerConfig

        config = MobileBertConfig.from_preset("mobilebert", **STUDENT)
        distill(str(paths["teacher"]), config, str(paths["pretraining_data"]), str(_fresh(paths["student"])),
                DistillConfig(strategy=DISTILL_STRATEGY, steps_per_stage=5 if q else STEPS_PER_STAGE,
                              final_steps=10 if q else FINAL_STEPS, batch_size=32,
                              optimizer=OptimizerConfig(learning_rate=LEARNING_RATE), checkpoint_every=100),
                vocab_file=str(vocab), progress=True)

    steps(f"{DISTILL_STRATEGY} knowledge transfer to the MobileBERT student", paths["student"] / "model.json",
          distill_student)

    def heldout():
        from mobilebert_tf.data.pretraining import PretrainingDataConfig, create_pretraining_data
        from mobilebert_tf.training.evaluation import evaluate_pretraining, load_pretraining_model

        head = corpus_head(test_split, HELDOUT_LINES, out)
        create_pretraining_data([str(head)], str(vocab), str(_fresh(paths["heldout_data"])),
                                PretrainingDataConfig(seq_len=SEQ_LEN, max_predictions=10, dupe_factor=1,
                                                      seed=HELDOUT_SEED))
        result = {"data": f"first {HELDOUT_LINES} lines of {test_split.name}, seed {HELDOUT_SEED}"}
        for who in ("teacher", "student"):
            model = load_pretraining_model(str(paths[who]))
            result[who] = evaluate_pretraining(model, str(paths["heldout_data"]), max_examples=512 if not q else 64)
        atomic_write_json(out / "heldout.json", result)

    steps("held-out MLM / NSP of teacher and student (WikiText-2 test split)", out / "heldout.json", heldout)

    def finetune_sst2():
        from mobilebert_tf.finetuning.pipeline import finetune
        from mobilebert_tf.finetuning.trainer import FinetuneConfig

        finetune("sst-2", init=str(paths["student"]), out_dir=str(paths["sst2"]), data=str(data / "glue"),
                 config=FinetuneConfig(epochs=1, learning_rate=1e-3, batch_size=32, seq_len=SEQ_LEN,
                                       max_steps=20 if q else 500),
                 max_train_examples=1000 if q else 16000, overwrite=True, progress=True)

    steps("fine-tune the student on SST-2", paths["sst2"] / "model.json", finetune_sst2)

    def export_models():
        import tf_keras as keras

        from mobilebert_tf.export.exporter import DYNAMIC, export_tflite
        from mobilebert_tf import MobileBertForSequenceClassification
        from mobilebert_tf.tokenization import BertTokenizer

        tflite = paths["tflite"]
        tflite.mkdir(parents=True, exist_ok=True)
        tokenizer = BertTokenizer(str(vocab))
        student = MobileBertForSequenceClassification.from_pretrained(paths["sst2"])
        labels = student.model_dir.labels or ["negative", "positive"]
        for quantize in ("none", INT8):
            for seq_len, suffix in ((SEQ_LEN, ""), (DYNAMIC, "_dynamic")):
                export_tflite(student, "classifier", tflite / f"student_{quantize}{suffix}.tflite", seq_len=seq_len,
                              quantize=quantize, tokenizer=tokenizer, vocab_file=str(vocab), labels=labels,
                              data_dir=str(data), gate_examples=872 if not q else 64, calibration_examples=100,
                              description="demo MobileBERT student, SST-2")
        # The baseline only times the architecture: same depth, BERT-style (no bottlenecks, LayerNorm, GELU).
        keras.utils.set_random_seed(0)
        baseline = MobileBertForSequenceClassification(MobileBertConfig.from_preset("bert_base", **BASELINE),
                                                       num_labels=2).build_with_dummy()
        for quantize in ("none", INT8):
            export_tflite(baseline, "classifier", tflite / f"baseline_{quantize}.tflite", seq_len=SEQ_LEN,
                          quantize=quantize, tokenizer=tokenizer, vocab_file=str(vocab), labels=labels,
                          data_dir=str(data), gate_examples=16, calibration_examples=100, allow_accuracy_drop=True,
                          description="demo BERT-style baseline (random init, latency only)")
        (tflite / "done").write_text("ok\n")

    steps("export float + int8 (student and baseline)", paths["tflite"] / "done", export_models)

    def benchmark():
        from mobilebert_tf.benchmarks.machine import machine_name
        from mobilebert_tf.benchmarks.host import measure_tflite
        from mobilebert_tf.benchmarks.inputs import real_inputs

        rows = {}
        for name in (f"{who}_{mode}" for who in ("student", "baseline") for mode in ("none", INT8)):
            path = str(paths["tflite"] / f"{name}.tflite")
            rows[name] = measure_tflite(path, real_inputs(path, 8, str(data)), threads=args.threads,
                                        runs=20 if q else 50, warmup=5)
        # Real lengths: the same sentences, padded to SEQ_LEN (fixed) or each at its own length (dynamic);
        # fixed and dynamic alternate per precision so both see the same machine load.
        n = 32 if q else REAL_LENGTH_EXAMPLES
        fixed_feeds, own_feeds, lengths = sst2_length_feeds(vocab, data, n)
        real = {"examples": len(own_feeds), "mean_tokens": float(sum(lengths) / len(lengths)),
                "max_tokens": max(lengths), "results": {}}
        for mode in ("none", INT8):
            for suffix, feeds in (("", fixed_feeds), ("_dynamic", own_feeds)):
                path = str(paths["tflite"] / f"student_{mode}{suffix}.tflite")
                real["results"][f"student_{mode}{suffix}"] = measure_tflite(
                    path, feeds, threads=args.threads, runs=len(feeds), warmup=5)
        atomic_write_json(out / "latency.json", {"machine": machine_name(), "results": rows, "real_length": real})

    steps("benchmark (LiteRT + XNNPACK, side by side)", out / "latency.json", benchmark)
    summary = summarize(out, paths)
    record = summary_record(out, paths, args, steps.timings)
    print(summary)
    atomic_write_text(out / "summary.md", summary + "\n")
    atomic_write_json(out / "summary.json", record)
    if args.results:
        results = Path(args.results)
        results.mkdir(parents=True, exist_ok=True)
        atomic_write_text(results / "demo.md", summary + "\n")
        atomic_write_json(results / "demo.json", record)
        print(f"[demo] wrote {results / 'demo.md'} and {results / 'demo.json'}")
    return 0


def sst2_length_feeds(vocab: Path, data: Path, n: int):
    """The first ``n`` SST-2 dev sentences as feeds padded to SEQ_LEN and at their own length (same tokens).

    Args:
        vocab: Path. The BERT ``vocab.txt`` to tokenize with.
        data: Path. The shared data folder (``glue/SST-2/dev.tsv``).
        n: int. How many sentences.

    Returns:
        tuple. ``(fixed, own, lengths)``: ``fixed`` and ``own`` are lists of ``n`` TFLite signature feeds
        (``ids``, ``mask``, ``segment_ids`` int32 arrays [1, SEQ_LEN] and [1, length]); ``lengths`` the
        token count of each sentence (ints).

    Example:
        >>> fixed, own, lengths = sst2_length_feeds(vocab, data, 300)  # doctest: +SKIP
        >>> own[0]["ids"].shape == (1, lengths[0])  # doctest: +SKIP
        True
    """
    from mobilebert_tf.export.serving import signature_feed
    from mobilebert_tf.export.task_data import sst2_inputs
    from mobilebert_tf.tokenization import BertTokenizer

    packed = sst2_inputs(BertTokenizer(str(vocab)), data, "dev", n, SEQ_LEN)
    fixed = [signature_feed(packed.batch(i)) for i in range(len(packed))]
    own = [signature_feed(packed.own_length(i)) for i in range(len(packed))]
    return fixed, own, [int(x) for x in packed.lengths()]


def summary_record(out: Path, paths: dict, args, timings: dict) -> dict:
    """The summary's figures as data (summary.json): accuracies from the export reports, latencies, held-out
    metrics, the settings and the step timings of this invocation.

    Args:
        out: Path. The artifact folder; reads ``latency.json`` and, if present, ``heldout.json``.
        paths: dict. The demo's step folders (``paths["tflite"]`` holds the ``*.tflite.report.json`` files).
        args: argparse.Namespace. The demo's flags (``quick``).
        timings: dict. Step name -> seconds (``Steps.timings``).

    Returns:
        dict. ``command``, ``date``, ``machine``, ``settings``, ``accuracy`` (model -> report ``metric``),
        ``latency``, ``heldout`` (None without ``heldout.json``) and ``step_seconds`` (rounded to 0.1 s).

    Example:
        >>> summary_record(Path("runs/demo"), paths, args, steps.timings)["settings"]["seq_len"]  # doctest: +SKIP
        64
    """
    latency = json.loads((out / "latency.json").read_text())
    reports = {}
    for path in sorted(paths["tflite"].glob("*.tflite.report.json")):
        report = json.loads(path.read_text())
        reports[path.name.removesuffix(".tflite.report.json")] = {"metric": report.get("metric")}
    heldout = out / "heldout.json"
    return {
        "command": "mobilebert demo" + (" --quick" if args.quick else ""),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": latency["machine"],
        "settings": {"seq_len": SEQ_LEN, "teacher": TEACHER, "student": STUDENT,
                     "teacher_steps": 20 if args.quick else TEACHER_STEPS, "strategy": DISTILL_STRATEGY,
                     "steps_per_stage": 5 if args.quick else STEPS_PER_STAGE,
                     "final_steps": 10 if args.quick else FINAL_STEPS, "learning_rate": LEARNING_RATE,
                     "quick": bool(args.quick)},
        "accuracy": reports,
        "latency": latency,
        "heldout": json.loads(heldout.read_text()) if heldout.is_file() else None,
        "step_seconds": {k: round(v, 1) for k, v in timings.items()},
    }


def summarize(out: Path, paths: dict) -> str:
    """One table: accuracy float vs int8 (SST-2 dev, from the export reports), size, p50, speed-up.

    Followed, when their data is there, by the held-out MLM / NSP sentence (``heldout.json``), the
    real-length latency table (fixed vs dynamic) and a note when the baseline's int8 model is slower
    than its float one.

    Args:
        out: Path. The artifact folder; reads ``latency.json`` (required) and ``heldout.json``.
        paths: dict. The demo's step folders (``paths["tflite"]`` holds the export reports).

    Returns:
        str. Markdown (``summary.md``), without a final newline.

    Raises:
        FileNotFoundError: ``out/latency.json`` is missing (the benchmark step has not run).

    Example:
        >>> print(summarize(Path("runs/demo"), paths))  # doctest: +SKIP
        ## mobilebert demo summary (SST-2 dev, seq 64, batch 1, ...)
    """
    from mobilebert_tf import MobileBertConfig
    from mobilebert_tf.flops import count_flops

    latency = json.loads((out / "latency.json").read_text())
    lines = [f"## mobilebert demo summary (SST-2 dev, seq {SEQ_LEN}, batch 1, {latency['machine']}, "
             f"LiteRT + XNNPACK, p50 of the same run)", "",
             "| model | precision | SST-2 dev acc | size MB | p50 ms | speed-up vs baseline | GFLOPs |",
             "|---|---|---|---|---|---|---|"]
    flops = {"student": count_flops(MobileBertConfig.from_preset("mobilebert", **STUDENT), SEQ_LEN).total() / 1e9,
             "baseline": count_flops(MobileBertConfig.from_preset("bert_base", **BASELINE), SEQ_LEN).total() / 1e9}
    for who in ("student", "baseline"):
        for quantize in ("none", INT8):
            r = latency["results"][f"{who}_{quantize}"]
            report_path = paths["tflite"] / f"{who}_{quantize}.tflite.report.json"
            acc = "n/a (random init)"
            if who == "student" and report_path.exists():
                report = json.loads(report_path.read_text())
                acc = f"{report['metric']['tflite']:.3f}"
                if quantize == "none":
                    acc += f" (Keras {report['metric']['float']:.3f})"
            base = latency["results"][f"baseline_{quantize}"]["p50_ms"]
            precision = "float32" if quantize == "none" else "int8 (attention float)"
            lines.append(f"| {who} | {precision} | {acc} | {r['size_mb']:.1f} | "
                         f"{r['p50_ms']:.2f} | {base / r['p50_ms']:.2f}x | {flops[who]:.2f} |")
    heldout_file = out / "heldout.json"
    if heldout_file.exists():
        h = json.loads(heldout_file.read_text())
        t, st = h["teacher"], h["student"]
        lines += ["", f"Held-out pre-training objectives ({h['data']}, {st['examples']} examples): masked-LM accuracy "
                  f"student {100 * st['mlm_accuracy']:.1f}% vs teacher {100 * t['mlm_accuracy']:.1f}% "
                  f"(MLM loss {st['mlm_loss']:.3f} vs {t['mlm_loss']:.3f}; NSP accuracy "
                  f"{100 * st['nsp_accuracy']:.1f}% vs {100 * t['nsp_accuracy']:.1f}%)."]
    real = latency.get("real_length")
    if real:
        lines += ["", f"Real-length latency (first {real['examples']} SST-2 dev sentences, mean "
                  f"{real['mean_tokens']:.1f} tokens, longest {real['max_tokens']}; one run each, mean ms):", "",
                  f"| precision | fixed {SEQ_LEN} | dynamic (own length) | dynamic / fixed |", "|---|---|---|---|"]
        for quantize in ("none", INT8):
            fixed = real["results"][f"student_{quantize}"]["mean_ms"]
            dynamic = real["results"][f"student_{quantize}_dynamic"]["mean_ms"]
            precision = "float32" if quantize == "none" else "int8 (attention float)"
            lines.append(f"| {precision} | {fixed:.2f} | {dynamic:.2f} | {dynamic / fixed:.2f}x |")
    res = latency["results"]
    if res[f"baseline_{INT8}"]["p50_ms"] > res["baseline_none"]["p50_ms"]:
        lines += ["", f"The baseline's int8 model is slower than its float one: its LayerNorms (MEAN, "
                  f"SQUARED_DIFFERENCE, RSQRT) and GELU have no int8 XNNPACK kernels and fall back to reference "
                  f"kernels, the reason MobileBERT uses NoNorm and ReLU. Against the baseline's float model the "
                  f"student's int8 model is "
                  f"{res['baseline_none']['p50_ms'] / res[f'student_{INT8}']['p50_ms']:.2f}x faster."]
    return "\n".join(lines)
