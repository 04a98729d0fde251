"""Peers: HF transformers' MobileBERT and BERT_BASE (torch eager, ONNX Runtime fp32 / int8) against our
TFLite exports (float, dynamic-range, int8 with float attention, full int8) of the **same weights**, on the same real inputs.

    python -m mobilebert_tf.benchmarks.peers [--layers N] [--seq-len 128] [--threads 2] [--extra-threads 1] [--runs 30]
                               [--rounds 3] [--out benchmarks/results] [--presets mobilebert bert_base]
                               [--workdir DIR [--reuse]] [--no-profile | --profile]

See docs/benchmarks_peers.md.

Per preset: our Keras classifier (2 labels) with random weights at a fixed seed (norm parameters,
biases and the head perturbed so that nothing is trivially zero or one) -> our TFLite exports
(``mobilebert_tf.export.exporter.export_tflite``) and an HF directory (``save_hf_pretrained``). MobileBERT runs in
HF's ``MobileBertForSequenceClassification``; BERT_BASE in HF's ``BertForSequenceClassification``
(the HF MobileBERT directory renamed ``mobilebert.`` -> ``bert.``, no other change). Both are wrapped
to take our int32 ``ids``/``mask``/``segment_ids`` and return ``probability`` (softmax), like our
exports, then exported to ONNX (``torch.onnx.export``) and quantized with
``onnxruntime.quantization.quantize_dynamic`` (QInt8 weights, dynamic int8 activations).

Latency: batch 1, ``--threads`` intra-op threads everywhere (``torch.set_num_threads``, ORT
``intra_op_num_threads``, the LiteRT interpreter with XNNPACK), every runtime measured by the one
worker of ``mobilebert_tf.benchmarks.host.measure`` with one input format (``mobilebert_tf.benchmarks.inputs``), each measurement
in a fresh process started from a small orchestrator process, ``--rounds``
interleaved rounds of ``--runs`` timed runs (``p50``/``p90`` are the medians over rounds of each
round's percentile), inputs cycled over the same SST-2 dev sentences tokenized at ``--seq-len``.
The CPU time other processes used during each measurement is recorded (``ForeignLoad``) and a
measurement they disturbed is repeated (``--max-other-load``, ``--retries``): on a shared host a
second thread only helps while nobody else holds the second core.

Agreement: torch, ORT fp32 and our TFLite float on unpadded real inputs (several SST-2 sentences
packed to fill the sequence: our default "google" attention mask and HF's additive mask only agree
when nothing is padded), and, for information, on the padded benchmark inputs.

Targets (issue #8) are printed PASS/MISS, never asserted. Where one is missed the TFLite graph is
profiled per op (``profile_tflite_ops``: every distinct op run alone under XNNPACK) and next to
ORT's own per-node profile.

Modules: ``build`` (our model, exports, HF / ONNX peers), ``runtimes`` (torch / ORT loaders the worker
uses), ``measure`` (interleaved rounds through ``mobilebert_tf.benchmarks.host.measure``; the orchestrator),
``agreement``, ``profile``, ``targets`` (ratios, PASS/MISS), ``report`` (peers.md), ``pipeline`` (the
whole run), ``cli``. The machine and its load: ``mobilebert_tf.benchmarks.machine``.
"""

from mobilebert_tf.benchmarks.machine import ForeignLoad
from mobilebert_tf.benchmarks.peers.agreement import (agreement, packed_inputs, run_ort_outputs, run_tflite_outputs,
                                                      run_torch_outputs)
from mobilebert_tf.benchmarks.peers.build import (NUM_LABELS, ORT_MODES, PRESETS, SEED, TFLITE_MODES, build_ours, export_hf,
                                    export_onnx, export_ours, mobilebert_dir_to_bert, prepare_preset, quantize_onnx)
from mobilebert_tf.benchmarks.peers.cli import main
from mobilebert_tf.benchmarks.peers.measure import (Config, measure_all, measure_in_subprocess,
                                                    summarize_config, versions)
from mobilebert_tf.benchmarks.peers.pipeline import run
from mobilebert_tf.benchmarks.peers.profile import profile_ort, profile_tflite_ops, tflite_op_stats, xnnpack_partitions
from mobilebert_tf.benchmarks.peers.report import (format_agreement, format_profile, format_ratios, format_table,
                                                   write_results)
from mobilebert_tf.benchmarks.peers.runtimes import INPUT_NAMES, load_torch, ort_session
from mobilebert_tf.benchmarks.peers.targets import (PRECISION, TARGETS, best_row, compute_ratios, profile_targets,
                                                    ratio_check)

__all__ = ["ForeignLoad", "agreement", "packed_inputs", "run_ort_outputs", "run_tflite_outputs", "run_torch_outputs",
           "NUM_LABELS", "ORT_MODES", "PRESETS", "SEED", "TFLITE_MODES", "build_ours", "export_hf", "export_onnx",
           "export_ours", "mobilebert_dir_to_bert", "prepare_preset", "quantize_onnx", "main", "Config",
           "measure_all", "measure_in_subprocess", "summarize_config", "versions", "run",
           "profile_ort", "profile_tflite_ops", "tflite_op_stats", "xnnpack_partitions", "format_agreement",
           "format_profile", "format_ratios", "format_table", "write_results", "INPUT_NAMES", "load_torch",
           "ort_session", "PRECISION", "TARGETS", "best_row", "compute_ratios", "profile_targets", "ratio_check"]
