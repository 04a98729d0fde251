"""``mobilebert evaluate``: a fine-tuned model directory on a task's dev set, with the official metrics; or
(``--score``) a predictions file scored without a model."""
from __future__ import annotations

import json
import sys
from mobilebert_tf.argtypes import positive_int
from mobilebert_tf.errors import UsageError

HELP = "official dev metrics of a fine-tuned model (or of a predictions file)"


def configure(parser):
    """Flags of ``mobilebert evaluate`` (docs/finetuning.md)."""
    from mobilebert_tf.finetuning.tasks import TASK_NAMES

    parser.add_argument("--task", help=f"one of: {', '.join(TASK_NAMES)} (default: the model's)")
    parser.add_argument("--data", help="GLUE root / task folder / .tsv, or SQuAD folder / .json / .zip "
                                       "(default: the shared data's glue/ or squad/)")
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", metavar="MODEL_DIR", help="a fine-tuned model directory")
    src.add_argument("--score", metavar="PREDICTIONS.json",
                     help="score this predictions file instead of running a model (needs --task)")
    parser.add_argument("--na-prob", metavar="NA_PROBS.json", help="with --score, SQuAD v2.0: na-probs file")
    parser.add_argument("--predictions", metavar="OUT.json",
                        help="write predictions (SQuAD: the official {id: answer} format; v2.0 also "
                             "OUT.na_probs.json; GLUE: {guid: label})")
    parser.add_argument("--dev-file", help="dev .tsv / .json instead of the one in --data")
    parser.add_argument("--holdout-articles", type=positive_int, metavar="N",
                        help="SQuAD: evaluate the first N articles of the dev file (as finetune's holdout)")
    parser.add_argument("--max-eval-examples", type=positive_int, help="the first N examples only")
    parser.add_argument("--batch-size", type=positive_int, default=64)
    parser.add_argument("--allow-task-mismatch", action="store_true",
                        help="evaluate a model fine-tuned on another GLUE task with the same label count")


def run(args) -> int:
    """Run ``mobilebert evaluate`` (docs/finetuning.md): print the metrics as JSON; returns the exit code."""
    from mobilebert_tf.finetuning.evaluation import score_predictions, write_predictions
    from mobilebert_tf.finetuning.pipeline import evaluate_model, load_task_data
    from mobilebert_tf.finetuning.tasks import get_finetune_task
    from mobilebert_tf.finetuning.trainer import FinetuneConfig
    from mobilebert_tf.squad_eval import load_predictions

    if args.score:
        if not args.task:
            raise UsageError("--score needs --task (a predictions file does not say which task it is)")
        task = get_finetune_task(args.task)
        data = load_task_data(task, None, args.data, "dev", FinetuneConfig.for_task(task), file=args.dev_file,
                              holdout_articles=args.holdout_articles, max_examples=args.max_eval_examples)
        na_probs = load_predictions(args.na_prob) if args.na_prob else None
        result = score_predictions(task, data, load_predictions(args.score), na_probs, source=args.score)
    else:
        result, data, task = evaluate_model(args.model, args.task, data=args.data, dev_file=args.dev_file,
                                            holdout_articles=args.holdout_articles,
                                            max_eval_examples=args.max_eval_examples, batch_size=args.batch_size,
                                            allow_task_mismatch=args.allow_task_mismatch)
    print(f"{task.name}: {len(data.examples)} examples from {data.source}", file=sys.stderr)
    if args.predictions:
        for path in write_predictions(result, args.predictions):
            print(f"wrote {path}", file=sys.stderr)
    print(json.dumps(result.metrics))
    return 0
