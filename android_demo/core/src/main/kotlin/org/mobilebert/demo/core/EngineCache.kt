package org.mobilebert.demo.core

/**
 * The one loaded engine of a screen, keyed by (model file, requested delegate, threads): a new key
 * closes the old engine, loads a new one (with [DelegateFallback]) and starts fresh [LatencyStats];
 * the same key reuses it. Not thread-safe: call it from the screen's single inference thread.
 *
 * [load] gets the key and a callback for the warm-up run's latency (recorded as the first run).
 */
class EngineCache<T : AutoCloseable>(
    private val load: (key: Key, recordWarmUp: (Double) -> Unit) -> EngineChoice<T>,
) {
    data class Key(val file: String, val delegate: Delegate, val threads: Int)

    private var key: Key? = null
    private var choice: EngineChoice<T>? = null

    val stats = LatencyStats()

    val current: EngineChoice<T>? get() = choice

    fun get(key: Key): EngineChoice<T> {
        val loaded = choice
        if (loaded != null && key == this.key) return loaded
        close()
        stats.reset()
        val fresh = load(key) { ms -> stats.add(ms) }
        this.key = key
        choice = fresh
        return fresh
    }

    fun close() {
        choice?.engine?.close()
        choice = null
        key = null
    }
}
