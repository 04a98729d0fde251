package org.mobilebert.demo

import android.graphics.Typeface
import android.os.Bundle
import android.text.SpannableString
import android.text.Spanned
import android.text.style.BackgroundColorSpan
import android.text.style.StyleSpan
import android.text.style.UnderlineSpan
import android.view.View
import android.widget.AdapterView
import android.widget.ArrayAdapter
import android.widget.Button
import android.widget.EditText
import android.widget.Spinner
import android.widget.TextView
import androidx.appcompat.app.AppCompatActivity
import androidx.core.content.ContextCompat
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors
import org.mobilebert.demo.core.BertQa
import org.mobilebert.demo.core.EngineCache
import org.mobilebert.demo.core.ModelEntry
import org.mobilebert.demo.core.Task

/**
 * Question answering over a passage: BertQuestionAnswerer (or, for a model it cannot run, the Interpreter
 * with the core's copy of its pipeline). Shows the top answers with scores, the best one highlighted in
 * the passage, and the per-inference latency of the current model / delegate / threads.
 */
class QaActivity : AppCompatActivity() {
    private lateinit var repository: ModelRepository
    private var entries: List<ModelEntry> = emptyList()
    private lateinit var controls: ModelControls
    private lateinit var cache: EngineCache<QaEngine>
    private val executor: ExecutorService = Executors.newSingleThreadExecutor()

    private lateinit var passageEdit: EditText
    private lateinit var questionEdit: EditText
    private lateinit var latencyText: TextView
    private lateinit var answersText: TextView
    private lateinit var highlighted: TextView
    private lateinit var buttons: List<Button>

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_qa)
        repository = ModelRepository.get(this)
        passageEdit = findViewById(R.id.passageEdit)
        questionEdit = findViewById(R.id.questionEdit)
        latencyText = findViewById(R.id.latencyText)
        answersText = findViewById(R.id.answersText)
        highlighted = findViewById(R.id.highlightedPassage)
        buttons = listOf(findViewById(R.id.answerButton), findViewById(R.id.benchButton))

        entries = try {
            repository.manifest.forTask(Task.QA)
        } catch (e: IllegalArgumentException) {
            showError(e.message ?: e.toString())
            emptyList()
        }
        cache = Engines.qaCache(this) { entries }
        controls = ModelControls(findViewById(R.id.controls), entries, repository::isBundled) { loadEngine() }
        setUpExamples()
        buttons[0].setOnClickListener { run(1) }
        buttons[1].setOnClickListener { run(BENCHMARK_RUNS) }
        if (entries.isEmpty()) {
            showError(getString(R.string.no_models, "question answering"))
            buttons.forEach { it.isEnabled = false }
        }
    }

    private fun setUpExamples() {
        val passages = try {
            repository.examples.passages
        } catch (e: IllegalArgumentException) {
            showError(e.message ?: e.toString())
            return
        }
        val passageSpinner = findViewById<Spinner>(R.id.passageSpinner)
        val questionSpinner = findViewById<Spinner>(R.id.questionSpinner)
        val source = findViewById<TextView>(R.id.sourceText)
        passageSpinner.adapter = ArrayAdapter(this, android.R.layout.simple_spinner_dropdown_item, passages.map { it.title })
        passageSpinner.onItemSelectedListener = object : AdapterView.OnItemSelectedListener {
            override fun onItemSelected(parent: AdapterView<*>?, view: View?, position: Int, id: Long) {
                val p = passages[position]
                passageEdit.setText(p.text)
                source.text = "Source: ${p.source} (${p.license})"
                questionSpinner.adapter = ArrayAdapter(this@QaActivity, android.R.layout.simple_spinner_dropdown_item,
                    p.questions.map { it.question })
            }

            override fun onNothingSelected(parent: AdapterView<*>?) = Unit
        }
        questionSpinner.onItemSelectedListener = object : AdapterView.OnItemSelectedListener {
            override fun onItemSelected(parent: AdapterView<*>?, view: View?, position: Int, id: Long) {
                questionEdit.setText(parent?.getItemAtPosition(position)?.toString() ?: "")
            }

            override fun onNothingSelected(parent: AdapterView<*>?) = Unit
        }
    }

    /** Load (or reuse) the engine for the current controls, so a delegate failure shows at once. */
    private fun loadEngine() {
        val key = controls.key ?: return
        val entry = controls.model ?: return
        if (!repository.isBundled(entry)) {
            controls.showEngine(null, null)
            showError(getString(R.string.missing_model, entry.file))
            return
        }
        setBusy(true)
        executor.execute {
            try {
                val choice = cache.get(key)
                val summary = cache.stats.summary()
                runOnUiThread {
                    controls.showEngine(choice, choice.engine.runtime)
                    latencyText.text = getString(R.string.latency, summary)
                    setBusy(false)
                }
            } catch (e: Exception) {
                runOnUiThread { showError("${entry.file}: ${e.message ?: e}"); setBusy(false) }
            }
        }
    }

    private fun run(times: Int) {
        val key = controls.key ?: return
        val entry = controls.model ?: return
        if (!repository.isBundled(entry)) {
            showError(getString(R.string.missing_model, entry.file))
            return
        }
        val passage = passageEdit.text.toString()
        val question = questionEdit.text.toString()
        if (passage.isBlank() || question.isBlank()) return
        setBusy(true)
        latencyText.text = getString(R.string.running)
        executor.execute {
            try {
                val choice = cache.get(key)
                var output: QaOutput? = null
                repeat(times) {
                    val out = choice.engine.answer(passage, question)
                    cache.stats.add(out.inferenceMs)
                    output = out
                }
                val summary = cache.stats.summary()
                runOnUiThread {
                    controls.showEngine(choice, choice.engine.runtime)
                    show(passage, output!!, summary)
                    setBusy(false)
                }
            } catch (e: Exception) {
                runOnUiThread { showError("${entry.file}: ${e.message ?: e}"); setBusy(false) }
            }
        }
    }

    private fun show(passage: String, output: QaOutput, latency: String) {
        latencyText.setTextColor(answersText.currentTextColor)
        latencyText.text = getString(R.string.latency, latency)
        if (output.answers.isEmpty()) {
            answersText.text = getString(R.string.no_answer)
            highlighted.text = passage
            return
        }
        val probabilities = BertQa.softmax(output.answers.map { it.logit.toDouble() })
        answersText.text = output.answers.mapIndexed { i, a ->
            "${i + 1}. ${a.text}\n    score ${"%.2f".format(a.logit)} · p ${"%.2f".format(probabilities[i])}"
        }.joinToString("\n")
        val spannable = SpannableString(passage)
        output.answers.drop(1).mapNotNull { it.span }.forEach {
            spannable.setSpan(UnderlineSpan(), it.start, it.end, Spanned.SPAN_EXCLUSIVE_EXCLUSIVE)
        }
        output.answers.first().span?.let {
            spannable.setSpan(BackgroundColorSpan(ContextCompat.getColor(this, R.color.highlight)), it.start, it.end,
                Spanned.SPAN_EXCLUSIVE_EXCLUSIVE)
            spannable.setSpan(StyleSpan(Typeface.BOLD), it.start, it.end, Spanned.SPAN_EXCLUSIVE_EXCLUSIVE)
        }
        highlighted.text = spannable
    }

    private fun showError(message: String) {
        latencyText.setTextColor(ContextCompat.getColor(this, R.color.error_fg))
        latencyText.text = message
    }

    private fun setBusy(busy: Boolean) {
        buttons.forEach { it.isEnabled = !busy && entries.isNotEmpty() }
        if (::controls.isInitialized) controls.setEnabled(!busy)
    }

    override fun onDestroy() {
        executor.execute { cache.close() }
        executor.shutdown()
        super.onDestroy()
    }

    companion object {
        const val BENCHMARK_RUNS = 20
    }
}
