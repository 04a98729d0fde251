package org.mobilebert.demo

import android.content.Context
import android.os.SystemClock
import org.mobilebert.demo.core.AnswerHighlighter
import org.mobilebert.demo.core.BertClassifierInput
import org.mobilebert.demo.core.BertQa
import org.mobilebert.demo.core.CharSpan
import org.mobilebert.demo.core.Delegate
import org.mobilebert.demo.core.DelegateFallback
import org.mobilebert.demo.core.EngineCache
import org.mobilebert.demo.core.EngineChoice
import org.mobilebert.demo.core.LabelScore
import org.mobilebert.demo.core.ModelEntry
import org.mobilebert.demo.core.ModelFallback
import org.mobilebert.demo.core.QaFeature
import org.mobilebert.demo.core.Task
import org.mobilebert.demo.core.TextNormalizer
import org.mobilebert.demo.core.WordpieceTokenizer
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.gpu.CompatibilityList
import org.tensorflow.lite.gpu.GpuDelegate
import org.tensorflow.lite.nnapi.NnApiDelegate
import org.tensorflow.lite.task.core.BaseOptions
import org.tensorflow.lite.task.text.nlclassifier.BertNLClassifier
import org.tensorflow.lite.task.text.qa.BertQuestionAnswerer

/** One answer as the screen shows it: text, score, and where it is in the passage (null: not found). */
data class ShownAnswer(val text: String, val logit: Float, val span: CharSpan?)

data class QaOutput(val answers: List<ShownAnswer>, val inferenceMs: Double)

data class ClassifierOutput(val scores: List<LabelScore>, val inferenceMs: Double)

interface QaEngine : AutoCloseable {
    /** What runs the model, for the screen ("BertQuestionAnswerer (Task Library)", ...). */
    val runtime: String

    fun answer(context: String, question: String): QaOutput
}

interface ClassifierEngine : AutoCloseable {
    val runtime: String

    fun classify(text: String): ClassifierOutput
}

private fun elapsedMs(startNanos: Long): Double = (SystemClock.elapsedRealtimeNanos() - startNanos) / 1e6

/** Task Library options for a delegate; CPU is TFLite's default XNNPACK-accelerated CPU path. */
private fun taskBaseOptions(delegate: Delegate, threads: Int): BaseOptions {
    val builder = BaseOptions.builder().setNumThreads(threads)
    when (delegate) {
        Delegate.CPU -> Unit
        Delegate.GPU -> builder.useGpu()
        Delegate.NNAPI -> builder.useNnapi()
    }
    return builder.build()
}

/**
 * BertQuestionAnswerer runs tokenization, the model and the n-best search in C++; the latency covers
 * all of it. Its answers carry token positions; the highlight maps them back to the passage by replaying
 * the same preprocessing in Kotlin (outside the timed part).
 */
class TaskLibraryQaEngine(
    context: Context,
    entry: ModelEntry,
    delegate: Delegate,
    threads: Int,
    private val tokenizer: WordpieceTokenizer,
) : QaEngine {
    private val lowercase = entry.tokenizer.lowercase
    private val answerer: BertQuestionAnswerer = BertQuestionAnswerer.createFromFileAndOptions(
        context, entry.file,
        BertQuestionAnswerer.BertQuestionAnswererOptions.builder()
            .setBaseOptions(taskBaseOptions(delegate, threads)).build(),
    )

    override val runtime = "BertQuestionAnswerer (Task Library)"

    override fun answer(context: String, question: String): QaOutput {
        // normalized as training did (accents dropped, lower-cased): the Task Library does not
        val norm = TextNormalizer.forModel(context, lowercase)
        val q = TextNormalizer.forModel(question, lowercase).text
        val start = SystemClock.elapsedRealtimeNanos()
        val answers = answerer.answer(norm.text, q)
        val ms = elapsedMs(start)
        return QaOutput(answers.map { a ->
            val span = norm.originalSpan(AnswerHighlighter.locateTokenSpan(tokenizer, norm.text, q,
                BertQa.TASK_LIBRARY_MAX_SEQ_LEN, a.pos.start, a.pos.end, a.text))
            ShownAnswer(span?.let { context.substring(it.start, it.end) } ?: a.text, a.pos.logit, span)
        }, ms)
    }

    override fun close() = answerer.close()
}

/** A delegate to hand to the Interpreter, and what to close after it. */
private class InterpreterSetup(val options: Interpreter.Options, val resource: AutoCloseable?)

private fun interpreterSetup(delegate: Delegate, threads: Int): InterpreterSetup {
    val options = Interpreter.Options().setNumThreads(threads)
    return when (delegate) {
        Delegate.CPU -> InterpreterSetup(options.setUseXNNPACK(true), null)
        Delegate.GPU -> {
            val compatibility = CompatibilityList()
            val supported = try {
                compatibility.isDelegateSupportedOnThisDevice
            } finally {
                compatibility.close()
            }
            if (!supported) throw UnsupportedOperationException("the GPU delegate does not support this device")
            val gpu = GpuDelegate()
            InterpreterSetup(options.addDelegate(gpu), gpu)
        }
        Delegate.NNAPI -> {
            val nnapi = NnApiDelegate()
            InterpreterSetup(options.addDelegate(nnapi), nnapi)
        }
    }
}

/**
 * The plain Interpreter on one model of the repository, with its delegate; [close] closes both. Inputs
 * and outputs go by tensor name, as the Task Library finds them by metadata name.
 */
private class NamedInterpreter(repository: ModelRepository, entry: ModelEntry, delegate: Delegate, threads: Int) :
    AutoCloseable {
    private val setup = interpreterSetup(delegate, threads)
    val interpreter: Interpreter = try {
        Interpreter(repository.mapModel(entry), setup.options)
    } catch (e: Exception) {
        setup.resource?.close()
        throw e
    }

    /** One example ([1, n] ids/mask/segment_ids) in; [outputs] maps output names to their [1, ...] arrays. */
    fun run(ids: IntArray, mask: IntArray, segmentIds: IntArray, outputs: Map<String, Any>) {
        val inputs = arrayOfNulls<Any>(interpreter.inputTensorCount)
        inputs[interpreter.getInputIndex("ids")] = arrayOf(ids)
        inputs[interpreter.getInputIndex("mask")] = arrayOf(mask)
        inputs[interpreter.getInputIndex("segment_ids")] = arrayOf(segmentIds)
        interpreter.runForMultipleInputsOutputs(inputs, outputs.mapKeys { interpreter.getOutputIndex(it.key) })
    }

    override fun close() {
        interpreter.close()
        setup.resource?.close()
    }
}

/**
 * A QA model the Task Library cannot run (its BertQuestionAnswerer pads to 384 tokens; the manifest says
 * so): the plain Interpreter ([NamedInterpreter]) with the core's Kotlin copy of the Task Library's
 * pre/post-processing.
 */
class InterpreterQaEngine(
    repository: ModelRepository,
    private val entry: ModelEntry,
    delegate: Delegate,
    threads: Int,
    private val tokenizer: WordpieceTokenizer,
) : QaEngine {
    private val model = NamedInterpreter(repository, entry, delegate, threads)

    override val runtime = "Interpreter + Kotlin Task Library pipeline (seq ${entry.seqLen})"

    private fun run(feature: QaFeature): Pair<FloatArray, FloatArray> {
        val start = arrayOf(FloatArray(entry.seqLen))
        val end = arrayOf(FloatArray(entry.seqLen))
        model.run(feature.ids, feature.mask, feature.segmentIds, mapOf("start_logits" to start, "end_logits" to end))
        return start[0] to end[0]
    }

    override fun answer(context: String, question: String): QaOutput {
        val norm = TextNormalizer.forModel(context, entry.tokenizer.lowercase)
        val q = TextNormalizer.forModel(question, entry.tokenizer.lowercase).text
        val start = SystemClock.elapsedRealtimeNanos()
        val answers = BertQa.answer(tokenizer, norm.text, q, entry.seqLen) { run(it) }
        val ms = elapsedMs(start)
        return QaOutput(answers.map { a ->
            val span = norm.originalSpan(AnswerHighlighter.spanOfWords(norm.text, a.wordStart, a.wordEnd))
            ShownAnswer(span?.let { context.substring(it.start, it.end) } ?: a.text, a.logit, span)
        }, ms)
    }

    override fun close() = model.close()
}

/** BertNLClassifier: tokenization, model and labels (from the model's metadata) in the Task Library. */
class TaskLibraryClassifierEngine(context: Context, entry: ModelEntry, delegate: Delegate, threads: Int) :
    ClassifierEngine {
    private val lowercase = entry.tokenizer.lowercase
    private val classifier: BertNLClassifier = BertNLClassifier.createFromFileAndOptions(
        context, entry.file,
        BertNLClassifier.BertNLClassifierOptions.builder().setBaseOptions(taskBaseOptions(delegate, threads)).build(),
    )

    override val runtime = "BertNLClassifier (Task Library)"

    override fun classify(text: String): ClassifierOutput {
        val normalized = TextNormalizer.forModel(text, lowercase).text  // as training: the Task Library keeps accents
        val start = SystemClock.elapsedRealtimeNanos()
        val categories = classifier.classify(normalized)
        val ms = elapsedMs(start)
        return ClassifierOutput(categories.map { LabelScore(it.label, it.score) }.sortedByDescending { it.score }, ms)
    }

    override fun close() = classifier.close()
}

/**
 * A classifier on the plain Interpreter, tensors found by name. A dynamic-length model (input signature
 * [1, -1]) gets each text at its own length: the inputs are resized to the token count (and the tensors
 * re-allocated) whenever it changes; a fixed-length model gets the text padded to its length.
 */
class InterpreterClassifierEngine(
    repository: ModelRepository,
    private val entry: ModelEntry,
    delegate: Delegate,
    threads: Int,
    private val tokenizer: WordpieceTokenizer,
) : ClassifierEngine {
    private val model = NamedInterpreter(repository, entry, delegate, threads)
    private val interpreter = model.interpreter
    private val inputNames = listOf("ids", "mask", "segment_ids")
    /** From the model itself, not the manifest: what the runtime will be asked to do. */
    private val ownLength = inputNames.any { -1 in interpreter.getInputTensor(interpreter.getInputIndex(it)).shapeSignature() }
    private var allocatedLength = -1

    override val runtime = if (ownLength) "Interpreter, inputs resized to each text's length (<= ${entry.seqLen})"
    else "Interpreter (seq ${entry.seqLen}, padded)"

    override fun classify(text: String): ClassifierOutput {
        val normalized = TextNormalizer.forModel(text, entry.tokenizer.lowercase).text
        val start = SystemClock.elapsedRealtimeNanos()
        val input = BertClassifierInput.preprocess(tokenizer, normalized, entry.seqLen, ownLength)
        if (ownLength && input.ids.size != allocatedLength) {
            for (name in inputNames) interpreter.resizeInput(interpreter.getInputIndex(name), intArrayOf(1, input.ids.size))
            interpreter.allocateTensors()
            allocatedLength = input.ids.size
        }
        val probability = arrayOf(FloatArray(entry.labels.size))
        model.run(input.ids, input.mask, input.segmentIds, mapOf("probability" to probability))
        val ms = elapsedMs(start)
        return ClassifierOutput(BertClassifierInput.ranked(probability[0], entry.labels), ms)
    }

    override fun close() = model.close()
}

/** Engines with the delegate fallback; the warm-up run (the "first inference") uses a bundled example. */
object Engines {
    fun qa(context: Context, entry: ModelEntry, delegate: Delegate, threads: Int,
           recordWarmUp: (Double) -> Unit = {}): EngineChoice<QaEngine> {
        require(entry.task == Task.QA) { "${entry.file} is a ${entry.task.wire} model" }
        val repository = ModelRepository.get(context)
        val tokenizer = repository.tokenizer(entry)
        val example = repository.examples.passages.first()
        return DelegateFallback.choose(
            delegate,
            create = { d ->
                if (entry.taskLibraryCompatible) TaskLibraryQaEngine(context, entry, d, threads, tokenizer)
                else InterpreterQaEngine(repository, entry, d, threads, tokenizer)
            },
            warmUp = { engine -> recordWarmUp(engine.answer(example.text, example.questions.first().question).inferenceMs) },
            close = { it.close() },
        )
    }

    /**
     * A dynamic-length classifier (and its fixed fallback) runs on [InterpreterClassifierEngine]; if the
     * dynamic one is missing from the APK, fails to load, or fails to resize / warm up on every delegate,
     * the fixed fallback runs and the notice says so ([ModelFallback]). Other classifiers run on
     * BertNLClassifier.
     */
    fun classifier(context: Context, entry: ModelEntry, delegate: Delegate, threads: Int,
                   recordWarmUp: (Double) -> Unit = {}): EngineChoice<ClassifierEngine> {
        require(entry.task == Task.CLASSIFIER) { "${entry.file} is a ${entry.task.wire} model" }
        val repository = ModelRepository.get(context)
        val sentence = repository.examples.sentences.first().text
        val paired = entry.dynamicLength || entry.fallbackFor != null
        if (!paired) {
            require(entry.taskLibraryCompatible) { "${entry.file}: BertNLClassifier cannot run it (${entry.taskLibraryNote})" }
        }
        val model = ModelFallback.choose(entry, repository.manifest.fallbackOf(entry)) { e ->
            if (!repository.isBundled(e)) throw java.io.FileNotFoundException("${e.file} is not in the APK's assets")
            DelegateFallback.choose(
                delegate,
                create = { d ->
                    if (paired) InterpreterClassifierEngine(repository, e, d, threads, repository.tokenizer(e))
                    else TaskLibraryClassifierEngine(context, e, d, threads)
                },
                warmUp = { engine -> recordWarmUp(engine.classify(sentence).inferenceMs) },
                close = { it.close() },
            )
        }
        val choice = model.engine
        val notice = listOfNotNull(model.notice, choice.notice).joinToString("; ").ifEmpty { null }
        return choice.copy(notice = notice)
    }

    fun qaCache(context: Context, entries: () -> List<ModelEntry>) = EngineCache<QaEngine> { key, record ->
        qa(context, entries().first { it.file == key.file }, key.delegate, key.threads, record)
    }

    fun classifierCache(context: Context, entries: () -> List<ModelEntry>) = EngineCache<ClassifierEngine> { key, record ->
        classifier(context, entries().first { it.file == key.file }, key.delegate, key.threads, record)
    }
}
