package org.mobilebert.demo.core

import java.io.File

/**
 * Host check that the Kotlin pipeline and the Python replay (task_library_replay.py) agree, run by
 * tests/test_android_host_replay.py: it writes the inputs (passage, question, seq, the model's logits
 * from LiteRT) to a JSON file, this program answers them with [BertQa] / [BertClassifierInput] and
 * writes what the app would show; the test compares field by field.
 *
 * With `"manifest_file"` in cases.json it also parses that models.json with [ManifestParser] and lists
 * what the app would offer (tests/test_android_contract.py); with `"assets_dir"` too, which model the
 * app runs for each classifier it offers ([ModelFallback], tests/test_android_host_replay.py).
 *
 * Usage: ReplayCheck cases.json out.json
 */
object ReplayCheck {
    @JvmStatic
    fun main(args: Array<String>) {
        require(args.size == 2) { "usage: ReplayCheck cases.json out.json" }
        val root = JsonPath(Json.parse(File(args[0]).readText()), "")
        val tokenizer = WordpieceTokenizer.fromVocabText(File(root["vocab_file"].string()).readText())
        val out = StringBuilder()
        out.append("{\"qa\": [")
        root["qa"].list().forEachIndexed { i, case ->
            if (i > 0) out.append(", ")
            val context = case["context"].string()
            val question = case["question"].string()
            val seqLen = case["seq_len"].int()
            val feature = BertQa.preprocess(tokenizer, context, question, seqLen)
            val start = case["start_logits"].list().map { it.double().toFloat() }.toFloatArray()
            val end = case["end_logits"].list().map { it.double().toFloat() }.toFloatArray()
            val answers = BertQa.postprocess(feature, start, end)
            out.append("{\"id\": ").append(quote(case["id"].string()))
            out.append(", \"ids\": ").append(feature.ids.joinToString(", ", "[", "]"))
            out.append(", \"mask\": ").append(feature.mask.joinToString(", ", "[", "]"))
            out.append(", \"segment_ids\": ").append(feature.segmentIds.joinToString(", ", "[", "]"))
            out.append(", \"answers\": [")
            answers.forEachIndexed { k, a ->
                if (k > 0) out.append(", ")
                val span = AnswerHighlighter.spanOfWords(context, a.wordStart, a.wordEnd)
                out.append("{\"text\": ").append(quote(a.text))
                    .append(", \"start\": ").append(a.start).append(", \"end\": ").append(a.end)
                    .append(", \"logit\": ").append(a.logit.toString())
                    .append(", \"word_start\": ").append(a.wordStart).append(", \"word_end\": ").append(a.wordEnd)
                    .append(", \"char_start\": ").append(span?.start ?: -1)
                    .append(", \"char_end\": ").append(span?.end ?: -1).append("}")
            }
            out.append("]}")
        }
        out.append("], \"classifier\": [")
        root["classifier"].list().forEachIndexed { i, case ->
            if (i > 0) out.append(", ")
            val ownLength = case.opt("own_length")?.bool() ?: false
            val input = BertClassifierInput.preprocess(tokenizer, case["text"].string(), case["seq_len"].int(), ownLength)
            out.append("{\"ids\": ").append(input.ids.joinToString(", ", "[", "]"))
                .append(", \"mask\": ").append(input.mask.joinToString(", ", "[", "]")).append("}")
        }
        out.append("]")
        root.opt("normalize")?.let { texts ->
            // the app's normalization then the Task Library's tokenizer: the ids the model sees on the phone
            out.append(", \"normalized\": [")
            texts.list().forEachIndexed { i, t ->
                if (i > 0) out.append(", ")
                val norm = TextNormalizer.normalize(t.string()).text
                val ids = tokenizer.tokenize(norm).map { tokenizer.lookupId(it) ?: 0 }
                out.append("{\"text\": ").append(quote(norm)).append(", \"ids\": ").append(ids.joinToString(", ", "[", "]")).append("}")
            }
            out.append("]")
        }
        root.opt("manifest_file")?.let { path ->
            // what the app reads from a manifest the exporter wrote
            val manifest = ManifestParser.parse(File(path.string()).readText(), path.string())
            out.append(", \"manifest\": [")
            manifest.models.forEachIndexed { i, m ->
                if (i > 0) out.append(", ")
                out.append("{\"file\": ").append(quote(m.file))
                    .append(", \"task\": ").append(quote(m.task.wire))
                    .append(", \"seq_len\": ").append(m.seqLen)
                    .append(", \"quantization\": ").append(quote(m.quantization))
                    .append(", \"labels\": ").append(m.labels.joinToString(", ", "[", "]") { quote(it) })
                    .append(", \"task_library\": ").append(m.taskLibraryCompatible)
                    .append(", \"size_bytes\": ").append(m.sizeBytes ?: -1)
                    .append(", \"dynamic\": ").append(m.dynamicLength)
                    .append(", \"fallback\": ").append(manifest.fallbackOf(m)?.file?.let { quote(it) } ?: "null")
                    .append("}")
            }
            out.append("], \"choices\": ").append(manifest.choices(Task.CLASSIFIER).joinToString(", ", "[", "]") { quote(it.file) })
            root.opt("assets_dir")?.let { dir ->
                // the app's model choice for each classifier it offers, with a host stand-in for loading
                // the model (the file must be in assets, of the manifest's size, a TFLite flatbuffer)
                out.append(", \"chosen\": [")
                manifest.choices(Task.CLASSIFIER).forEachIndexed { i, m ->
                    if (i > 0) out.append(", ")
                    val choice = ModelFallback.choose(m, manifest.fallbackOf(m)) { e -> loadHost(File(dir.string(), e.file), e) }
                    out.append("{\"file\": ").append(quote(m.file)).append(", \"runs\": ").append(quote(choice.entry.file))
                        .append(", \"notice\": ").append(choice.notice?.let { quote(it) } ?: "null").append("}")
                }
                out.append("]")
            }
        }
        out.append("}\n")
        File(args[1]).writeText(out.toString())
    }

    /** Host stand-in for the Interpreter's load: the model file's bytes, checked as TFLite loads them. */
    private fun loadHost(file: File, entry: ModelEntry): ByteArray {
        if (!file.isFile) throw java.io.FileNotFoundException("${entry.file} is not in assets")
        val bytes = file.readBytes()
        if (bytes.size < 8 || String(bytes, 4, 4, Charsets.US_ASCII) != "TFL3") {
            throw IllegalArgumentException("${entry.file}: not a TFLite model (no TFL3 identifier)")
        }
        if (entry.sizeBytes != null && bytes.size.toLong() != entry.sizeBytes) {
            throw IllegalArgumentException("${entry.file}: ${bytes.size} bytes, the manifest says ${entry.sizeBytes}")
        }
        return bytes
    }

    private fun quote(s: String): String {
        val sb = StringBuilder("\"")
        for (c in s) {
            when {
                c == '"' -> sb.append("\\\"")
                c == '\\' -> sb.append("\\\\")
                c == '\n' -> sb.append("\\n")
                c < ' ' -> sb.append(String.format("\\u%04x", c.code))
                else -> sb.append(c)
            }
        }
        return sb.append('"').toString()
    }
}
