package org.mobilebert.demo

import androidx.test.ext.junit.runners.AndroidJUnit4
import androidx.test.platform.app.InstrumentationRegistry
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assume.assumeTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.mobilebert.demo.core.Delegate
import org.mobilebert.demo.core.EngineChoice
import org.mobilebert.demo.core.Examples
import org.mobilebert.demo.core.ManifestParser
import org.mobilebert.demo.core.Task
import org.tensorflow.lite.support.metadata.MetadataExtractor

/**
 * On a device: every model that models.json lists and the APK bundles loads through the same engines as
 * the screens (CPU, 4 threads) and answers the first bundled example correctly.
 *
 * Expects fine-tuned models (README: "Produce the models"); a random-init export loads but answers badly.
 * Run: ./gradlew connectedDebugAndroidTest
 */
@RunWith(AndroidJUnit4::class)
class BundledModelsTest {
    private val context = InstrumentationRegistry.getInstrumentation().targetContext
    private val repository = ModelRepository.get(context)

    private fun bundled(task: Task) = repository.manifest.forTask(task).filter { repository.isBundled(it) }

    @Test
    fun manifestParsesAndMatchesTheModels() {
        val manifest = ManifestParser.parse(repository.readAsset(ModelRepository.MANIFEST))
        val present = manifest.models.filter { repository.isBundled(it) }
        assumeTrue("no model bundled: export them first (android_demo/README.md)", present.isNotEmpty())
        for (entry in present) {
            val metadata = MetadataExtractor(repository.mapModel(entry))
            assertTrue("${entry.file}: no metadata", metadata.hasMetadata())
            val inputs = (0 until metadata.inputTensorCount).map { metadata.getInputTensorMetadata(it)!!.name() }
            assertEquals(entry.file, entry.inputs.map { it.name }, inputs)
            val outputs = (0 until metadata.outputTensorCount).map { metadata.getOutputTensorMetadata(it)!!.name() }
            assertEquals(entry.file, entry.outputs.map { it.name }, outputs)
            for (i in 0 until metadata.inputTensorCount) {
                assertEquals(entry.file, entry.inputs[i].shape, metadata.getInputTensorShape(i).toList())
            }
            assertTrue(repository.tokenizer(entry).vocabSize > 1000)
        }
    }

    @Test
    fun eachQaModelAnswersTheFirstExample() {
        val models = bundled(Task.QA)
        assumeTrue("no QA model bundled", models.isNotEmpty())
        val passage = repository.examples.passages.first()
        val question = passage.questions.first()
        for (entry in models) {
            val choice = Engines.qa(context, entry, Delegate.CPU, 4)
            choice.engine.use { engine ->
                val output = engine.answer(passage.text, question.question)
                assertTrue("${entry.file}: no answer", output.answers.isNotEmpty())
                val best = output.answers.first()
                assertEquals("${entry.file} (${engine.runtime}) answered \"${best.text}\"",
                    Examples.normalizeAnswer(question.answer), Examples.normalizeAnswer(best.text))
                val span = best.span!!
                assertEquals(best.text, passage.text.substring(span.start, span.end).split(' ').filter { it.isNotEmpty() }
                    .joinToString(" "))
                assertTrue(output.inferenceMs > 0)
            }
        }
    }

    @Test
    fun eachClassifierLabelsTheFirstExamples() {
        val models = bundled(Task.CLASSIFIER)
        assumeTrue("no classifier bundled", models.isNotEmpty())
        val sentences = repository.examples.sentences.take(2)
        for (entry in models) {
            Engines.classifier(context, entry, Delegate.CPU, 4).engine.use { engine ->
                for (s in sentences) {
                    val output = engine.classify(s.text)
                    assertEquals(entry.labels.toSet(), output.scores.map { it.label }.toSet())
                    assertEquals(1.0, output.scores.sumOf { it.score.toDouble() }, 1e-3)
                    assertEquals("${entry.file}: \"${s.text}\"", s.label, output.scores.first().label)
                }
            }
        }
    }

    @Test
    fun failingDelegateFallsBackToCpuWithANotice() {
        val entry = bundled(Task.QA).firstOrNull() ?: bundled(Task.CLASSIFIER).firstOrNull()
        assumeTrue("no model bundled", entry != null)
        // NNAPI or GPU may work on this device; whichever is chosen, an engine runs and a fallback is announced
        for (delegate in listOf(Delegate.GPU, Delegate.NNAPI)) {
            val choice: EngineChoice<out AutoCloseable> =
                if (entry!!.task == Task.QA) Engines.qa(context, entry, delegate, 2)
                else Engines.classifier(context, entry, delegate, 2)
            choice.engine.close()
            assertEquals(choice.fellBack, choice.notice != null)
            if (choice.fellBack) assertEquals(Delegate.CPU, choice.actual)
        }
    }
}
