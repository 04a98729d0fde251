package org.mobilebert.demo.core

import java.io.File
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

class ClassificationAndExamplesTest {
    @Test
    fun classifierInputLayout() {
        val tok = TestVocab.tokenizer()
        val input = BertClassifierInput.preprocess(tok, "A GREAT film.", 8)
        assertEquals(listOf("[CLS]", "a", "great", "film", ".", "[SEP]"), input.tokens)
        assertEquals(6, input.mask.sum())
        assertEquals(0, input.segmentIds.sum())
        val cut = BertClassifierInput.preprocess(tok, "a great film . a bad film", 5)
        assertEquals(listOf("[CLS]", "a", "great", "film", "[SEP]"), cut.tokens)
    }

    @Test
    fun rankedLabels() {
        val r = BertClassifierInput.ranked(floatArrayOf(0.2f, 0.8f), listOf("negative", "positive"))
        assertEquals(listOf("positive", "negative"), r.map { it.label })
    }

    @Test
    fun bundledExamplesParse() {
        val dir = System.getProperty("mobilebert.assets") ?: "../app/src/main/assets"
        val ex = Examples.parse(File(dir, "examples.json").readText())
        assertTrue(ex.passages.size >= 2)
        assertTrue(ex.sentences.isNotEmpty())
        assertTrue(ex.passages.any { it.license == "CC BY-SA 4.0" && it.source.contains("SQuAD") })
    }

    @Test
    fun normalizeAnswer() {
        assertEquals("denver broncos", Examples.normalizeAnswer("The Denver Broncos."))
        assertEquals("2410", Examples.normalizeAnswer("24–10"))
    }
}
