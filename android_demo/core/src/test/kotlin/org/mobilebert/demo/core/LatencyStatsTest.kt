package org.mobilebert.demo.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.fail
import org.junit.Test

class LatencyStatsTest {
    @Test
    fun firstRunIsKeptApart() {
        val s = LatencyStats()
        assertEquals("no runs yet", s.summary())
        s.add(300.0)
        assertEquals(300.0, s.firstMs!!, 0.0)
        assertNull(s.mean)
        assertEquals("last 300.0 ms · first 300.0 ms", s.summary())
        for (ms in listOf(10.0, 20.0, 30.0, 40.0)) s.add(ms)
        assertEquals(4, s.count)
        assertEquals(5, s.total)
        assertEquals(25.0, s.mean!!, 1e-12)
        assertEquals(25.0, s.median!!, 1e-12)
        assertEquals(37.0, s.p90!!, 1e-12)   // numpy.percentile([10, 20, 30, 40], 90)
        assertEquals(10.0, s.min!!, 0.0)
        assertEquals(40.0, s.max!!, 0.0)
        assertEquals("last 40.0 ms · median 25.0 · p90 37.0 · mean 25.0 · n=4 · first 300.0 ms", s.summary())
    }

    @Test
    fun windowKeepsTheLatestRuns() {
        val s = LatencyStats(window = 3)
        s.add(1000.0)
        for (ms in 1..10) s.add(ms.toDouble())
        assertEquals(listOf(8.0, 9.0, 10.0), s.steady)
        s.reset()
        assertNull(s.lastMs)
        assertEquals(0, s.total)
    }

    @Test
    fun rejectsBadInput() {
        try {
            LatencyStats().add(-1.0)
            fail()
        } catch (e: IllegalArgumentException) {
        }
        try {
            LatencyStats(window = 0)
            fail()
        } catch (e: IllegalArgumentException) {
        }
    }
}
