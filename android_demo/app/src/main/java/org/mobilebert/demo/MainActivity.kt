package org.mobilebert.demo

import android.content.Intent
import android.os.Bundle
import android.widget.Button
import android.widget.TextView
import androidx.appcompat.app.AppCompatActivity

/** Entry screen: the two demos and what models.json lists (bundled or not). */
class MainActivity : AppCompatActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        findViewById<Button>(R.id.openQa).setOnClickListener { startActivity(Intent(this, QaActivity::class.java)) }
        findViewById<Button>(R.id.openClassifier).setOnClickListener {
            startActivity(Intent(this, ClassifierActivity::class.java))
        }
        val list = findViewById<TextView>(R.id.modelList)
        val repository = ModelRepository.get(this)
        list.text = try {
            val models = repository.manifest.models
            if (models.isEmpty()) {
                "assets/models.json lists no models: see android_demo/README.md"
            } else {
                models.joinToString("\n") { m ->
                    val state = if (repository.isBundled(m)) "bundled" else "NOT BUNDLED"
                    val size = m.sizeBytes?.let { " %.1f MB".format(it / 1e6) } ?: ""
                    "${m.file}\n  ${m.task.wire}, ${m.quantizationLabel}, seq ${m.seqLen}$size, $state"
                }
            }
        } catch (e: IllegalArgumentException) {
            // ManifestException / a broken examples.json: say which file and what is wrong
            e.message ?: e.toString()
        }
    }
}
