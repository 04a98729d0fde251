package org.mobilebert.demo.core

data class LabelScore(val label: String, val score: Float)

/**
 * Sentence classification input and output as the Task Library's BertNLClassifier handles them
 * (`task/processor/bert_preprocessor.cc`): ASCII lower-case, WordPiece, `[CLS] tokens [SEP]` cut to the
 * model's seq, zeros after, segment ids all 0; the `probability` output read with the labels packed in
 * the model. Python mirror: task_library_replay.py `classifier_preprocess`.
 */
object BertClassifierInput {
    data class Input(val ids: IntArray, val mask: IntArray, val segmentIds: IntArray, val tokens: List<String>)

    /**
     * `[CLS] tokens [SEP]` cut to [maxSeqLen]; padded with zeros to [maxSeqLen] (a fixed-length model), or,
     * with [ownLength], exactly as long as the tokens (a dynamic model: the inputs are resized to it).
     */
    fun preprocess(tokenizer: WordpieceTokenizer, text: String, maxSeqLen: Int, ownLength: Boolean = false): Input {
        val subwords = tokenizer.tokenize(WordpieceTokenizer.asciiLower(text))
        val n = minOf(maxSeqLen, subwords.size + 2)
        val tokens = ArrayList<String>(n)
        tokens.add(BertQa.CLS)
        for (i in 0 until n - 2) tokens.add(subwords[i])
        tokens.add(BertQa.SEP)
        val length = if (ownLength) n else maxSeqLen
        val ids = IntArray(length)
        val mask = IntArray(length)
        for (i in tokens.indices) {
            ids[i] = tokenizer.lookupId(tokens[i]) ?: 0
            mask[i] = 1
        }
        return Input(ids, mask, IntArray(length), tokens)
    }

    /** Probabilities with their labels, best first (ties keep label order). */
    fun ranked(probabilities: FloatArray, labels: List<String>): List<LabelScore> {
        require(probabilities.size == labels.size) {
            "${probabilities.size} probabilities for ${labels.size} labels"
        }
        return labels.indices.map { LabelScore(labels[it], probabilities[it]) }
            .sortedWith(Comparator { a, b -> b.score.compareTo(a.score) })
    }
}
