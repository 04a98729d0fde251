package org.mobilebert.demo.core

import java.io.File
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

class ModelManifestTest {
    /** The committed manifest: the app module's assets (Gradle passes the path; pytest too). */
    private fun committedManifest(): File {
        val dir = System.getProperty("mobilebert.assets") ?: "../app/src/main/assets"
        return File(dir, "models.json")
    }

    private fun entry(task: String = "qa", seq: Int = 384, extra: String = ""): String {
        val outputs = if (task == "qa") {
            """[{"name": "end_logits", "dtype": "float32", "shape": [1, $seq]},
                {"name": "start_logits", "dtype": "float32", "shape": [1, $seq]}]"""
        } else {
            """[{"name": "probability", "dtype": "float32", "shape": [1, 2]}]"""
        }
        val labels = if (task == "qa") "[]" else """["negative", "positive"]"""
        return """{"file": "m_$task$seq.tflite", "task": "$task", "quantization": "int8", "seq_len": $seq,
            "inputs": [{"name": "ids", "dtype": "int32", "shape": [1, $seq]},
                       {"name": "segment_ids", "dtype": "int32", "shape": [1, $seq]},
                       {"name": "mask", "dtype": "int32", "shape": [1, $seq]}],
            "outputs": $outputs, "labels": $labels $extra,
            "tokenizer": {"type": "bert_wordpiece", "vocab_file": "vocab.txt", "lowercase": true},
            "task_library": {"api": "x", "compatible": ${seq == 384 || task != "qa"}, "note": ""}}"""
    }

    private fun manifest(vararg entries: String) = """{"schema_version": 1, "models": [${entries.joinToString(",")}]}"""

    @Test
    fun committedManifestParses() {
        val file = committedManifest()
        val m = ManifestParser.parse(file.readText(), file.path)
        assertEquals(4, m.models.size)
        assertEquals(2, m.forTask(Task.QA).size)
        assertEquals(2, m.forTask(Task.CLASSIFIER).size)
        for (e in m.models) {
            assertTrue(e.file.endsWith(".tflite"))
            assertEquals(listOf(1, e.seqLen), e.input("ids")!!.shape)
        }
        assertEquals(listOf("negative", "positive"), m.forTask(Task.CLASSIFIER)[0].labels)
    }

    @Test
    fun parsesEntries() {
        val m = ManifestParser.parse(manifest(entry("qa", 384, ""","size_bytes": 25000000, "accuracy_gate": {"agreement": 0.99}"""), entry("classifier", 128), entry("qa", 256)))
        val qa = m.byFile("m_qa384.tflite")!!
        assertEquals(Task.QA, qa.task)
        assertEquals("int8", qa.quantizationLabel)
        assertEquals(25000000L, qa.sizeBytes)
        assertEquals(0.99, qa.gateAgreement!!, 0.0)
        assertTrue(qa.taskLibraryCompatible)
        assertFalse(m.byFile("m_qa256.tflite")!!.taskLibraryCompatible)
        assertEquals(listOf("negative", "positive"), m.byFile("m_classifier128.tflite")!!.labels)
    }

    private fun assertRejected(text: String, expected: String) {
        try {
            ManifestParser.parse(text, "models.json")
            fail("accepted: $text")
        } catch (e: ManifestException) {
            assertTrue("'${e.message}' should contain '$expected'", e.message!!.contains(expected))
            assertTrue(e.message!!.startsWith("models.json"))
        }
    }

    @Test
    fun rejectsBadManifestsWithClearMessages() {
        assertRejected("{\"models\": [", "not valid JSON: line 1")
        assertRejected("""{"schema_version": 2, "models": []}""", "schema_version 2 is not supported")
        assertRejected("""{"models": {}}""", "models: expected a list, got an object")
        assertRejected(manifest(entry().replace("\"qa\", \"quantization\"", "\"ner\", \"quantization\"")), "unknown task \"ner\"")
        assertRejected(manifest(entry().replace("\"ids\"", "\"input_ids\"")), "models[0].inputs: names")
        assertRejected(manifest(entry().replace("\"end_logits\"", "\"logits\"")), "models[0].outputs: names")
        assertRejected(manifest(entry("classifier", 128).replace("[\"negative\", \"positive\"]", "[\"only\"]")), "1 labels for 2")
        assertRejected(manifest(entry(), entry()), "listed twice")
        assertRejected(manifest(entry().replace("\"seq_len\": 384", "\"seq_len\": \"384\"")), "models[0].seq_len: expected an integer")
    }
}
