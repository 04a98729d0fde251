package org.mobilebert.demo

import android.view.View
import android.widget.AdapterView
import android.widget.ArrayAdapter
import android.widget.SeekBar
import android.widget.Spinner
import android.widget.TextView
import org.mobilebert.demo.core.Delegate
import org.mobilebert.demo.core.EngineCache
import org.mobilebert.demo.core.EngineChoice
import org.mobilebert.demo.core.ModelEntry

/**
 * The model / delegate / threads controls shared by both screens (layout view_model_controls.xml).
 * The model list is the manifest's entries for the screen's task; nothing else is known about them.
 */
class ModelControls(
    root: View,
    private val entries: List<ModelEntry>,
    private val isBundled: (ModelEntry) -> Boolean,
    private val onChange: () -> Unit,
) {
    private val modelSpinner: Spinner = root.findViewById(R.id.modelSpinner)
    private val delegateSpinner: Spinner = root.findViewById(R.id.delegateSpinner)
    private val threadsSeek: SeekBar = root.findViewById(R.id.threadsSeek)
    private val threadsLabel: TextView = root.findViewById(R.id.threadsLabel)
    private val engineInfo: TextView = root.findViewById(R.id.engineInfo)
    private val notice: TextView = root.findViewById(R.id.noticeText)

    val model: ModelEntry? get() = entries.getOrNull(modelSpinner.selectedItemPosition)

    val delegate: Delegate get() = Delegate.values()[delegateSpinner.selectedItemPosition.coerceAtLeast(0)]

    val threads: Int get() = threadsSeek.progress + 1

    val key: EngineCache.Key? get() = model?.let { EngineCache.Key(it.file, delegate, threads) }

    init {
        val context = root.context
        val labels = entries.map { if (isBundled(it)) it.displayName else "${it.displayName} (not bundled)" }
        modelSpinner.adapter = ArrayAdapter(context, android.R.layout.simple_spinner_dropdown_item, labels)
        delegateSpinner.adapter = ArrayAdapter(context, android.R.layout.simple_spinner_dropdown_item,
            Delegate.values().map { it.label })
        threadsSeek.progress = DEFAULT_THREADS - 1
        threadsLabel.text = context.getString(R.string.threads, threads)

        val listener = object : AdapterView.OnItemSelectedListener {
            override fun onItemSelected(parent: AdapterView<*>?, view: View?, position: Int, id: Long) = onChange()
            override fun onNothingSelected(parent: AdapterView<*>?) = Unit
        }
        modelSpinner.onItemSelectedListener = listener
        delegateSpinner.onItemSelectedListener = listener
        threadsSeek.setOnSeekBarChangeListener(object : SeekBar.OnSeekBarChangeListener {
            override fun onProgressChanged(seekBar: SeekBar?, progress: Int, fromUser: Boolean) {
                threadsLabel.text = context.getString(R.string.threads, threads)
            }

            override fun onStartTrackingTouch(seekBar: SeekBar?) = Unit
            override fun onStopTrackingTouch(seekBar: SeekBar?) = onChange()
        })
    }

    fun setEnabled(enabled: Boolean) {
        modelSpinner.isEnabled = enabled
        delegateSpinner.isEnabled = enabled
        threadsSeek.isEnabled = enabled
    }

    /** Engine line ("BertQuestionAnswerer (Task Library) · CPU (XNNPACK) · 4 threads") and the fallback notice. */
    fun showEngine(choice: EngineChoice<*>?, runtime: String?) {
        if (choice == null || runtime == null) {
            engineInfo.text = ""
            notice.visibility = View.GONE
            return
        }
        val m = model
        val gate = m?.gateAgreement?.let { " · export gate agreement ${"%.1f".format(it * 100)}%" } ?: ""
        engineInfo.text = engineInfo.context.getString(R.string.engine_info, runtime, choice.actual.label,
            "$threads threads") + gate
        showNotice(choice.notice)
    }

    fun showNotice(text: String?) {
        notice.text = text ?: ""
        notice.visibility = if (text.isNullOrEmpty()) View.GONE else View.VISIBLE
    }

    companion object {
        const val DEFAULT_THREADS = 4
    }
}
