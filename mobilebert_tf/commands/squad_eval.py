"""``mobilebert squad-eval``: score a predictions JSON against a SQuAD dataset, printing the same JSON as the
official ``evaluate-v1.1.py`` / ``evaluate-v2.0.py``."""
from __future__ import annotations

import json
import sys
from mobilebert_tf.argtypes import probability

HELP = "official SQuAD v1.1/v2.0 evaluation of predictions"


def configure(parser):
    """Flags of ``mobilebert squad-eval`` (docs/glue_squad.md)."""
    parser.add_argument("dataset", help="SQuAD dataset JSON (or a .zip holding it)")
    parser.add_argument("predictions", help="predictions JSON: question id -> answer text")
    parser.add_argument("--version", type=int, choices=(1, 2), default=None,
                        help="SQuAD version (default: from the dataset's 'version' field)")
    parser.add_argument("--na-prob", metavar="NA_PROB.json", default=None,
                        help="v2.0: question id -> probability of no answer; adds the best_* fields")
    parser.add_argument("--na-prob-thresh", type=probability, default=1.0,
                        help="v2.0: answer '' when the na-prob exceeds this (default: %(default)s)")


def run(args) -> int:
    """Run ``mobilebert squad-eval`` (docs/glue_squad.md): print the official JSON; returns the exit code."""
    from mobilebert_tf.data.squad import load_json
    from mobilebert_tf.squad_eval import dataset_version, evaluate, load_predictions

    dataset = load_json(args.dataset)
    predictions = load_predictions(args.predictions)
    version = args.version or dataset_version(dataset)
    if version == 1 and args.na_prob:
        raise ValueError("--na-prob applies to SQuAD v2.0 only (use --version 2)")
    if version == 1 and isinstance(dataset, dict) and dataset.get("version") != "1.1":
        # The official v1.1 script warns and carries on; so do we.
        print(f"Evaluation expects v-1.1, but got dataset with v-{dataset.get('version')}", file=sys.stderr)
    na_probs = load_predictions(args.na_prob) if args.na_prob else None
    result = evaluate(dataset, predictions, version=version, na_probs=na_probs, na_prob_thresh=args.na_prob_thresh)
    # Same layout as the official scripts: v1.1 prints one line, v2.0 indents by 2.
    print(json.dumps(result) if version == 1 else json.dumps(result, indent=2))
    return 0
