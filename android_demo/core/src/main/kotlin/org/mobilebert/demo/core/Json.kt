package org.mobilebert.demo.core

/**
 * A small JSON reader for the demo's own files (models.json, examples.json), so that the core module
 * needs nothing beyond the Kotlin standard library (org.json is part of Android, not of the JVM).
 *
 * Objects become [LinkedHashMap] (key order kept), arrays [List], numbers [Double], strings [String],
 * true/false [Boolean], null null. Errors are [JsonException] with line and column.
 */
class JsonException(message: String) : IllegalArgumentException(message)

object Json {
    fun parse(text: String): Any? {
        val reader = Reader(text)
        reader.skipWhitespace()
        val value = reader.readValue()
        reader.skipWhitespace()
        if (!reader.atEnd()) throw reader.error("unexpected text after the JSON value")
        return value
    }

    private class Reader(val text: String) {
        var pos = 0

        fun atEnd() = pos >= text.length

        fun error(message: String): JsonException {
            var line = 1
            var column = 1
            for (i in 0 until minOf(pos, text.length)) {
                if (text[i] == '\n') {
                    line++
                    column = 1
                } else {
                    column++
                }
            }
            return JsonException("line $line, column $column: $message")
        }

        fun skipWhitespace() {
            while (pos < text.length && (text[pos] == ' ' || text[pos] == '\n' || text[pos] == '\r' || text[pos] == '\t')) {
                pos++
            }
        }

        fun readValue(): Any? {
            if (atEnd()) throw error("unexpected end of input, expected a value")
            val c = text[pos]
            return when {
                c == '{' -> readObject()
                c == '[' -> readArray()
                c == '"' -> readString()
                c == '-' || c in '0'..'9' -> readNumber()
                text.startsWith("true", pos) -> { pos += 4; true }
                text.startsWith("false", pos) -> { pos += 5; false }
                text.startsWith("null", pos) -> { pos += 4; null }
                else -> throw error("unexpected character '$c'")
            }
        }

        fun readObject(): Map<String, Any?> {
            val out = LinkedHashMap<String, Any?>()
            pos++ // {
            skipWhitespace()
            if (pos < text.length && text[pos] == '}') {
                pos++
                return out
            }
            while (true) {
                skipWhitespace()
                if (atEnd() || text[pos] != '"') throw error("expected a string key")
                val key = readString()
                skipWhitespace()
                if (atEnd() || text[pos] != ':') throw error("expected ':' after key \"$key\"")
                pos++
                skipWhitespace()
                out[key] = readValue()
                skipWhitespace()
                if (atEnd()) throw error("unexpected end of input in an object")
                when (text[pos]) {
                    ',' -> pos++
                    '}' -> { pos++; return out }
                    else -> throw error("expected ',' or '}' in an object")
                }
            }
        }

        fun readArray(): List<Any?> {
            val out = ArrayList<Any?>()
            pos++ // [
            skipWhitespace()
            if (pos < text.length && text[pos] == ']') {
                pos++
                return out
            }
            while (true) {
                skipWhitespace()
                out.add(readValue())
                skipWhitespace()
                if (atEnd()) throw error("unexpected end of input in an array")
                when (text[pos]) {
                    ',' -> pos++
                    ']' -> { pos++; return out }
                    else -> throw error("expected ',' or ']' in an array")
                }
            }
        }

        fun readString(): String {
            val sb = StringBuilder()
            pos++ // opening quote
            while (true) {
                if (atEnd()) throw error("unterminated string")
                val c = text[pos++]
                when {
                    c == '"' -> return sb.toString()
                    c == '\\' -> {
                        if (atEnd()) throw error("unterminated escape")
                        when (val e = text[pos++]) {
                            '"' -> sb.append('"')
                            '\\' -> sb.append('\\')
                            '/' -> sb.append('/')
                            'b' -> sb.append('\b')
                            'f' -> sb.append('\u000C')
                            'n' -> sb.append('\n')
                            'r' -> sb.append('\r')
                            't' -> sb.append('\t')
                            'u' -> {
                                if (pos + 4 > text.length) throw error("truncated \\u escape")
                                val hex = text.substring(pos, pos + 4)
                                val code = hex.toIntOrNull(16) ?: throw error("bad \\u escape \\u$hex")
                                sb.append(code.toChar()) // surrogate pairs arrive as two escapes
                                pos += 4
                            }
                            else -> throw error("bad escape \\$e")
                        }
                    }
                    c < ' ' -> throw error("control character in a string")
                    else -> sb.append(c)
                }
            }
        }

        fun readNumber(): Double {
            val start = pos
            if (text[pos] == '-') pos++
            while (pos < text.length && (text[pos].isDigit() || text[pos] in ".eE+-")) pos++
            val raw = text.substring(start, pos)
            return raw.toDoubleOrNull() ?: throw error("bad number '$raw'")
        }
    }
}

/** Typed access to parsed JSON with error messages that name the path (`models[1].seq_len`). */
class JsonPath(val value: Any?, val path: String) {
    private fun fail(expected: String): Nothing {
        val got = when (value) {
            null -> "null"
            is Map<*, *> -> "an object"
            is List<*> -> "a list"
            is String -> "a string"
            is Double -> "a number"
            is Boolean -> "a boolean"
            else -> value.javaClass.simpleName
        }
        throw JsonException("$path: expected $expected, got $got")
    }

    fun has(key: String): Boolean = (value as? Map<*, *>)?.containsKey(key) == true

    operator fun get(key: String): JsonPath {
        val map = value as? Map<*, *> ?: fail("an object")
        if (!map.containsKey(key)) throw JsonException("$path: missing field \"$key\"")
        return JsonPath(map[key], if (path.isEmpty()) key else "$path.$key")
    }

    fun opt(key: String): JsonPath? {
        val map = value as? Map<*, *> ?: fail("an object")
        return if (map.containsKey(key) && map[key] != null) JsonPath(map[key], "$path.$key") else null
    }

    fun string(): String = value as? String ?: fail("a string")

    fun int(): Int {
        val d = value as? Double ?: fail("an integer")
        if (d != Math.floor(d) || d > Int.MAX_VALUE || d < Int.MIN_VALUE) fail("an integer")
        return d.toInt()
    }

    fun long(): Long {
        val d = value as? Double ?: fail("an integer")
        if (d != Math.floor(d)) fail("an integer")
        return d.toLong()
    }

    fun double(): Double = value as? Double ?: fail("a number")

    fun bool(): Boolean = value as? Boolean ?: fail("a boolean")

    fun list(): List<JsonPath> {
        val list = value as? List<*> ?: fail("a list")
        return list.mapIndexed { i, v -> JsonPath(v, "$path[$i]") }
    }
}
