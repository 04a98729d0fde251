package org.mobilebert.demo.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertSame
import org.junit.Assert.assertTrue
import org.junit.Test

class EngineCacheTest {
    private class Engine(val key: EngineCache.Key) : AutoCloseable {
        var closed = false
        override fun close() {
            closed = true
        }
    }

    @Test
    fun reusesForTheSameKeyAndReloadsOnChange() {
        var loads = 0
        val cache = EngineCache<Engine> { key, recordWarmUp ->
            loads++
            recordWarmUp(100.0)
            EngineChoice(Engine(key), key.delegate, Delegate.CPU, null)
        }
        val a = EngineCache.Key("m.tflite", Delegate.CPU, 4)
        val first = cache.get(a)
        cache.stats.add(10.0)
        assertSame(first, cache.get(a))
        assertEquals(1, loads)
        assertEquals(100.0, cache.stats.firstMs!!, 0.0)
        assertEquals(1, cache.stats.count)

        val second = cache.get(a.copy(threads = 2))
        assertEquals(2, loads)
        assertTrue(first.engine.closed)
        assertEquals(0, cache.stats.count) // fresh statistics for a new engine
        assertEquals(100.0, cache.stats.firstMs!!, 0.0)
        cache.close()
        assertTrue(second.engine.closed)
    }
}
