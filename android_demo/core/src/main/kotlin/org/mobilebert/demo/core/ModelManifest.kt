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
) {
    /** "float32", "int8", ...: what the model picker shows. */
    val quantizationLabel: String
        get() = if (quantization == "none") "float32" else quantization

    val displayName: String
        get() = "$file ($quantizationLabel, seq $seqLen)"

    fun input(name: String): TensorSpec? = inputs.firstOrNull { it.name == name }

    fun output(name: String): TensorSpec? = outputs.firstOrNull { it.name == name }
}

data class ModelManifest(val schemaVersion: Int, val models: List<ModelEntry>) {
    fun forTask(task: Task): List<ModelEntry> = models.filter { it.task == task }

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
        )
        checkContract(entry, p)
        return entry
    }

    /** The Task Library contract (DESIGN.md section 3), checked before any model is loaded. */
    private fun checkContract(m: ModelEntry, p: String) {
        if (m.tokenizer.type != "bert_wordpiece") {
            throw ManifestException("$p.tokenizer.type: \"${m.tokenizer.type}\" is not bert_wordpiece")
        }
        val inputNames = m.inputs.map { it.name }.sorted()
        if (inputNames != INPUT_NAMES.sorted()) {
            throw ManifestException("$p.inputs: names $inputNames, expected ${INPUT_NAMES.sorted()}")
        }
        for (t in m.inputs) {
            if (t.dtype != "int32" || t.shape != listOf(1, m.seqLen)) {
                throw ManifestException("$p.inputs.${t.name}: ${t.dtype} ${t.shape}, expected int32 [1, ${m.seqLen}]")
            }
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
