package org.mobilebert.demo.core

/**
 * Per-inference latencies of the current engine (model + delegate + threads), over the last [window]
 * runs. The first run after loading is kept apart ([firstMs]): it includes delegate warm-up (GPU shader
 * compilation, NNAPI compilation) and would distort the steady-state numbers, as `benchmark_model`
 * separates "First inference" from "Inference (avg)".
 */
class LatencyStats(private val window: Int = 50) {
    init {
        require(window > 0) { "window must be positive, got $window" }
    }

    private val samples = ArrayDeque<Double>()

    var firstMs: Double? = null
        private set
    var lastMs: Double? = null
        private set
    var total: Int = 0
        private set

    fun add(ms: Double) {
        require(ms >= 0 && !ms.isNaN()) { "latency must be a non-negative number, got $ms" }
        total++
        lastMs = ms
        if (firstMs == null) {
            firstMs = ms
            return
        }
        samples.addLast(ms)
        if (samples.size > window) samples.removeFirst()
    }

    fun reset() {
        samples.clear()
        firstMs = null
        lastMs = null
        total = 0
    }

    /** Steady-state samples (first run excluded), oldest first. */
    val steady: List<Double> get() = samples.toList()

    val count: Int get() = samples.size

    val mean: Double? get() = if (samples.isEmpty()) null else samples.sum() / samples.size

    val min: Double? get() = samples.minOrNull()

    val max: Double? get() = samples.maxOrNull()

    val median: Double? get() = percentile(50.0)

    val p90: Double? get() = percentile(90.0)

    /** Linear interpolation between closest ranks (numpy's default), p in [0, 100]. */
    fun percentile(p: Double): Double? {
        require(p in 0.0..100.0) { "percentile must be in [0, 100], got $p" }
        if (samples.isEmpty()) return null
        val sorted = samples.sorted()
        val rank = p / 100.0 * (sorted.size - 1)
        val lo = Math.floor(rank).toInt()
        val hi = Math.ceil(rank).toInt()
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo)
    }

    /** One line for the UI, e.g. "last 74.2 ms · median 73.9 · p90 80.1 · n=12 · first 310.5 ms". */
    fun summary(): String {
        val last = lastMs ?: return "no runs yet"
        val parts = ArrayList<String>()
        parts.add("last ${fmt(last)} ms")
        if (samples.isNotEmpty()) {
            parts.add("median ${fmt(median!!)}")
            parts.add("p90 ${fmt(p90!!)}")
            parts.add("mean ${fmt(mean!!)}")
            parts.add("n=${samples.size}")
        }
        firstMs?.let { parts.add("first ${fmt(it)} ms") }
        return parts.joinToString(" · ")
    }

    companion object {
        fun fmt(ms: Double): String = String.format(java.util.Locale.US, "%.1f", ms)
    }
}
