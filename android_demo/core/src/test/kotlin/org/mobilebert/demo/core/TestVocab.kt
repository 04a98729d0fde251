package org.mobilebert.demo.core

/** A small vocab for unit tests: special tokens first, as in BERT's vocab.txt. */
object TestVocab {
    val tokens = listOf(
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
        "the", "denver", "broncos", "won", "super", "bowl", "50", "who", "?", ".", ",", "in", "santa", "clara",
        "california", "token", "##ize", "me", "plea", "##se", "play", "##ed", "game", "was", "on", "february",
        "7", "2016", "–", "24", "10", "'", "s", "levi", "stadium", "where", "caf", "##é", "東", "京", "un", "##aff",
        "##able", "a", "great", "film", "bad",
    )

    fun tokenizer() = WordpieceTokenizer(tokens)
}
