package org.mobilebert.demo.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Test

class AnswerHighlighterTest {
    private val context = "The Denver  Broncos won\nSuper Bowl 50 in Santa Clara, California."

    @Test
    fun wordSpansFollowTheSpaceSplit() {
        val spans = AnswerHighlighter.wordSpans(context)
        assertEquals(BertQa.splitContext(context).size, spans.size)
        for ((span, word) in spans.zip(BertQa.splitContext(context))) {
            assertEquals(word, context.substring(span.start, span.end))
        }
        // "won\nSuper" is one word: the Task Library splits the passage on ' ' only
        assertEquals("won\nSuper", context.substring(spans[3].start, spans[3].end))
    }

    @Test
    fun spanOfWordsKeepsTheOriginalSpacing() {
        val span = AnswerHighlighter.spanOfWords(context, 1, 2)!!
        assertEquals("Denver  Broncos", context.substring(span.start, span.end))
        assertNull(AnswerHighlighter.spanOfWords(context, 3, 99))
        assertNull(AnswerHighlighter.spanOfWords(context, 2, 1))
    }

    @Test
    fun locateTokenSpanReplaysThePreprocessing() {
        val tok = TestVocab.tokenizer()
        val f = BertQa.preprocess(tok, context, "Who won?", 48)
        val start = f.tokens.indexOf("denver")
        val end = f.tokens.indexOf("broncos")
        val span = AnswerHighlighter.locateTokenSpan(tok, context, "Who won?", 48, start, end, "Denver Broncos")!!
        assertEquals("Denver  Broncos", context.substring(span.start, span.end))
        // positions that disagree with the text: fall back to finding the text
        val fallback = AnswerHighlighter.locateTokenSpan(tok, context, "Who won?", 48, 0, 0, "Santa Clara,")!!
        assertEquals("Santa Clara,", context.substring(fallback.start, fallback.end))
    }

    @Test
    fun findAnswerTextAndSegments() {
        val span = AnswerHighlighter.findAnswerText(context, "Denver Broncos")!!
        assertEquals(4, span.start)
        assertNull(AnswerHighlighter.findAnswerText(context, "Carolina Panthers"))
        assertNull(AnswerHighlighter.findAnswerText(context, "  "))
        val parts = AnswerHighlighter.segments(context, span)
        assertEquals(listOf("The ", "Denver  Broncos", context.substring(span.end)), parts.map { it.first })
        assertEquals(listOf(false, true, false), parts.map { it.second })
        assertEquals(listOf(context to false), AnswerHighlighter.segments(context, null))
    }
}
