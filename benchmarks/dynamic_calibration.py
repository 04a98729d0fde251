"""Why a dynamic int8 export agrees less with its float model than the fixed one: calibration at each
example's own length against calibration at padded rows, same model, same examples (issue #15).

    python -m mobilebert_tf.benchmarks.dynamic_calibration --model runs/demo/sst2 [--quantize int8-mixed]
        [--calibration-examples 100] [--gate-examples 872] [--out benchmarks/results]

For a fine-tuned classifier directory, converts the ``--seq-len dynamic`` serving function in ``--quantize``
three ways and runs the exporter's accuracy gate (each gate example at its own length, against the Keras
model at the same length) on each:

- ``own-length``: calibration examples at their own token counts (what ``export --seq-len dynamic`` does);
- ``padded-128``: the same examples padded to 128 tokens (what the fixed-128 export is calibrated on);
- ``fixed-128``: the fixed-128 export itself, gated on padded rows (the reference the dynamic one is
  compared with).

Writes ``dynamic_calibration.{json,md}``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from mobilebert_tf.benchmarks.report import write_report

PADDED = 128


def run(model_dir: Path, data_dir, quantize: str, calibration_examples: int, gate_examples: int, log=print) -> dict:
    """The three conversions and their gates.

    Returns:
        ``{"rows": [{"calibration", "agreement", "examples", "max_abs_diff"}], ...}``.
    """
    from mobilebert_tf.export import accuracy, task_data
    from mobilebert_tf.export.quantization import convert, representative_dataset
    from mobilebert_tf.export.serving import ServingModule, dynamic_max_len
    from mobilebert_tf.modeldir import ModelDir
    from mobilebert_tf.models import MobileBertForSequenceClassification
    from mobilebert_tf.tokenization import BertTokenizer

    model = MobileBertForSequenceClassification.from_pretrained(str(model_dir))
    tokenizer = BertTokenizer(str(ModelDir.read(model_dir).vocab_file))
    max_len = dynamic_max_len(model.config)
    gate_dynamic = task_data.gate_inputs("classifier", tokenizer, data_dir, gate_examples, max_len + 1)
    gate_fixed = task_data.gate_inputs("classifier", tokenizer, data_dir, gate_examples, PADDED)
    calib_own = task_data.calibration_inputs("classifier", tokenizer, data_dir, calibration_examples, max_len)
    calib_padded = task_data.calibration_inputs("classifier", tokenizer, data_dir, calibration_examples, PADDED)
    dynamic_module = ServingModule(model, "classifier", None)
    cases = [("own-length", dynamic_module, representative_dataset(calib_own, own_length=True), gate_dynamic, True),
             ("padded-128", dynamic_module, representative_dataset(calib_padded), gate_dynamic, True),
             ("fixed-128", ServingModule(model, "classifier", PADDED), representative_dataset(calib_padded),
              gate_fixed, False)]
    rows = []
    for name, module, representative, gate, dynamic in cases:
        start = time.perf_counter()
        data = convert(module, quantize, representative)
        report = accuracy.compare(model, data, "classifier", gate, progress=False, dynamic=dynamic)
        rows.append({"calibration": name, "agreement": report["agreement"], "examples": report["examples"],
                     "max_abs_diff": report.get("max_abs_diff"), "seconds": time.perf_counter() - start})
        log(f"{name}: agreement {report['agreement']:.2%} on {report['examples']} examples")
    return {"model": str(model_dir), "quantize": quantize, "calibration_examples": calibration_examples,
            "rows": rows}


def markdown(result: dict) -> str:
    """dynamic_calibration.md from the result: every figure comes from ``result``."""
    lines = [f"# Dynamic-length {result['quantize']} export: where to calibrate", "",
             f"Model `{result['model']}`, {result['calibration_examples']} calibration examples (SST-2 train), "
             f"gate on SST-2 dev at each example's own length (fixed-128: padded rows). Written by "
             f"`{result['command']}` on {result['date']}.", "",
             "| calibration | gate agreement | examples |", "|---|---|---|"]
    lines += [f"| {r['calibration']} | {r['agreement']:.2%} | {r['examples']} |" for r in result["rows"]]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    """``python -m mobilebert_tf.benchmarks.dynamic_calibration``: run and write dynamic_calibration.{json,md}."""
    from mobilebert_tf.paths import default_data_dir

    p = argparse.ArgumentParser(prog="python -m mobilebert_tf.benchmarks.dynamic_calibration",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="a fine-tuned classifier directory (save_pretrained)")
    p.add_argument("--quantize", default="int8-mixed", choices=["int8-mixed", "int8"])
    p.add_argument("--calibration-examples", type=int, default=100)
    p.add_argument("--gate-examples", type=int, default=872)
    p.add_argument("--data", default=str(default_data_dir()))
    p.add_argument("--out", default="benchmarks/results")
    args = p.parse_args(argv)
    result = run(Path(args.model), args.data, args.quantize, args.calibration_examples, args.gate_examples)
    result["date"] = time.strftime("%Y-%m-%d")
    result["command"] = " ".join(["python -m mobilebert_tf.benchmarks.dynamic_calibration",
                                  *(sys.argv[1:] if argv is None else argv)])
    write_report(args.out, "dynamic_calibration", result, markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
