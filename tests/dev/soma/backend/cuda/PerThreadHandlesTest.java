package dev.soma.backend.cuda;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The per-thread vendor handles (cuBLAS, cuDNN on a real device) with stand-in handles, so that it runs without a
 * GPU: one per thread, reused by its thread, and destroyed after short-lived threads end.
 */
class PerThreadHandlesTest {
    @Test
    void eachThreadKeepsOneHandleAndEndedThreadsGiveTheirsBack() throws Exception {
        AtomicInteger made = new AtomicInteger();
        Set<Integer> destroyed = ConcurrentHashMap.newKeySet();
        PerThreadHandles<Integer> handles = new PerThreadHandles<>(made::incrementAndGet, destroyed::add);

        int mine = handles.get();
        assertEquals(mine, handles.get(), "a thread's second call gets its first handle");

        int threads = 40;
        List<Integer> theirs = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            int[] got = new int[2];
            Thread th = new Thread(() -> {
                got[0] = handles.get();
                got[1] = handles.get();
            });
            th.start();
            th.join();
            assertEquals(got[0], got[1]);
            assertNotEquals(mine, got[0], "another thread gets a handle of its own");
            theirs.add(got[0]);
        }
        assertEquals(threads + 1, made.get());

        // The ended threads' handles go once their Thread objects are collected; this thread's stays.
        for (int i = 0; i < 200 && handles.live() > 1; i++) {
            System.gc();
            Thread.sleep(20);
        }
        assertEquals(1, handles.live(), "handles of ended threads still live");
        assertTrue(destroyed.containsAll(theirs), "destroyed " + destroyed + ", made by the ended threads " + theirs);
        assertFalse(destroyed.contains(mine), "the live thread's handle was destroyed");
    }

    @Test
    void aHandleThatCannotBeMadeLeavesNothingBehind() {
        PerThreadHandles<Integer> handles = new PerThreadHandles<>(() -> {
            throw new IllegalStateException("cublasCreate failed");
        }, h -> fail("nothing was made"));
        assertThrows(IllegalStateException.class, handles::get);
        assertEquals(0, handles.live());
    }
}
