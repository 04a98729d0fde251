package org.mobilebert.demo.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

class JsonTest {
    @Test
    fun parsesNestedValues() {
        val v = Json.parse("""{"a": [1, 2.5, -3e2], "b": {"c": "x\"y\\z\u00e9\n"}, "d": true, "e": null, "f": false}""")
        val m = v as Map<*, *>
        assertEquals(listOf(1.0, 2.5, -300.0), m["a"])
        assertEquals("x\"y\\z\u00e9\n", (m["b"] as Map<*, *>)["c"])
        assertEquals(true, m["d"])
        assertNull(m["e"])
        assertEquals(false, m["f"])
        assertEquals(listOf("a", "b", "d", "e", "f"), m.keys.toList()) // order kept
    }

    @Test
    fun surrogatePairEscapes() {
        assertEquals("\uD83D\uDE00", Json.parse("\"\\ud83d\\ude00\""))
    }

    @Test
    fun errorsNameLineAndColumn() {
        for ((text, expected) in listOf(
            "{\n  \"a\": 1,\n  \"b\" 2\n}" to "line 3, column 7",
            "[1, 2" to "unexpected end of input",
            "{\"a\": tru}" to "unexpected character 't'",
            "{} x" to "unexpected text after",
            "\"abc" to "unterminated string",
        )) {
            try {
                Json.parse(text)
                fail("no error for $text")
            } catch (e: JsonException) {
                assertTrue("'${e.message}' should contain '$expected'", e.message!!.contains(expected))
            }
        }
    }

    @Test
    fun jsonPathNamesTheField() {
        val root = JsonPath(Json.parse("""{"models": [{"seq_len": "384"}]}"""), "")
        try {
            root["models"].list()[0]["seq_len"].int()
            fail()
        } catch (e: JsonException) {
            assertEquals("models[0].seq_len: expected an integer, got a string", e.message)
        }
        try {
            root["models"].list()[0]["file"]
            fail()
        } catch (e: JsonException) {
            assertEquals("models[0]: missing field \"file\"", e.message)
        }
    }
}
