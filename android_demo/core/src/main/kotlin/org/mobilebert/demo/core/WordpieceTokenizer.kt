package org.mobilebert.demo.core

/**
 * The TFLite Task Library's BertTokenizer (tflite-support `text/tokenizers/bert_tokenizer.cc`):
 * split on RE2 `\s` (dropped) and on punctuation / CJK ideographs (kept as words), then greedy
 * longest-match WordPiece per word, `[UNK]` for a word over 100 UTF-8 bytes or one that cannot be
 * covered. No lower-casing here: callers lower-case ASCII first, as the Task Library does.
 *
 * Python mirror: android_demo/host_replay/task_library_replay.py `WordpieceTokenizer`.
 */
class WordpieceTokenizer(vocab: List<String>) {
    private val ids = HashMap<String, Int>(vocab.size * 2)

    init {
        vocab.forEachIndexed { i, token -> if (!ids.containsKey(token)) ids[token] = i }
    }

    val vocabSize: Int = vocab.size

    fun lookupId(token: String): Int? = ids[token]

    fun splitWords(text: String): List<String> {
        val words = ArrayList<String>()
        val current = StringBuilder()
        var i = 0
        while (i < text.length) {
            val cp = text.codePointAt(i)
            val width = Character.charCount(cp)
            when {
                isRe2Whitespace(cp) -> {
                    if (current.isNotEmpty()) { words.add(current.toString()); current.setLength(0) }
                }
                isKeptDelimiter(cp) -> {
                    if (current.isNotEmpty()) { words.add(current.toString()); current.setLength(0) }
                    words.add(text.substring(i, i + width))
                }
                else -> current.appendCodePoint(cp)
            }
            i += width
        }
        if (current.isNotEmpty()) words.add(current.toString())
        return words
    }

    fun wordpiece(word: String): List<String> {
        if (word.toByteArray(Charsets.UTF_8).size > MAX_BYTES_PER_TOKEN) return listOf(UNKNOWN_TOKEN)
        val cps = codePoints(word)
        val pieces = ArrayList<String>()
        var start = 0
        while (start < cps.size) {
            var end = minOf(cps.size, start + MAX_CHARS_PER_SUBTOKEN)
            var found: String? = null
            while (end > start) {
                val sub = String(cps, start, end - start)
                val candidate = if (start == 0) sub else SUFFIX_INDICATOR + sub
                if (ids.containsKey(candidate)) {
                    found = candidate
                    break
                }
                end--
            }
            if (found == null) return listOf(UNKNOWN_TOKEN)
            pieces.add(found)
            start = end
        }
        return pieces
    }

    fun tokenize(text: String): List<String> {
        val out = ArrayList<String>()
        for (word in splitWords(text)) out.addAll(wordpiece(word))
        return out
    }

    companion object {
        const val MAX_BYTES_PER_TOKEN = 100
        const val MAX_CHARS_PER_SUBTOKEN = 100
        const val SUFFIX_INDICATOR = "##"
        const val UNKNOWN_TOKEN = "[UNK]"

        /** vocab.txt: one token per line, the line number is the id. */
        fun fromVocabText(text: String): WordpieceTokenizer {
            val lines = text.split("\n").map { it.removeSuffix("\r") }
            return WordpieceTokenizer(if (lines.isNotEmpty() && lines.last().isEmpty()) lines.dropLast(1) else lines)
        }

        fun codePoints(s: String): IntArray {
            val out = IntArray(s.codePointCount(0, s.length))
            var i = 0
            var k = 0
            while (i < s.length) {
                val cp = s.codePointAt(i)
                out[k++] = cp
                i += Character.charCount(cp)
            }
            return out
        }

        /** absl::AsciiStrToLower: only A-Z change. */
        fun asciiLower(text: String): String {
            val chars = text.toCharArray()
            for (i in chars.indices) if (chars[i] in 'A'..'Z') chars[i] = chars[i] + 32
            return String(chars)
        }

        /** RE2's `\s`: `[\t\n\f\r ]`, nothing else (no vertical tab, no Unicode spaces). */
        fun isRe2Whitespace(cp: Int): Boolean =
            cp == ' '.code || cp == '\t'.code || cp == '\n'.code || cp == '\r'.code || cp == 0x0C

        /** kDefaultIncludeDelimRe: `[!-/]`, `[:-@]`, `[\[-`]`, `[{-~]`, `\p{P}`, CJK ideograph blocks. */
        fun isKeptDelimiter(cp: Int): Boolean {
            if (cp in 33..47 || cp in 58..64 || cp in 91..96 || cp in 123..126) return true
            when (Character.getType(cp).toByte()) {
                Character.CONNECTOR_PUNCTUATION, Character.DASH_PUNCTUATION, Character.START_PUNCTUATION,
                Character.END_PUNCTUATION, Character.INITIAL_QUOTE_PUNCTUATION, Character.FINAL_QUOTE_PUNCTUATION,
                Character.OTHER_PUNCTUATION -> return true
            }
            return cp in 0x4E00..0x9FFF || cp in 0x3400..0x4DBF || cp in 0x20000..0x2A6DF ||
                cp in 0x2A700..0x2B73F || cp in 0x2B740..0x2B81F || cp in 0x2B820..0x2CEAF ||
                cp in 0xF900..0xFAFF || cp in 0x2F800..0x2FA1F
        }
    }
}
