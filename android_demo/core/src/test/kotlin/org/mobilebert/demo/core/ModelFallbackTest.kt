package org.mobilebert.demo.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

class ModelFallbackTest {
    private val labels = """["negative", "positive"]"""

    private fun classifier(file: String, seq: Int, dynamic: String = "", fallbackFor: String = ""): String {
        val dim = if (dynamic.isEmpty()) seq else -1
        return """{"file": "$file", "task": "classifier", "quantization": "none", "seq_len": $seq,
            "inputs": [{"name": "ids", "dtype": "int32", "shape": [1, $dim]},
                       {"name": "segment_ids", "dtype": "int32", "shape": [1, $dim]},
                       {"name": "mask", "dtype": "int32", "shape": [1, $dim]}],
            "outputs": [{"name": "probability", "dtype": "float32", "shape": [1, 2]}], "labels": $labels,
            "tokenizer": {"type": "bert_wordpiece", "vocab_file": "vocab.txt"} $dynamic $fallbackFor}"""
    }

    private val pair = """{"models": [${classifier("fixed.tflite", 128, fallbackFor = ""","fallback_for": "dyn.tflite"""")},
        ${classifier("dyn.tflite", 511, dynamic = ""","dynamic": {"max_seq_len": 511, "fallback": "fixed.tflite"}""")}]}"""

    @Test
    fun parsesADynamicModelAndItsFallback() {
        val m = ManifestParser.parse(pair)
        val dyn = m.byFile("dyn.tflite")!!
        assertTrue(dyn.dynamicLength)
        assertEquals(listOf(1, -1), dyn.inputShape)
        assertEquals("fixed.tflite", m.fallbackOf(dyn)!!.file)
        assertNull(m.fallbackOf(m.byFile("fixed.tflite")!!))
        assertEquals(listOf("dyn.tflite"), m.choices(Task.CLASSIFIER).map { it.file })  // the picker hides the fallback
        assertTrue(dyn.displayName.contains("own length <= 511"))
    }

    @Test
    fun rejectsBrokenPairs() {
        fun rejected(text: String, expected: String) {
            try {
                ManifestParser.parse(text, "models.json")
                fail("accepted: $text")
            } catch (e: ManifestException) {
                assertTrue("'${e.message}' should contain '$expected'", e.message!!.contains(expected))
            }
        }
        rejected(pair.replace("\"fallback\": \"fixed.tflite\"", "\"fallback\": \"gone.tflite\""), "\"gone.tflite\" is not listed")
        rejected(pair.replace("\"fallback_for\": \"dyn.tflite\"", "\"fallback_for\": \"other.tflite\""), "dynamic.fallback")
        rejected(pair.replace("\"max_seq_len\": 511", "\"max_seq_len\": 64"), "64 is not seq_len 511")
        rejected(pair.replace("[1, -1]", "[1, 511]"), "expected int32 [1, -1]")
    }

    private val manifest = ManifestParser.parse(pair)
    private val dyn = manifest.byFile("dyn.tflite")!!
    private val fixed = manifest.byFile("fixed.tflite")!!

    @Test
    fun dynamicModelRunsWhenItLoads() {
        val choice = ModelFallback.choose(dyn, fixed) { e -> "engine(${e.file})" }
        assertEquals("engine(dyn.tflite)", choice.engine)
        assertEquals(dyn, choice.entry)
        assertFalse(choice.fellBack)
    }

    @Test
    fun fixedFallbackWhenTheDynamicModelFails() {
        val tried = mutableListOf<String>()
        val choice = ModelFallback.choose(dyn, fixed) { e ->
            tried.add(e.file)
            if (e.dynamicLength) throw IllegalArgumentException("ResizeInputTensor failed\nstack")
            "engine(${e.file})"
        }
        assertEquals(listOf("dyn.tflite", "fixed.tflite"), tried)
        assertEquals("engine(fixed.tflite)", choice.engine)
        assertEquals(fixed, choice.entry)
        assertEquals("own-length model dyn.tflite failed (ResizeInputTensor failed); running the fixed-length " +
            "fixed.tflite (seq 128) instead", choice.notice)
    }

    @Test
    fun fixedModelFailureIsNotHidden() {
        try {
            ModelFallback.choose(fixed, null) { throw IllegalStateException("broken") }
            fail("a fixed model's failure must propagate")
        } catch (e: IllegalStateException) {
            assertEquals("broken", e.message)
        }
    }

    @Test
    fun ownLengthInputIsAsLongAsTheTokens() {
        val tokenizer = WordpieceTokenizer(listOf("[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "good", "film"))
        val own = BertClassifierInput.preprocess(tokenizer, "A good film", 511, ownLength = true)
        assertEquals(listOf(2, 4, 5, 6, 3), own.ids.toList())
        assertEquals(listOf(1, 1, 1, 1, 1), own.mask.toList())
        val padded = BertClassifierInput.preprocess(tokenizer, "A good film", 8)
        assertEquals(listOf(2, 4, 5, 6, 3, 0, 0, 0), padded.ids.toList())
        assertEquals(own.ids.toList(), padded.ids.toList().subList(0, 5))
        // cut at the maximum, like the fixed model
        assertEquals(3, BertClassifierInput.preprocess(tokenizer, "A good film", 3, ownLength = true).ids.size)
    }
}
