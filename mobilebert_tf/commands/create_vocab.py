"""``mobilebert create-vocab``: learn a BERT WordPiece vocab (tensorflow-text's learner) from text files."""
from __future__ import annotations

import os
from pathlib import Path

from mobilebert_tf.argtypes import positive_int
from mobilebert_tf.errors import UsageError
from mobilebert_tf.fileio import atomic_write_text

HELP = "learn a WordPiece vocab from text files"


def configure(parser):
    """Flags of ``mobilebert create-vocab`` (docs/data.md)."""
    from mobilebert_tf.data.pretraining import CORPUS_FORMATS

    parser.add_argument("--corpus", nargs="+", required=True, metavar="FILE",
                        help="text files (as for create-pretraining-data)")
    parser.add_argument("--vocab-size", type=positive_int, required=True, help="maximum vocab size, reserved tokens included")
    parser.add_argument("--out", required=True, help="vocab.txt to write (atomically)")
    parser.add_argument("--format", default="auto", choices=CORPUS_FORMATS, help="corpus format (default: %(default)s)")
    parser.add_argument("--cased", action="store_true", help="keep case and accents")
    parser.add_argument("--min-count", type=positive_int, default=10,
                        help="initial lower bound of the learner's word-count threshold (default: %(default)s)")


def learn_vocab(corpus_files, vocab_size: int, lowercase: bool = True, fmt: str = "auto",
                min_count: int = 10) -> list[str]:
    """Corpus files -> vocab list, reserved tokens ([PAD], [UNK], [CLS], [SEP], [MASK]) first.

    The sentences are normalized exactly as ``BertTokenizer`` does (``tf_normalize``) and given to
    tensorflow-text's ``bert_vocab_from_dataset``, which only splits words and learns the pieces.

    Args:
        corpus_files: list of str. Text files, as for ``create-pretraining-data``.
        vocab_size: int. Maximum vocab size, reserved tokens included (the learner may return fewer).
        lowercase: bool. Lower-case and strip accents (an uncased vocab).
        fmt: str. Corpus format (``CORPUS_FORMATS``; ``auto`` detects WikiText).
        min_count: int. Initial lower bound of the learner's word-count threshold (``lower_thresh``).

    Returns:
        list of str. The tokens, reserved ones first, then the learned ones (``##`` marks continuations).

    Raises:
        UsageError: ``vocab_size`` is not larger than the number of reserved tokens.

    Example:
        >>> vocab = learn_vocab(["corpus/wikitext-2-wiki.train.tokens"], 8000)  # doctest: +SKIP
        >>> vocab[:5]  # doctest: +SKIP
        ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']
    """
    import tensorflow as tf
    from tensorflow_text.tools.wordpiece_vocab import bert_vocab_from_dataset as bvd

    from mobilebert_tf.data.pretraining import corpus_sentences
    from mobilebert_tf.tokenization import SPECIAL_TOKENS, tf_normalize

    if vocab_size <= len(SPECIAL_TOKENS):
        raise UsageError(f"--vocab-size must be > {len(SPECIAL_TOKENS)} (the reserved tokens), got {vocab_size}")
    sentences = corpus_sentences(corpus_files, fmt)
    # Normalize exactly as our tokenizer does, then let the learner only split words: its own
    # lower_case (NFKC case folding) would learn pieces our tokenizer never produces.
    ds = tf.data.Dataset.from_tensor_slices(tf.constant(sentences)).batch(1024)
    ds = ds.map(lambda t: tf_normalize(t, lowercase))
    vocab = bvd.bert_vocab_from_dataset(ds, vocab_size=vocab_size, reserved_tokens=list(SPECIAL_TOKENS),
                                        bert_tokenizer_params={"lower_case": False},
                                        learn_params={"lower_thresh": min_count})
    rest = [t for t in vocab if t not in SPECIAL_TOKENS]
    return list(SPECIAL_TOKENS) + rest


def write_vocab(vocab: list[str], out: str | os.PathLike) -> None:
    """Write ``vocab`` as a ``vocab.txt``: one token per line, atomically, creating missing folders.

    Args:
        vocab: list of str. The tokens, in id order (``learn_vocab``).
        out: str or path. The file to write (replaced if it exists).

    Returns:
        None.

    Example:
        >>> write_vocab(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the"], "runs/vocab.txt")  # doctest: +SKIP
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, "".join(t + "\n" for t in vocab))


def run(args) -> int:
    """Run ``mobilebert create-vocab`` (docs/data.md): learn and write the vocab; returns the exit code."""
    vocab = learn_vocab(args.corpus, args.vocab_size, lowercase=not args.cased, fmt=args.format,
                        min_count=args.min_count)
    write_vocab(vocab, args.out)
    print(f"wrote {len(vocab)} tokens to {args.out}")
    return 0
