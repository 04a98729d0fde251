"""``mobilebert evaluate-pretraining``: held-out masked-LM loss/accuracy and NSP accuracy of a model.

    mobilebert create-pretraining-data --corpus ../shared/data/corpus/wikitext-2-wiki.test.tokens \\
        --vocab ../shared/data/vocab/bert-base-uncased-vocab.txt --out data/heldout --seq-len 128 --seed 12345
    mobilebert evaluate-pretraining --model runs/student --data data/heldout      # prints, writes JSON
"""
from __future__ import annotations

import json
import os
import sys

from mobilebert_tf.argtypes import positive_int
from mobilebert_tf.fileio import atomic_write_json

HELP = "held-out masked-LM loss/accuracy and NSP accuracy of a pre-training model"
RESULT_FILE = "eval_pretraining.json"


def configure(parser):
    """Flags of ``mobilebert evaluate-pretraining`` (docs/training.md)."""
    parser.add_argument("--model", required=True, metavar="MODEL_DIR",
                        help="pre-training model directory: pretrain / distill output, HF or TF1 checkpoint")
    parser.add_argument("--data", required=True, metavar="DIR",
                        help="held-out create-pretraining-data directory (read in order, no shuffling)")
    parser.add_argument("--batch-size", type=positive_int, default=32, help="evaluation batch (default: %(default)s)")
    parser.add_argument("--max-examples", type=positive_int, default=None, metavar="N",
                        help="the first N held-out examples only (default: all)")
    parser.add_argument("--output", default=None, metavar="FILE",
                        help=f"JSON result file (default: MODEL_DIR/{RESULT_FILE}, or stdout only when MODEL_DIR "
                             "is not writable)")


def run(args) -> int:
    """Run ``mobilebert evaluate-pretraining`` (docs/training.md): print the metrics, write the JSON; returns the exit
    code."""
    from mobilebert_tf.config import ConfigError
    from mobilebert_tf.training.evaluation import (check_eval_data, evaluate_pretraining, load_pretraining_model,
                                                   vocab_mismatch)

    if not os.path.isdir(args.data):
        raise FileNotFoundError(f"held-out data directory not found: {args.data}")
    model = load_pretraining_model(args.model)
    manifest = check_eval_data(model.config, args.data)
    note = vocab_mismatch(args.model, manifest)
    if note:
        raise ConfigError(note)
    metrics = evaluate_pretraining(model, args.data, batch_size=args.batch_size, max_examples=args.max_examples)
    result = {"model": os.path.abspath(args.model), "data": os.path.abspath(args.data),
              "data_seed": manifest.get("settings", {}).get("seed"), "max_examples": args.max_examples, **metrics}
    print(f"held-out ({metrics['examples']} examples, {metrics['masked_predictions']} masked tokens): "
          f"MLM loss {metrics['mlm_loss']:.4f}, MLM accuracy {metrics['mlm_accuracy']:.4f}, "
          f"NSP loss {metrics['nsp_loss']:.4f}, NSP accuracy {metrics['nsp_accuracy']:.4f}")
    output = args.output or os.path.join(args.model, RESULT_FILE)
    if args.output is None and not (os.path.isdir(args.model) and os.access(args.model, os.W_OK)):
        print(json.dumps(result, indent=2))
        return 0
    atomic_write_json(output, result)
    print(f"wrote {output}", file=sys.stderr)
    return 0
