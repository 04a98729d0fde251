package org.mobilebert.demo.core

/**
 * Question answering pre- and post-processing of the TFLite Task Library's BertQuestionAnswerer
 * (tflite-support `task/text/qa/bert_question_answerer.cc`), step for step.
 *
 * The app uses it twice: to run a model the Task Library cannot (a QA model whose seq is not 384) through
 * the plain Interpreter, and to map a Task Library answer (token positions) back to characters of the
 * passage for the highlight. Python mirror (tested against LiteRT on real SQuAD questions):
 * android_demo/host_replay/task_library_replay.py `qa_preprocess` / `qa_postprocess`.
 */
data class QaFeature(
    val ids: IntArray,
    val mask: IntArray,
    val segmentIds: IntArray,
    val tokens: List<String>,
    /** Token position + 1 -> index in [origTokens] (the C++ inserts after push_back; see OUTPUT_OFFSET). */
    val tokenToOrigMap: Map<Int, Int>,
    val origTokens: List<String>,
)

data class QaAnswer(
    val text: String,
    /** Token positions in the logits. */
    val start: Int,
    val end: Int,
    /** start_logits[start] + end_logits[end]. */
    val logit: Float,
    /** Indices into the passage's space-separated words. */
    val wordStart: Int,
    val wordEnd: Int,
)

object BertQa {
    // bert_question_answerer.h
    const val MAX_QUERY_LEN = 64
    const val TASK_LIBRARY_MAX_SEQ_LEN = 384
    const val PREDICT_ANS_NUM = 5
    const val MAX_ANS_LEN = 32
    const val OUTPUT_OFFSET = 1
    const val CLS = "[CLS]"
    const val SEP = "[SEP]"

    /** absl::StrSplit(context, ByChar(' '), SkipEmpty()). */
    fun splitContext(context: String): List<String> = context.split(' ').filter { it.isNotEmpty() }

    fun preprocess(
        tokenizer: WordpieceTokenizer,
        context: String,
        query: String,
        maxSeqLen: Int = TASK_LIBRARY_MAX_SEQ_LEN,
        maxQueryLen: Int = MAX_QUERY_LEN,
    ): QaFeature {
        val origTokens = splitContext(context)
        val processedTokens = origTokens.map { WordpieceTokenizer.asciiLower(it) }
        var queryTokens = tokenizer.tokenize(WordpieceTokenizer.asciiLower(query))
        if (queryTokens.size > maxQueryLen) queryTokens = queryTokens.subList(0, maxQueryLen)

        val allDocTokens = ArrayList<String>()
        val tokenToOrigIndex = ArrayList<Int>()
        for (i in processedTokens.indices) {
            for (subToken in tokenizer.tokenize(processedTokens[i])) {
                tokenToOrigIndex.add(i)
                allDocTokens.add(subToken)
            }
        }
        val maxContextLen = maxOf(0, maxSeqLen - queryTokens.size - 3) // [CLS], [SEP], [SEP]
        val docTokens = if (allDocTokens.size > maxContextLen) allDocTokens.subList(0, maxContextLen) else allDocTokens

        val tokens = ArrayList<String>()
        val segmentIds = ArrayList<Int>()
        val tokenToOrigMap = HashMap<Int, Int>()
        tokens.add(CLS)
        segmentIds.add(0)
        for (queryToken in queryTokens) {
            tokens.add(queryToken)
            segmentIds.add(0)
        }
        tokens.add(SEP)
        segmentIds.add(0)
        for (i in docTokens.indices) {
            tokens.add(docTokens[i])
            segmentIds.add(1)
            tokenToOrigMap[tokens.size] = tokenToOrigIndex[i]
        }
        tokens.add(SEP)
        segmentIds.add(1)

        val ids = IntArray(maxSeqLen)
        val mask = IntArray(maxSeqLen)
        val segments = IntArray(maxSeqLen)
        for (i in tokens.indices) {
            ids[i] = tokenizer.lookupId(tokens[i]) ?: 0 // LookupId leaves 0 on a miss
            mask[i] = 1
            segments[i] = segmentIds[i]
        }
        return QaFeature(ids, mask, segments, tokens, tokenToOrigMap, origTokens)
    }

    /** task_utils ReverseSortIndices: indices by value, descending; stable, so ties keep index order. */
    fun reverseSortIndices(values: FloatArray): List<Int> =
        values.indices.sortedWith(Comparator { a, b -> descending(values[a], values[b]) })

    /** C++'s `v[i2] < v[i1]` as a comparator (0.0 and -0.0 tie, unlike Float.compareTo). */
    private fun descending(a: Float, b: Float): Int = when {
        a > b -> -1
        a < b -> 1
        else -> 0
    }

    fun postprocess(
        feature: QaFeature,
        startLogits: FloatArray,
        endLogits: FloatArray,
        predictAnsNum: Int = PREDICT_ANS_NUM,
        maxAnsLen: Int = MAX_ANS_LEN,
        outputOffset: Int = OUTPUT_OFFSET,
    ): List<QaAnswer> {
        val startIndices = reverseSortIndices(startLogits)
        val endIndices = reverseSortIndices(endLogits)
        val map = feature.tokenToOrigMap

        val origResults = ArrayList<QaAnswer>()
        for (startIndex in 0 until minOf(predictAnsNum, startIndices.size)) {
            for (endIndex in 0 until minOf(predictAnsNum, endIndices.size)) {
                val start = startIndices[startIndex]
                val end = endIndices[endIndex]
                if (!map.containsKey(start + outputOffset) || !map.containsKey(end + outputOffset) ||
                    end < start || (end - start + 1) > maxAnsLen
                ) {
                    continue
                }
                origResults.add(QaAnswer("", start, end, startLogits[start] + endLogits[end], -1, -1))
            }
        }
        // std::sort by logit, descending; sortedWith is stable, which fixes the order of exact ties
        val sorted = origResults.sortedWith(Comparator { a, b -> descending(a.logit, b.logit) })

        val answers = ArrayList<QaAnswer>()
        for (i in 0 until minOf(sorted.size, predictAnsNum)) {
            val pos = sorted[i]
            val wordStart = map.getValue(pos.start + outputOffset)
            val wordEnd = map.getValue(pos.end + outputOffset)
            val text = if (pos.start > 0) feature.origTokens.subList(wordStart, wordEnd + 1).joinToString(" ") else ""
            answers.add(pos.copy(text = text, wordStart = wordStart, wordEnd = wordEnd))
        }
        return answers
    }

    /** The whole flow; [runModel] maps (ids, mask, segment_ids) to (start_logits, end_logits). */
    fun answer(
        tokenizer: WordpieceTokenizer,
        context: String,
        question: String,
        maxSeqLen: Int,
        runModel: (QaFeature) -> Pair<FloatArray, FloatArray>,
    ): List<QaAnswer> {
        val feature = preprocess(tokenizer, context, question, maxSeqLen)
        val (start, end) = runModel(feature)
        return postprocess(feature, start, end)
    }

    /** Softmax over the answers' logits: how the top-k share the probability mass among themselves. */
    fun answerProbabilities(answers: List<QaAnswer>): List<Double> = softmax(answers.map { it.logit.toDouble() })

    fun softmax(logits: List<Double>): List<Double> {
        if (logits.isEmpty()) return emptyList()
        val max = logits.maxOrNull()!!
        val exps = logits.map { Math.exp(it - max) }
        val sum = exps.sum()
        return exps.map { it / sum }
    }
}
