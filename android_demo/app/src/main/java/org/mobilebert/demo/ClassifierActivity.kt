package org.mobilebert.demo

import android.os.Bundle
import android.view.View
import android.widget.AdapterView
import android.widget.ArrayAdapter
import android.widget.Button
import android.widget.EditText
import android.widget.LinearLayout
import android.widget.ProgressBar
import android.widget.Spinner
import android.widget.TextView
import androidx.appcompat.app.AppCompatActivity
import androidx.core.content.ContextCompat
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors
import org.mobilebert.demo.core.EngineCache
import org.mobilebert.demo.core.LabelScore
import org.mobilebert.demo.core.ModelEntry
import org.mobilebert.demo.core.Task

/**
 * Sentence classification: label probabilities (labels from the model) and latency. A dynamic-length model
 * runs each sentence at its own length, with its fixed fallback when it cannot run (Engines.classifier);
 * other models run on BertNLClassifier.
 */
class ClassifierActivity : AppCompatActivity() {
    private lateinit var repository: ModelRepository
    private var entries: List<ModelEntry> = emptyList()
    private lateinit var controls: ModelControls
    private lateinit var cache: EngineCache<ClassifierEngine>
    private val executor: ExecutorService = Executors.newSingleThreadExecutor()

    private lateinit var sentenceEdit: EditText
    private lateinit var latencyText: TextView
    private lateinit var scores: LinearLayout
    private lateinit var buttons: List<Button>

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_classifier)
        repository = ModelRepository.get(this)
        sentenceEdit = findViewById(R.id.sentenceEdit)
        latencyText = findViewById(R.id.latencyText)
        scores = findViewById(R.id.scoresContainer)
        buttons = listOf(findViewById(R.id.classifyButton), findViewById(R.id.benchButton))

        entries = try {
            repository.manifest.choices(Task.CLASSIFIER)  // a dynamic model's fixed fallback is not offered apart
        } catch (e: IllegalArgumentException) {
            showError(e.message ?: e.toString())
            emptyList()
        }
        cache = Engines.classifierCache(this) { entries }
        controls = ModelControls(findViewById(R.id.controls), entries, repository::isBundled) { loadEngine() }
        setUpExamples()
        buttons[0].setOnClickListener { run(1) }
        buttons[1].setOnClickListener { run(QaActivity.BENCHMARK_RUNS) }
        if (entries.isEmpty()) {
            showError(getString(R.string.no_models, "classification"))
            buttons.forEach { it.isEnabled = false }
        }
    }

    private fun setUpExamples() {
        val sentences = try {
            repository.examples.sentences
        } catch (e: IllegalArgumentException) {
            showError(e.message ?: e.toString())
            return
        }
        val spinner = findViewById<Spinner>(R.id.sentenceSpinner)
        spinner.adapter = ArrayAdapter(this, android.R.layout.simple_spinner_dropdown_item, sentences.map { it.text })
        spinner.onItemSelectedListener = object : AdapterView.OnItemSelectedListener {
            override fun onItemSelected(parent: AdapterView<*>?, view: View?, position: Int, id: Long) {
                sentenceEdit.setText(sentences[position].text)
            }

            override fun onNothingSelected(parent: AdapterView<*>?) = Unit
        }
    }

    private fun loadEngine() {
        val key = controls.key ?: return
        val entry = controls.model ?: return
        if (!runnable(entry)) {
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
                    showLatency(summary)
                    setBusy(false)
                }
            } catch (e: Exception) {
                runOnUiThread { showError("${entry.file}: ${e.message ?: e}"); setBusy(false) }
            }
        }
    }

    private fun run(times: Int) {
        val key: EngineCache.Key = controls.key ?: return
        val entry = controls.model ?: return
        if (!runnable(entry)) {
            showError(getString(R.string.missing_model, entry.file))
            return
        }
        val text = sentenceEdit.text.toString()
        if (text.isBlank()) return
        setBusy(true)
        latencyText.text = getString(R.string.running)
        executor.execute {
            try {
                val choice = cache.get(key)
                var output: ClassifierOutput? = null
                repeat(times) {
                    val out = choice.engine.classify(text)
                    cache.stats.add(out.inferenceMs)
                    output = out
                }
                val summary = cache.stats.summary()
                runOnUiThread {
                    controls.showEngine(choice, choice.engine.runtime)
                    showLatency(summary)
                    showScores(output!!.scores)
                    setBusy(false)
                }
            } catch (e: Exception) {
                runOnUiThread { showError("${entry.file}: ${e.message ?: e}"); setBusy(false) }
            }
        }
    }

    /** The model, or (for a dynamic-length model) its fixed fallback, is in the APK. */
    private fun runnable(entry: ModelEntry): Boolean =
        repository.isBundled(entry) || repository.manifest.fallbackOf(entry)?.let { repository.isBundled(it) } == true

    private fun showScores(ranked: List<LabelScore>) {
        scores.removeAllViews()
        for (s in ranked) {
            val row = LinearLayout(this).apply { orientation = LinearLayout.HORIZONTAL }
            row.addView(TextView(this).apply {
                text = s.label
                minWidth = (96 * resources.displayMetrics.density).toInt()
            })
            row.addView(ProgressBar(this, null, android.R.attr.progressBarStyleHorizontal).apply {
                max = 1000
                progress = (s.score * 1000).toInt()
                layoutParams = LinearLayout.LayoutParams(0, LinearLayout.LayoutParams.WRAP_CONTENT, 1f)
            })
            row.addView(TextView(this).apply { text = " %.3f".format(s.score) })
            scores.addView(row)
        }
    }

    private fun showLatency(summary: String) {
        latencyText.setTextColor(sentenceEdit.currentTextColor)
        latencyText.text = getString(R.string.latency, summary)
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
}
