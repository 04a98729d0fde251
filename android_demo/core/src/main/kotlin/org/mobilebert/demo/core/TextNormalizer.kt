package org.mobilebert.demo.core

import java.text.Normalizer

/**
 * Text after [TextNormalizer.normalize], with the way back to the original: [source] holds, for each
 * UTF-16 unit of [text], the index of the original character it came from.
 */
class NormalizedText(val text: String, private val source: IntArray, private val original: String) {
    /** The original text's span behind [span] of [text] (for the answer highlight); null when empty. */
    fun originalSpan(span: CharSpan?): CharSpan? {
        if (span == null || span.start < 0 || span.end > text.length || span.start >= span.end) return null
        val end = source[span.end - 1]
        return CharSpan(source[span.start], end + Character.charCount(original.codePointAt(end)))
    }
}

/**
 * The training tokenizer's text normalization (`mobilebert_tf.tokenization.tf_normalize`, BERT uncased),
 * applied by the app before text reaches the Task Library or the Interpreter: the Task Library only
 * lower-cases ASCII letters and keeps accents, so "café" would be `[UNK]` on the phone and an id the
 * model never saw in training. Per character: tab/LF/CR and Unicode separators (Z*) become a space;
 * other control, format, private-use, surrogate and unassigned characters (C*) and U+FFFD are dropped;
 * the rest is decomposed (NFD), combining marks (Mn) dropped, and lower-cased one code point at a time
 * (so a final Σ is σ, as in BERT). Mirrors `normalize_text` in host_replay/task_library_replay.py and
 * `normalizeText` in web_demo/bert.js.
 *
 * Example: `TextNormalizer.normalize("Café\tÉTÉ").text == "cafe ete"`.
 */
object TextNormalizer {
    private val SEPARATORS = setOf(
        Character.SPACE_SEPARATOR.toInt(), Character.LINE_SEPARATOR.toInt(), Character.PARAGRAPH_SEPARATOR.toInt(),
    )
    private val OTHER = setOf(
        Character.CONTROL.toInt(), Character.FORMAT.toInt(), Character.PRIVATE_USE.toInt(),
        Character.SURROGATE.toInt(), Character.UNASSIGNED.toInt(),
    )

    fun normalize(text: String): NormalizedText {
        val out = StringBuilder(text.length)
        val source = ArrayList<Int>(text.length)
        var i = 0
        while (i < text.length) {
            val cp = text.codePointAt(i)
            val type = Character.getType(cp)
            val before = out.length
            if (cp == '\t'.code || cp == '\n'.code || cp == '\r'.code || type in SEPARATORS) {
                out.append(' ')
            } else if (type !in OTHER && cp != 0xFFFD) {
                val decomposed = Normalizer.normalize(String(Character.toChars(cp)), Normalizer.Form.NFD)
                var j = 0
                while (j < decomposed.length) {
                    val c = decomposed.codePointAt(j)
                    if (Character.getType(c) != Character.NON_SPACING_MARK.toInt()) {
                        out.appendCodePoint(Character.toLowerCase(c))
                    }
                    j += Character.charCount(c)
                }
            }
            repeat(out.length - before) { source.add(i) }
            i += Character.charCount(cp)
        }
        return NormalizedText(out.toString(), source.toIntArray(), text)
    }

    /** [normalize] when the model's vocab is uncased ([TokenizerSpec.lowercase]); the text as is otherwise. */
    fun forModel(text: String, lowercase: Boolean): NormalizedText =
        if (lowercase) normalize(text) else NormalizedText(text, IntArray(text.length) { it }, text)
}
