"""``mobilebert create-pretraining-data``: text corpus -> MLM + NSP TFRecord shards + manifest.json."""
from __future__ import annotations

import sys
from mobilebert_tf.argtypes import int_range, non_negative_int, positive_int, probability
from mobilebert_tf.fileio import lock_dir

HELP = "MLM + NSP TFRecords from a text corpus"


def configure(parser):
    """Flags of ``mobilebert create-pretraining-data`` (docs/data.md)."""
    from mobilebert_tf.data.pretraining import CORPUS_FORMATS, PretrainingDataConfig as C

    d = C()
    parser.add_argument("--corpus", nargs="+", required=True, metavar="FILE",
                        help="text files: one sentence per line, blank line between documents, or WikiText .tokens")
    parser.add_argument("--vocab", required=True, help="WordPiece vocab.txt")
    parser.add_argument("--out", required=True, metavar="DIR", help="output directory (shards + manifest.json)")
    parser.add_argument("--seq-len", type=int_range(5), default=d.seq_len, help="tokens per example (default: %(default)s)")
    parser.add_argument("--max-predictions", type=positive_int, default=d.max_predictions,
                        help="max masked positions per example (default: %(default)s)")
    parser.add_argument("--dupe-factor", type=positive_int, default=d.dupe_factor,
                        help="passes over the corpus with different masks (default: %(default)s)")
    parser.add_argument("--seed", type=non_negative_int, default=d.seed, help="random seed (default: %(default)s)")
    parser.add_argument("--masked-lm-prob", type=probability, default=d.masked_lm_prob,
                        help="fraction of tokens to mask (default: %(default)s)")
    parser.add_argument("--short-seq-prob", type=probability, default=d.short_seq_prob,
                        help="probability of a shorter target length (default: %(default)s)")
    parser.add_argument("--whole-word-masking", action="store_true", help="mask all pieces of a word together")
    parser.add_argument("--shards", type=positive_int, default=d.shards, help="number of TFRecord files (default: %(default)s)")
    parser.add_argument("--format", default=d.corpus_format, choices=CORPUS_FORMATS,
                        help="corpus format (default: %(default)s: WikiText if the file starts with a "
                             "'= Title =' heading)")
    parser.add_argument("--cased", action="store_true", help="keep case and accents (for a cased vocab)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args) -> int:
    """Run ``mobilebert create-pretraining-data`` (docs/data.md) holding the lock of --out; returns the exit code."""
    with lock_dir(args.out):  # one writer per output directory ("DIR is in use by PID n")
        return _run(args)

def _run(args) -> int:
    from mobilebert_tf.data.pretraining import PretrainingDataConfig, create_pretraining_data

    config = PretrainingDataConfig(
        seq_len=args.seq_len, max_predictions=args.max_predictions, dupe_factor=args.dupe_factor,
        masked_lm_prob=args.masked_lm_prob, short_seq_prob=args.short_seq_prob,
        whole_word_masking=args.whole_word_masking, seed=args.seed, shards=args.shards,
        lowercase=not args.cased, corpus_format=args.format)
    m = create_pretraining_data(args.corpus, args.vocab, args.out, config,
                                progress=not args.no_progress and sys.stderr.isatty())
    s = m["stats"]
    print(f"wrote {m['num_instances']} examples in {len(m['files'])} file(s) to {args.out} "
          f"(masked {s['masked_fraction']:.1%} of tokens: {s['mask_token_fraction']:.0%} [MASK] / "
          f"{s['random_token_fraction']:.0%} random / {s['kept_fraction']:.0%} kept; "
          f"random next sentence {s['random_next_fraction']:.0%})")
    return 0
