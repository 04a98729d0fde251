package org.mobilebert.demo.core

/** The engine that runs, the manifest entry it runs, and the notice to show when that is the fallback. */
data class ModelChoice<T>(val engine: T, val entry: ModelEntry, val notice: String?) {
    val fellBack: Boolean get() = notice != null
}

/**
 * A dynamic-length model first, its fixed-length fallback when the dynamic one cannot be used: the file is
 * missing, the runtime cannot load it, or resizing its inputs / the warm-up run fails (done inside
 * [create]). The user sees "own-length model failed (reason); running the fixed-length ... instead" rather
 * than an error. A fixed model, or a dynamic one without a fallback, is created as is (its failure
 * propagates).
 *
 * Example: `ModelFallback.choose(entry, manifest.fallbackOf(entry), create = { e -> engineFor(e) })`.
 */
object ModelFallback {
    fun <T> choose(entry: ModelEntry, fallback: ModelEntry?, create: (ModelEntry) -> T): ModelChoice<T> {
        if (!entry.dynamicLength || fallback == null) return ModelChoice(create(entry), entry, null)
        val failure: Throwable = try {
            return ModelChoice(create(entry), entry, null)
        } catch (e: Throwable) {
            e
        }
        return ModelChoice(create(fallback), fallback, noticeFor(entry, fallback, failure))
    }

    fun noticeFor(entry: ModelEntry, fallback: ModelEntry, failure: Throwable): String {
        val reason = (failure.message ?: failure.javaClass.simpleName).lineSequence().first().take(160)
        return "own-length model ${entry.file} failed ($reason); running the fixed-length ${fallback.file} " +
            "(seq ${fallback.seqLen}) instead"
    }
}
