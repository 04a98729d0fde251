package org.mobilebert.demo.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

class BertQaTest {
    private val tok = TestVocab.tokenizer()
    private val context = "The Denver  Broncos won Super Bowl 50 in Santa Clara, California."

    @Test
    fun preprocessLayout() {
        val f = BertQa.preprocess(tok, context, "Who won?", maxSeqLen = 32)
        assertEquals(listOf("[CLS]", "who", "won", "?", "[SEP]", "the", "denver", "broncos", "won", "super", "bowl",
            "50", "in", "santa", "clara", ",", "california", ".", "[SEP]"), f.tokens)
        assertEquals(32, f.ids.size)
        assertEquals(2, f.ids[0])                                  // [CLS]
        assertEquals(19, f.mask.sum())
        assertEquals(listOf(0, 0, 0, 0, 0, 1, 1), f.segmentIds.take(7))
        assertEquals(0, f.segmentIds[25])                          // padding
        // key = position + 1: "the" is at position 5 and word 0
        assertEquals(0, f.tokenToOrigMap[6])
        assertEquals(9, f.tokenToOrigMap[16])                      // "," (position 15) is in word 9, "Clara,"
        assertEquals(listOf("The", "Denver", "Broncos", "won", "Super", "Bowl", "50", "in", "Santa", "Clara,",
            "California."), f.origTokens)
    }

    @Test
    fun contextIsCutToTheWindow() {
        val f = BertQa.preprocess(tok, context, "Who won?", maxSeqLen = 10)
        assertEquals(listOf("[CLS]", "who", "won", "?", "[SEP]", "the", "denver", "broncos", "won", "[SEP]"), f.tokens)
        assertEquals(4, f.tokenToOrigMap.size)
    }

    private fun logits(n: Int, vararg pairs: Pair<Int, Float>): FloatArray {
        val a = FloatArray(n) { -10f }
        for ((i, v) in pairs) a[i] = v
        return a
    }

    @Test
    fun postprocessRanksValidSpans() {
        val f = BertQa.preprocess(tok, context, "Who won?", maxSeqLen = 32)
        // positions: 6 denver, 7 broncos, 13 santa, 16 california, 0 [CLS] (not in the context)
        val start = logits(32, 6 to 5f, 13 to 4f, 0 to 9f, 16 to 3f)
        val end = logits(32, 7 to 6f, 16 to 3f, 2 to 8f)
        val answers = BertQa.postprocess(f, start, end)
        assertEquals("Denver Broncos", answers[0].text)
        assertEquals(11f, answers[0].logit, 0f)
        assertEquals(1, answers[0].wordStart)
        assertEquals(2, answers[0].wordEnd)
        assertEquals(listOf("Denver Broncos", "Denver Broncos won Super Bowl 50 in Santa Clara, California.",
            "Santa Clara, California.", "California."), answers.map { it.text })
        // every answer: inside the context, end >= start, at most 32 tokens, best first
        for (a in answers) {
            assertTrue(a.end >= a.start && a.start >= 5)
        }
        assertEquals(answers.map { it.logit }.sortedDescending(), answers.map { it.logit })
        assertTrue(answers.size <= BertQa.PREDICT_ANS_NUM)
    }

    @Test
    fun maxAnswerLengthAndTopFiveOnly() {
        val f = BertQa.preprocess(tok, context, "Who won?", maxSeqLen = 32)
        // the only valid pair is too long for maxAnsLen 3
        val start = logits(32, 5 to 5f)
        val end = logits(32, 16 to 5f)
        assertEquals(1, BertQa.postprocess(f, start, end).size)
        assertEquals(0, BertQa.postprocess(f, start, end, maxAnsLen = 3).size)
        // a start ranked 6th is never considered (kPredictAnsNum = 5)
        val start2 = logits(32, 0 to 9f, 1 to 8f, 2 to 7f, 3 to 6f, 4 to 5f, 6 to 4f)
        assertEquals(0, BertQa.postprocess(f, start2, logits(32, 7 to 1f)).size)
    }

    @Test
    fun stableReverseSort() {
        assertEquals(listOf(1, 3, 0, 2), BertQa.reverseSortIndices(floatArrayOf(1f, 3f, 1f, 3f)))
        assertEquals(listOf(0, 1), BertQa.reverseSortIndices(floatArrayOf(-0f, 0f)))
    }

    @Test
    fun answerProbabilitiesSumToOne() {
        val p = BertQa.answerProbabilities(listOf(QaAnswer("a", 1, 1, 2f, 0, 0), QaAnswer("b", 1, 1, 0f, 0, 0)))
        assertEquals(1.0, p.sum(), 1e-9)
        assertEquals(1 / (1 + Math.exp(-2.0)), p[0], 1e-9)
    }
}
