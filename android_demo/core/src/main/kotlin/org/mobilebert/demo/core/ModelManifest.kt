package org.mobilebert.demo.core

/**
 * `assets/models.json`, written by `mobilebert export ... --android-assets DIR`
 * (export/android_assets.py). Everything the app knows about a model comes from here: nothing about a
 * model is hard-coded in Kotlin.
 */
enum class Task(val wire: String) {
    QA("qa"),
    CLASSIFIER("classifier");

    companion object {
        fun fromWire(value: String, path: String): Task =
            values().firstOrNull { it.wire == value }
                ?: throw ManifestException("$path: unknown task \"$value\" (expected qa or classifier)")
    }
}

class ManifestException(message: String) : IllegalArgumentException(message)

data class TensorSpec(val name: String, val dtype: String, val shape: List<Int>)

data class TokenizerSpec(val type: String, val vocabFile: String, val lowercase: Boolean)

data class ModelEntry(
    val file: String,
    val task: Task,
    val quantization: String,
    val seqLen: Int,
    val inputs: List<TensorSpec>,
    val outputs: List<TensorSpec>,
    val labels: List<String>,
    val tokenizer: TokenizerSpec,
    /** Whether the TFLite Task Library API (BertQuestionAnswerer / BertNLClassifier) can run the model. */
    val taskLibraryCompatible: Boolean,
    val taskLibraryNote: String,
    val description: String,
    val sizeBytes: Long?,
    val gateAgreement: Double?,
    /** A dynamic-length model (inputs [1, -1], run at each text's own length up to [seqLen] tokens). */
    val dynamicLength: Boolean = false,
    /** For a dynamic model: the fixed-length export of the same model the app runs where this one cannot. */
    val fallbackFile: String? = null,
    /** For a fixed model: the dynamic model it is the fallback of (the picker lists that one). */
    val fallbackFor: String? = null,
) {
    /** "float32", "int8", ...: what the model picker shows. */
    val quantizationLabel: String
        get() = if (quantization == "none") "float32" else quantization

    val displayName: String
        get() = if (dynamicLength) "$file ($quantizationLabel, own length <= $seqLen)"
        else "$file ($quantizationLabel, seq $seqLen)"

    /** The input shape the model declares: [1, -1] for a dynamic length, else [1, seqLen]. */
    val inputShape: List<Int>
        get() = listOf(1, if (dynamicLength) -1 else seqLen)

    fun input(name: String): TensorSpec? = inputs.firstOrNull { it.name == name }

    fun output(name: String): TensorSpec? = outputs.firstOrNull { it.name == name }
}

data class ModelManifest(val schemaVersion: Int, val models: List<ModelEntry>) {
    fun forTask(task: Task): List<ModelEntry> = models.filter { it.task == task }

    /** What the model picker offers: the task's models less the fixed fallbacks of dynamic ones. */
    fun choices(task: Task): List<ModelEntry> = forTask(task).filter { it.fallbackFor == null }

    /** The fixed fallback of a dynamic model (null for a fixed model). */
    fun fallbackOf(entry: ModelEntry): ModelEntry? = entry.fallbackFile?.let { byFile(it) }

    fun byFile(file: String): ModelEntry? = models.firstOrNull { it.file == file }
}

object ManifestParser {
    const val SCHEMA_VERSION = 1
    val INPUT_NAMES = listOf("ids", "mask", "segment_ids")
    val QA_OUTPUT_NAMES = listOf("end_logits", "start_logits")
    const val CLASSIFIER_OUTPUT = "probability"

    /** Parse and check `models.json`; [ManifestException] names the file, the field and the problem. */
    fun parse(text: String, source: String = "models.json"): ModelManifest {
        val root = try {
            JsonPath(Json.parse(text), "")
        } catch (e: JsonException) {
            throw ManifestException("$source is not valid JSON: ${e.message}")
        }
        try {
            val version = root.opt("schema_version")?.int() ?: SCHEMA_VERSION
            if (version != SCHEMA_VERSION) {
                throw ManifestException("schema_version $version is not supported (this app reads $SCHEMA_VERSION)")
            }
            val models = root["models"].list().map { parseEntry(it) }
            val duplicate = models.groupBy { it.file }.filter { it.value.size > 1 }.keys.firstOrNull()
            if (duplicate != null) throw ManifestException("\"$duplicate\" is listed twice")
            checkFallbacks(models)
            return ModelManifest(version, models)
        } catch (e: JsonException) {
            throw ManifestException("$source: ${e.message}")
        } catch (e: ManifestException) {
            throw ManifestException("$source: ${e.message}")
        }
    }

    private fun tensors(node: JsonPath): List<TensorSpec> = node.list().map { t ->
        TensorSpec(t["name"].string(), t["dtype"].string(), t["shape"].list().map { it.int() })
    }

    private fun parseEntry(e: JsonPath): ModelEntry {
        val p = e.path
        val file = e["file"].string()
        if (file.isEmpty() || file.contains('/')) throw ManifestException("$p.file: \"$file\" must be a file name in assets/")
        val task = Task.fromWire(e["task"].string(), "$p.task")
        val seqLen = e["seq_len"].int()
        if (seqLen < 3) throw ManifestException("$p.seq_len: $seqLen is too short for [CLS] and [SEP]")
        val inputs = tensors(e["inputs"])
        val outputs = tensors(e["outputs"])
        val labels = e.opt("labels")?.list()?.map { it.string() } ?: emptyList()
        val tok = e["tokenizer"]
        val tokenizer = TokenizerSpec(tok["type"].string(), tok["vocab_file"].string(),
            tok.opt("lowercase")?.bool() ?: true)
        val taskLibrary = e.opt("task_library")
        val dynamic = e.opt("dynamic")
        if (dynamic != null && dynamic["max_seq_len"].int() != seqLen) {
            throw ManifestException("$p.dynamic.max_seq_len: ${dynamic["max_seq_len"].int()} is not seq_len $seqLen")
        }
        val entry = ModelEntry(
            file = file,
            task = task,
            quantization = e["quantization"].string(),
            seqLen = seqLen,
            inputs = inputs,
            outputs = outputs,
            labels = labels,
            tokenizer = tokenizer,
            taskLibraryCompatible = taskLibrary?.opt("compatible")?.bool() ?: false,
            taskLibraryNote = taskLibrary?.opt("note")?.string() ?: "",
            description = e.opt("description")?.string() ?: "",
            sizeBytes = e.opt("size_bytes")?.long(),
            gateAgreement = e.opt("accuracy_gate")?.opt("agreement")?.double(),
            dynamicLength = dynamic != null,
            fallbackFile = dynamic?.get("fallback")?.string(),
            fallbackFor = e.opt("fallback_for")?.string(),
        )
        checkContract(entry, p)
        return entry
    }

    /** Each dynamic model names a fixed fallback of the same task and labels, listed here, that names it back. */
    private fun checkFallbacks(models: List<ModelEntry>) {
        val byFile = models.associateBy { it.file }
        models.forEachIndexed { i, m ->
            val f = m.fallbackFile ?: return@forEachIndexed
            val fallback = byFile[f] ?: throw ManifestException("models[$i].dynamic.fallback: \"$f\" is not listed")
            if (fallback.dynamicLength || fallback.fallbackFor != m.file || fallback.task != m.task ||
                fallback.labels != m.labels) {
                throw ManifestException("models[$i].dynamic.fallback: \"$f\" is not a fixed-length ${m.task.wire} model " +
                    "with the same labels whose fallback_for is \"${m.file}\"")
            }
        }
        models.forEachIndexed { i, m ->
            val of = m.fallbackFor ?: return@forEachIndexed
            if (byFile[of]?.fallbackFile != m.file) {
                throw ManifestException("models[$i].fallback_for: \"$of\" is not a listed dynamic model with this fallback")
            }
        }
    }

    /** The Task Library contract (docs/export.md, "The contract"), checked before any model is loaded. */
    private fun checkContract(m: ModelEntry, p: String) {
        if (m.tokenizer.type != "bert_wordpiece") {
            throw ManifestException("$p.tokenizer.type: \"${m.tokenizer.type}\" is not bert_wordpiece")
        }
        val inputNames = m.inputs.map { it.name }.sorted()
        if (inputNames != INPUT_NAMES.sorted()) {
            throw ManifestException("$p.inputs: names $inputNames, expected ${INPUT_NAMES.sorted()}")
        }
        for (t in m.inputs) {
            if (t.dtype != "int32" || t.shape != m.inputShape) {
                throw ManifestException("$p.inputs.${t.name}: ${t.dtype} ${t.shape}, expected int32 ${m.inputShape}")
            }
        }
        if (m.dynamicLength && m.task != Task.CLASSIFIER) {
            throw ManifestException("$p.dynamic: only classifiers run at a dynamic length in this app")
        }
        when (m.task) {
            Task.QA -> {
                val names = m.outputs.map { it.name }.sorted()
                if (names != QA_OUTPUT_NAMES) throw ManifestException("$p.outputs: names $names, expected $QA_OUTPUT_NAMES")
                for (t in m.outputs) {
                    if (t.dtype != "float32" || t.shape != listOf(1, m.seqLen)) {
                        throw ManifestException("$p.outputs.${t.name}: ${t.dtype} ${t.shape}, expected float32 [1, ${m.seqLen}]")
                    }
                }
            }
            Task.CLASSIFIER -> {
                val out = m.outputs.singleOrNull()
                if (out == null || out.name != CLASSIFIER_OUTPUT) {
                    throw ManifestException("$p.outputs: expected one tensor named $CLASSIFIER_OUTPUT, got ${m.outputs.map { it.name }}")
                }
                if (out.dtype != "float32" || out.shape.size != 2 || out.shape[0] != 1) {
                    throw ManifestException("$p.outputs.$CLASSIFIER_OUTPUT: ${out.dtype} ${out.shape}, expected float32 [1, n_labels]")
                }
                if (m.labels.size != out.shape[1]) {
                    throw ManifestException("$p.labels: ${m.labels.size} labels for ${out.shape[1]} class probabilities")
                }
            }
        }
    }
}
