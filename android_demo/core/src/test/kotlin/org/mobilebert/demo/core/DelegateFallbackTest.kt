package org.mobilebert.demo.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

class DelegateFallbackTest {
    private class Engine(val delegate: Delegate) {
        var closed = false
    }

    @Test
    fun requestedDelegateWorks() {
        val c = DelegateFallback.choose(Delegate.GPU, { Engine(it) })
        assertEquals(Delegate.GPU, c.actual)
        assertFalse(c.fellBack)
        assertNull(c.notice)
    }

    @Test
    fun creationFailureFallsBackToCpuWithNotice() {
        val c = DelegateFallback.choose(Delegate.GPU, { d ->
            if (d == Delegate.GPU) throw IllegalStateException("Failed to apply GPU delegate\nstack...") else Engine(d)
        })
        assertEquals(Delegate.CPU, c.actual)
        assertTrue(c.fellBack)
        assertEquals("GPU delegate failed (Failed to apply GPU delegate); running on CPU (XNNPACK) instead", c.notice)
    }

    @Test
    fun warmUpFailureClosesTheEngineAndFallsBack() {
        val created = ArrayList<Engine>()
        val c = DelegateFallback.choose(
            Delegate.NNAPI,
            { d -> Engine(d).also { created.add(it) } },
            warmUp = { e -> if (e.delegate == Delegate.NNAPI) throw RuntimeException("NNAPI execution failed") },
            close = { it.closed = true },
        )
        assertEquals(Delegate.CPU, c.engine.delegate)
        assertTrue(created[0].closed)
        assertFalse(c.engine.closed)
        assertTrue(c.notice!!.startsWith("NNAPI delegate failed (NNAPI execution failed)"))
    }

    @Test
    fun cpuFailurePropagates() {
        try {
            DelegateFallback.choose<Engine>(Delegate.GPU, { throw IllegalArgumentException("model is corrupt") })
            fail()
        } catch (e: IllegalArgumentException) {
            assertEquals("model is corrupt", e.message)
        }
    }

    @Test
    fun cpuWarmUpFailureClosesTheEngineAndPropagates() {
        // e.g. a dynamic-length model whose inputs cannot be resized: the caller then tries its fixed fallback
        for (requested in listOf(Delegate.CPU, Delegate.GPU)) {
            val created = ArrayList<Engine>()
            try {
                DelegateFallback.choose(requested, { d -> Engine(d).also { created.add(it) } },
                    warmUp = { throw IllegalArgumentException("ResizeInputTensor failed") }, close = { it.closed = true })
                fail()
            } catch (e: IllegalArgumentException) {
                assertEquals("ResizeInputTensor failed", e.message)
            }
            assertTrue(created.isNotEmpty() && created.all { it.closed })
        }
    }
}
