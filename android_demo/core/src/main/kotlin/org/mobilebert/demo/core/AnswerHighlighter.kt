package org.mobilebert.demo.core

/** A character range of the passage: [start, end). */
data class CharSpan(val start: Int, val end: Int) {
    val length: Int get() = end - start
}

/**
 * Where an answer sits in the passage, for the highlight.
 *
 * BertQuestionAnswerer answers with whole words of the passage split on ' ' (its `orig_tokens_`), joined
 * by one space. [wordSpans] gives each such word's characters, so an answer's word range maps to one
 * character range of the original text (newlines, double spaces and all). For answers that come with
 * token positions only (the Task Library's `QaAnswer.pos`), [locateTokenSpan] replays the preprocessing
 * to find the words; [findAnswerText] is the last resort when that replay disagrees with the text.
 */
object AnswerHighlighter {
    /** Character span of every word of [BertQa.splitContext] (same order, same count). */
    fun wordSpans(context: String): List<CharSpan> {
        val spans = ArrayList<CharSpan>()
        var start = -1
        for (i in context.indices) {
            if (context[i] == ' ') {
                if (start >= 0) {
                    spans.add(CharSpan(start, i))
                    start = -1
                }
            } else if (start < 0) {
                start = i
            }
        }
        if (start >= 0) spans.add(CharSpan(start, context.length))
        return spans
    }

    /** Characters covered by words [wordStart]..[wordEnd] (inclusive), or null when out of range. */
    fun spanOfWords(context: String, wordStart: Int, wordEnd: Int): CharSpan? {
        val spans = wordSpans(context)
        if (wordStart < 0 || wordEnd < wordStart || wordEnd >= spans.size) return null
        return CharSpan(spans[wordStart].start, spans[wordEnd].end)
    }

    /**
     * The passage span of a Task Library answer given as token positions (`QaAnswer.pos.start/end`):
     * rebuild the same feature (same tokenizer, same seq), look the positions up, and check that the
     * words joined equal the answer's text before trusting them.
     */
    fun locateTokenSpan(
        tokenizer: WordpieceTokenizer,
        context: String,
        question: String,
        maxSeqLen: Int,
        start: Int,
        end: Int,
        answerText: String,
    ): CharSpan? {
        val feature = BertQa.preprocess(tokenizer, context, question, maxSeqLen)
        val w0 = feature.tokenToOrigMap[start + BertQa.OUTPUT_OFFSET]
        val w1 = feature.tokenToOrigMap[end + BertQa.OUTPUT_OFFSET]
        if (w0 != null && w1 != null && w0 <= w1 &&
            feature.origTokens.subList(w0, w1 + 1).joinToString(" ") == answerText
        ) {
            return spanOfWords(context, w0, w1)
        }
        return findAnswerText(context, answerText)
    }

    /**
     * First occurrence of [answerText] in [context] where the answer's single spaces may stand for any
     * run of spaces; null when it does not occur (or is blank).
     */
    fun findAnswerText(context: String, answerText: String): CharSpan? {
        val words = BertQa.splitContext(answerText)
        if (words.isEmpty()) return null
        val spans = wordSpans(context)
        val contextWords = BertQa.splitContext(context)
        for (i in 0..contextWords.size - words.size) {
            var match = true
            for (j in words.indices) {
                if (contextWords[i + j] != words[j]) {
                    match = false
                    break
                }
            }
            if (match) return CharSpan(spans[i].start, spans[i + words.size - 1].end)
        }
        return null
    }

    /** The passage cut into (text, isAnswer) pieces, for a UI that styles the answer. */
    fun segments(context: String, span: CharSpan?): List<Pair<String, Boolean>> {
        if (span == null || span.start < 0 || span.end > context.length || span.start >= span.end) {
            return listOf(context to false)
        }
        val out = ArrayList<Pair<String, Boolean>>()
        if (span.start > 0) out.add(context.substring(0, span.start) to false)
        out.add(context.substring(span.start, span.end) to true)
        if (span.end < context.length) out.add(context.substring(span.end) to false)
        return out
    }
}
