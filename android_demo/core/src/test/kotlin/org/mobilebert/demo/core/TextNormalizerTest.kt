package org.mobilebert.demo.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Test

class TextNormalizerTest {
    private val vocab = TestVocab.tokenizer()

    @Test
    fun stripsAccentsAndLowerCasesLikeTraining() {
        assertEquals("cafe au lait", TextNormalizer.normalize("Café au lait").text)
        assertEquals("amelie naive uber", TextNormalizer.normalize("AMÉLIE naïve Über").text)
        assertEquals("σοφια", TextNormalizer.normalize("ΣΟΦΊΑ").text)  // per character: no final ς
    }

    @Test
    fun whitespaceAndControlCharactersAsTraining() {
        assertEquals("a b c d", TextNormalizer.normalize("a\tb\u00a0c\nd").text)
        assertEquals("ab", TextNormalizer.normalize("a\u200bb\u0000").text)  // format and control dropped
    }

    @Test
    fun accentedAndPlainTextGetTheSameTokens() {
        // raw, the Task Library's tokenizer sees "café" and "cafe" as different words
        val raw = vocab.tokenize("café")
        val phone = vocab.tokenize(TextNormalizer.normalize("Café").text)
        assertEquals(vocab.tokenize(TextNormalizer.normalize("cafe").text), phone)
        assert(raw != phone)
    }

    @Test
    fun originalSpanMapsBackToThePassage() {
        val context = "Émile Zola's  café"
        val norm = TextNormalizer.normalize(context)
        assertEquals("emile zola's  cafe", norm.text)
        val start = norm.text.indexOf("cafe")
        val span = norm.originalSpan(CharSpan(start, start + 4))!!
        assertEquals("café", context.substring(span.start, span.end))
        assertNull(norm.originalSpan(CharSpan(3, 3)))
    }

    @Test
    fun casedModelsKeepTheText() {
        assertEquals("Café", TextNormalizer.forModel("Café", lowercase = false).text)
    }
}
