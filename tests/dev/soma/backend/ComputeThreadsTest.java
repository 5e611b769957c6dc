package dev.soma.backend;

import dev.soma.backend.dnnl.DnnlMatmul;
import dev.soma.jni.CpuKernels;
import dev.soma.memory.Scope;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;

/** Per-thread OpenMP counts: what native code sees, restoring, thread isolation, and oneDNN primitives per count. */
@ExtendWith(NoLeaks.class)
class ComputeThreadsTest {
    @Test
    void setReachesNativeCodeAndOnlyThisThread() throws Exception {
        int max = ComputeThreads.max();
        int before = ComputeThreads.set(1);
        try {
            assertEquals(1, ComputeThreads.current());
            assertEquals(1, CpuKernels.soma_cpu_threads(), "the native OpenMP count of this thread");
            AtomicInteger other = new AtomicInteger();
            Thread t = new Thread(() -> other.set(CpuKernels.soma_cpu_threads()));
            t.start();
            t.join();
            assertEquals(max, other.get(), "another thread keeps the process's count");
            assertEquals(1, ComputeThreads.set(max + 5), "set returns the count before");
            assertEquals(max, ComputeThreads.current(), "clamped to max");
            ComputeThreads.set(-3);
            assertEquals(1, ComputeThreads.current(), "clamped to 1");
        } finally {
            ComputeThreads.set(before);
        }
        assertEquals(before, CpuKernels.soma_cpu_threads());
    }

    @Test
    void atMostRestoresAndNeverRaises() {
        int before = ComputeThreads.current();
        try (var l = ComputeThreads.atMost(1)) {
            assertEquals(1, ComputeThreads.current());
            try (var inner = ComputeThreads.atMost(before + 1)) {
                assertEquals(1, ComputeThreads.current(), "a limit never raises the count");
            }
            assertEquals(1, ComputeThreads.current());
        }
        assertEquals(before, ComputeThreads.current());
    }

    @Test
    void smallWorkRunsOnOneThread() {
        assertEquals(1, ComputeThreads.forWork(1000));
        assertEquals(1, ComputeThreads.forWork(ComputeThreads.FLOPS_PER_THREAD - 1));
        assertEquals(Math.min(2, ComputeThreads.current()), ComputeThreads.forWork(2.0 * ComputeThreads.FLOPS_PER_THREAD));
        assertEquals(ComputeThreads.current(), ComputeThreads.forWork(1e18));
    }

    /** A product built at each count is its own primitive, and every count computes the same values. */
    @Test
    void lstmThreadsFollowTheWorkOfOneTimeStep() {
        // oneDNN joins its team once per time step: a long sequence of small steps stays on one thread.
        int two = Math.min(2, ComputeThreads.current());
        assertEquals(1, dev.soma.backend.dnnl.DnnlLstm.threadsFor(new dev.soma.backend.dnnl.DnnlLstm.Geometry(1000, 8, 64, 128)));
        assertEquals(1, dev.soma.backend.dnnl.DnnlLstm.threadsFor(new dev.soma.backend.dnnl.DnnlLstm.Geometry(100, 32, 64, 128)));
        assertEquals(two, dev.soma.backend.dnnl.DnnlLstm.threadsFor(new dev.soma.backend.dnnl.DnnlLstm.Geometry(5, 64, 64, 128)));
        assertEquals(two, dev.soma.backend.dnnl.DnnlLstm.threadsFor(new dev.soma.backend.dnnl.DnnlLstm.Geometry(100, 32, 64, 256)));
    }

    @Test
    void matmulPrimitivesPerCountAgree() {
        SplittableRandom r = new SplittableRandom(3);
        int m = 256, k = 256, n = 256; // 33.5 MFLOP: above the one-thread grain
        float[] a = new float[m * k], b = new float[k * n];
        for (int i = 0; i < a.length; i++) a[i] = (float) r.nextGaussian();
        for (int i = 0; i < b.length; i++) b[i] = (float) r.nextGaussian();
        int before = ComputeThreads.current();
        try (Scope s = Scope.open()) {
            Tensor ta = Tensor.of(a, m, k), tb = Tensor.of(b, k, n);
            long builds0 = DnnlMatmul.cache().stats().builds();
            float[] full = ta.matmul(tb).toFloatArray();
            ComputeThreads.set(1);
            float[] one = ta.matmul(tb).toFloatArray();
            float[] oneAgain = ta.matmul(tb).toFloatArray();
            assertArrayEquals(one, oneAgain, 0f);
            for (int i = 0; i < full.length; i++) assertEquals(full[i], one[i], 1e-4f * (1 + Math.abs(full[i])));
            if (ComputeThreads.max() > 1) {
                assertTrue(DnnlMatmul.cache().stats().builds() - builds0 >= 1, "a primitive for one thread was built");
            }
        } finally {
            ComputeThreads.set(before);
        }
    }
}
