package org.mobilebert.demo.core

data class ExampleQuestion(val question: String, val answer: String)

data class ExamplePassage(
    val title: String,
    val text: String,
    val source: String,
    val license: String,
    val questions: List<ExampleQuestion>,
)

data class ExampleSentence(val text: String, val label: String)

/** `assets/examples.json`: the passages and sentences the screens offer (with their source and licence). */
data class Examples(val passages: List<ExamplePassage>, val sentences: List<ExampleSentence>) {
    companion object {
        fun parse(text: String, source: String = "examples.json"): Examples {
            try {
                val root = JsonPath(Json.parse(text), "")
                val passages = root["passages"].list().map { p ->
                    val passage = ExamplePassage(
                        p["title"].string(), p["text"].string(), p["source"].string(), p["license"].string(),
                        p["questions"].list().map { ExampleQuestion(it["question"].string(), it["answer"].string()) },
                    )
                    for (q in passage.questions) {
                        if (!passage.text.contains(q.answer)) {
                            throw JsonException("${p.path}: answer \"${q.answer}\" is not in the passage")
                        }
                    }
                    passage
                }
                val sentences = root["sentences"].list().map { ExampleSentence(it["text"].string(), it["label"].string()) }
                return Examples(passages, sentences)
            } catch (e: JsonException) {
                throw IllegalArgumentException("$source: ${e.message}", e)
            }
        }

        /** SQuAD-style answer normalization (lower case; no punctuation, ASCII or Unicode; no articles; single spaces). */
        fun normalizeAnswer(s: String): String {
            val lower = s.lowercase()
            val noPunct = StringBuilder()
            for (c in lower) {
                val type = Character.getType(c).toByte()
                val isPunct = type == Character.CONNECTOR_PUNCTUATION || type == Character.DASH_PUNCTUATION ||
                    type == Character.START_PUNCTUATION || type == Character.END_PUNCTUATION ||
                    type == Character.INITIAL_QUOTE_PUNCTUATION || type == Character.FINAL_QUOTE_PUNCTUATION ||
                    type == Character.OTHER_PUNCTUATION || (c.code < 128 && !c.isLetterOrDigit() && !c.isWhitespace())
                if (!isPunct) noPunct.append(c)
            }
            return noPunct.toString().split(Regex("\\s+"))
                .filter { it.isNotEmpty() && it != "a" && it != "an" && it != "the" }
                .joinToString(" ")
        }
    }
}
