package org.mobilebert.demo.core

import org.junit.Assert.assertEquals
import org.junit.Test

class WordpieceTokenizerTest {
    private val tok = TestVocab.tokenizer()

    @Test
    fun splitsOnRe2WhitespaceAndKeepsPunctuation() {
        assertEquals(listOf("who", "won", "?", "levi", "'", "s", "24", "–", "10"), tok.splitWords("who  won?\tlevi's 24–10"))
        // vertical tab and no-break space are not RE2 \s: they stay inside the word
        assertEquals(listOf("a\u000Bb", "c\u00A0d"), tok.splitWords("a\u000Bb c\u00A0d"))
        // CJK ideographs are words of their own
        assertEquals(listOf("東", "京", "x"), tok.splitWords("東京x"))
        // $ and ^ are ASCII punctuation for BERT though not Unicode P*
        assertEquals(listOf("$", "5", "^"), tok.splitWords("$5^"))
    }

    @Test
    fun greedyLongestMatchWordpiece() {
        assertEquals(listOf("token", "##ize", "me", "plea", "##se"), tok.tokenize("tokenize me please"))
        assertEquals(listOf("un", "##aff", "##able"), tok.tokenize("unaffable"))
        assertEquals(listOf("[UNK]"), tok.tokenize("xyz"))            // cannot be covered
        assertEquals(listOf("caf", "##é"), tok.tokenize("café"))       // accents are kept (no NFD)
        assertEquals(listOf("[UNK]"), tok.wordpiece("a".repeat(101))) // over 100 UTF-8 bytes
        assertEquals(listOf("[UNK]"), tok.wordpiece("é".repeat(51)))  // 102 bytes, 51 characters
    }

    @Test
    fun asciiLowerOnly() {
        assertEquals("denver Émile", WordpieceTokenizer.asciiLower("DENVER Émile"))
    }

    @Test
    fun vocabFromText() {
        val t = WordpieceTokenizer.fromVocabText("[PAD]\r\n[UNK]\nhello\n")
        assertEquals(3, t.vocabSize)
        assertEquals(2, t.lookupId("hello"))
    }
}
