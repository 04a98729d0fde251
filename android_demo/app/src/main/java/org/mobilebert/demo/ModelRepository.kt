package org.mobilebert.demo

import android.content.Context
import java.io.FileInputStream
import java.nio.MappedByteBuffer
import java.nio.channels.FileChannel
import org.mobilebert.demo.core.Examples
import org.mobilebert.demo.core.ManifestParser
import org.mobilebert.demo.core.ModelEntry
import org.mobilebert.demo.core.ModelManifest
import org.mobilebert.demo.core.WordpieceTokenizer
import org.tensorflow.lite.support.metadata.MetadataExtractor

/**
 * The app's view of `assets/`: the manifest the exporter wrote, the bundled examples, and the models.
 * Everything about a model (task, seq len, tensors, labels, which API runs it) comes from the manifest.
 */
class ModelRepository private constructor(private val context: Context) {
    val manifest: ModelManifest by lazy { ManifestParser.parse(readAsset(MANIFEST), "assets/$MANIFEST") }

    val examples: Examples by lazy { Examples.parse(readAsset(EXAMPLES), "assets/$EXAMPLES") }

    private val assetNames: Set<String> by lazy { context.assets.list("")?.toSet() ?: emptySet() }

    private val tokenizers = HashMap<String, WordpieceTokenizer>()

    /** Whether the manifest's file is in the APK (models are generated, see README). */
    fun isBundled(entry: ModelEntry): Boolean = entry.file in assetNames

    fun readAsset(name: String): String =
        context.assets.open(name).bufferedReader(Charsets.UTF_8).use { it.readText() }

    /** The model memory-mapped from the APK (assets are stored uncompressed: noCompress "tflite"). */
    fun mapModel(entry: ModelEntry): MappedByteBuffer =
        context.assets.openFd(entry.file).use { fd ->
            FileInputStream(fd.fileDescriptor).use { stream ->
                stream.channel.map(FileChannel.MapMode.READ_ONLY, fd.startOffset, fd.declaredLength)
            }
        }

    /** The WordPiece vocab packed in the model's metadata (the same file the Task Library reads). */
    @Synchronized
    fun tokenizer(entry: ModelEntry): WordpieceTokenizer = tokenizers.getOrPut(entry.file) {
        val extractor = MetadataExtractor(mapModel(entry))
        val vocab = extractor.getAssociatedFile(entry.tokenizer.vocabFile)
            ?: throw IllegalStateException("${entry.file}: no ${entry.tokenizer.vocabFile} in the model metadata")
        WordpieceTokenizer.fromVocabText(vocab.bufferedReader(Charsets.UTF_8).use { it.readText() })
    }

    companion object {
        const val MANIFEST = "models.json"
        const val EXAMPLES = "examples.json"

        @Volatile
        private var instance: ModelRepository? = null

        fun get(context: Context): ModelRepository =
            instance ?: synchronized(this) {
                instance ?: ModelRepository(context.applicationContext).also { instance = it }
            }
    }
}
