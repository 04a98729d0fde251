"""``mobilebert predict``: run a fine-tuned model directory on text from the command line or a JSON-lines file;
one JSON object per input on stdout (or --output)."""
from __future__ import annotations

import json
import sys

from mobilebert_tf.argtypes import positive_int
from mobilebert_tf.errors import UsageError
from mobilebert_tf.fileio import atomic_write_text

HELP = "classify text or answer questions with a fine-tuned model (JSON lines out)"


def configure(parser):
    """Flags of ``mobilebert predict`` (docs/finetuning.md)."""
    parser.add_argument("--model", required=True, metavar="MODEL_DIR", help="a fine-tuned model directory")
    parser.add_argument("--text", help="text to classify (or score, for STS-B)")
    parser.add_argument("--text-b", help="second sentence, for pair tasks (MRPC, RTE, STS-B, ...)")
    parser.add_argument("--question", help="question, with --context (SQuAD models)")
    parser.add_argument("--context", help="context paragraph to find the answer in")
    parser.add_argument("--input", metavar="FILE.jsonl",
                        help='JSON lines: {"text": .., "text_b": ..} or {"question": .., "context": ..}; other '
                             'fields (an "id") are copied to the output')
    parser.add_argument("--output", metavar="FILE.jsonl", help="write here instead of stdout")
    parser.add_argument("--batch-size", type=positive_int, default=32)


def _records(args):
    """(records, line numbers, source) from the command line or --input."""
    from mobilebert_tf.finetuning.prediction import read_jsonl_records

    given = [name for name in ("text", "question", "context", "text_b") if getattr(args, name) is not None]
    if args.input:
        if given:
            raise UsageError(f"--input cannot be combined with --{given[0].replace('_', '-')}")
        numbered = read_jsonl_records(args.input)
        return [r for _, r in numbered], [n for n, _ in numbered], args.input
    if args.text is not None:
        if args.question is not None or args.context is not None:
            raise UsageError("give either --text [--text-b] or --question with --context, not both")
        record = {"text": args.text}
        if args.text_b is not None:
            record["text_b"] = args.text_b
        return [record], [1], "command line"
    if args.text_b is not None:
        raise UsageError("--text-b needs --text")
    if args.question is not None or args.context is not None:
        if args.question is None or args.context is None:
            raise UsageError("--question and --context go together")
        return [{"question": args.question, "context": args.context}], [1], "command line"
    raise UsageError("nothing to predict: give --text, --question with --context, or --input FILE.jsonl")


def run(args) -> int:
    """Run ``mobilebert predict`` (docs/finetuning.md): JSON lines to stdout or --output; returns the exit code."""
    from mobilebert_tf.finetuning.prediction import Predictor

    records, lines, source = _records(args)
    predictor = Predictor(args.model, batch_size=args.batch_size)
    results = predictor.predict_records(records, source=source, line_numbers=lines)
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in results)
    if args.output:
        atomic_write_text(args.output, text)
        print(f"wrote {len(results)} predictions to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
