package org.mobilebert.demo.core

/** Where TFLite runs the model. CPU means the XNNPACK-accelerated CPU kernels. */
enum class Delegate(val label: String) {
    CPU("CPU (XNNPACK)"),
    GPU("GPU"),
    NNAPI("NNAPI");

    companion object {
        fun fromLabel(label: String): Delegate = values().firstOrNull { it.label == label } ?: CPU
    }
}

/** What was asked for, what runs, and the notice to show when they differ. */
data class EngineChoice<T>(val engine: T, val requested: Delegate, val actual: Delegate, val notice: String?) {
    val fellBack: Boolean get() = requested != actual
}

/**
 * Try the requested delegate, fall back to CPU when it cannot be created or fails its first inference,
 * and say so: the user sees "GPU delegate failed (reason); running on CPU" rather than a crash or a
 * silent switch. (The hub MobileBERT is known to fail on some GPU delegates: docs/android.md.)
 *
 * [create] builds an engine for a delegate; [warmUp] runs one inference on it (a delegate may load
 * fine and then fail to execute); [close] releases an engine that failed warm-up.
 */
object DelegateFallback {
    fun <T> choose(
        requested: Delegate,
        create: (Delegate) -> T,
        warmUp: (T) -> Unit = {},
        close: (T) -> Unit = {},
    ): EngineChoice<T> {
        if (requested == Delegate.CPU) {
            return EngineChoice(createWarm(Delegate.CPU, create, warmUp, close), requested, Delegate.CPU, null)
        }
        val failure: Throwable = try {
            val engine = create(requested)
            try {
                warmUp(engine)
                return EngineChoice(engine, requested, requested, null)
            } catch (e: Throwable) {
                close(engine)
                e
            }
        } catch (e: Throwable) {
            e
        }
        // a CPU failure is the model's problem: let it propagate (a caller may then try another model)
        val engine = createWarm(Delegate.CPU, create, warmUp, close)
        return EngineChoice(engine, requested, Delegate.CPU, noticeFor(requested, failure))
    }

    /** [create] then [warmUp]; an engine that fails its warm-up is closed before the failure propagates. */
    private fun <T> createWarm(delegate: Delegate, create: (Delegate) -> T, warmUp: (T) -> Unit, close: (T) -> Unit): T {
        val engine = create(delegate)
        try {
            warmUp(engine)
        } catch (e: Throwable) {
            close(engine)
            throw e
        }
        return engine
    }

    fun noticeFor(requested: Delegate, failure: Throwable): String {
        val reason = (failure.message ?: failure.javaClass.simpleName).lineSequence().first().take(160)
        return "${requested.label} delegate failed ($reason); running on ${Delegate.CPU.label} instead"
    }
}
