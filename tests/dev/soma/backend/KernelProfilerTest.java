package dev.soma.backend;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class KernelProfilerTest {
    /** A stand-in kernel interface: one call that sleeps, one that calls the other (nested), one that throws. */
    interface ToyKernels {
        int slow(int millis);

        int outer();

        void fails();
    }

    private static ToyKernels toy(ToyKernels[] self) {
        return new ToyKernels() {
            @Override
            public int slow(int millis) {
                try {
                    Thread.sleep(millis);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return millis;
            }

            @Override
            public int outer() {
                return self[0].slow(1) + 1;  // through the proxy, as a backend's kernels call each other
            }

            @Override
            public void fails() {
                throw new IllegalStateException("toy failure");
            }
        };
    }

    @Test
    void withoutThePropertyNothingIsWrapped() {
        ToyKernels plain = toy(new ToyKernels[1]);
        if (!KernelProfiler.installed()) assertSame(plain, KernelProfiler.wrap(ToyKernels.class, plain, () -> { }));
    }

    @Test
    void outermostCallsAreTimedOnlyWhileRecordingWithTheDeviceWaitedForAroundEach() {
        AtomicInteger syncs = new AtomicInteger();
        ToyKernels[] self = new ToyKernels[1];
        ToyKernels k = KernelProfiler.timing(ToyKernels.class, toy(self), syncs::incrementAndGet);
        self[0] = k;
        assertEquals(3, k.slow(3));  // not recording: not counted, no waits
        assertEquals(0, syncs.get());
        KernelProfiler.start();
        k.slow(5);
        k.slow(5);
        assertEquals(2, k.outer());  // its inner slow(1) belongs to outer's time
        IllegalStateException e = assertThrows(IllegalStateException.class, k::fails);  // the cause, unwrapped
        assertEquals("toy failure", e.getMessage());
        List<KernelProfiler.Entry> entries = KernelProfiler.stop();
        assertEquals(8, syncs.get(), "one wait before and one after each of the four outermost calls");
        assertEquals("toy.slow", entries.get(0).name(), entries.toString());
        assertEquals(2, entries.get(0).calls());
        assertTrue(entries.get(0).nanos() >= 10_000_000L, entries.toString());
        assertEquals(1, entries.stream().filter(x -> x.name().equals("toy.outer")).findFirst().orElseThrow().calls());
        assertEquals(1, entries.stream().filter(x -> x.name().equals("toy.fails")).findFirst().orElseThrow().calls());
        assertEquals(3, entries.size(), "slow, outer and fails; the nested slow is not a row of its own");
        k.slow(1);
        assertEquals(8, syncs.get(), "nothing is timed after stop()");
    }

    @Test
    void namedKernelsAreSplitByTheirCallSites() {
        ToyKernels[] self = new ToyKernels[1];
        ToyKernels k = KernelProfiler.timing(ToyKernels.class, toy(self), () -> { });
        self[0] = k;
        KernelProfiler.splitBySite(java.util.Set.of("toy.slow"));
        try {
            KernelProfiler.start();
            for (int i = 0; i < 2; i++) k.slow(1);
            slowFromAHelper(k);
            k.outer();
            List<KernelProfiler.Entry> entries = KernelProfiler.stop();
            List<String> names = entries.stream().map(KernelProfiler.Entry::name).sorted().toList();
            assertEquals(3, names.size(), names.toString());
            assertTrue(names.contains("toy.outer"), "kernels not named keep one row: " + names);
            KernelProfiler.Entry here = entries.stream()
                    .filter(x -> x.name().startsWith("toy.slow < KernelProfilerTest.namedKernelsAreSplitByTheirCallSites:"))
                    .findFirst().orElseThrow(() -> new AssertionError(names.toString()));
            assertEquals(2, here.calls(), "two calls from one line are one site");
            assertTrue(names.stream().anyMatch(n -> n.startsWith("toy.slow < KernelProfilerTest.slowFromAHelper:")
                    && n.contains(" < KernelProfilerTest.namedKernelsAreSplitByTheirCallSites:")), names.toString());
        } finally {
            KernelProfiler.splitBySite(java.util.Set.of());
        }
    }

    private static void slowFromAHelper(ToyKernels k) {
        k.slow(1);
    }
}
