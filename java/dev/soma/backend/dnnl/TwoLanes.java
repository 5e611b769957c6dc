package dev.soma.backend.dnnl;

import dev.soma.jni.CpuKernels;
import dev.soma.memory.CachingPool;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.Pointer;

/**
 * Two independent single-threaded oneDNN primitives at once (DnnlLstm's half-batch lanes), each with its own
 * arguments, scratchpad and stream, on one OpenMP team of two that native code opens
 * ({@code soma_cpu_dnnl_execute_pair}): the team's second thread is the caller's own OpenMP worker, which after the
 * previous op spins on the other core anyway; a second Java thread would have had to share that core with it (measured:
 * no gain at all in a training step). The caller holds {@link Dnnl#lock()}.
 */
final class TwoLanes {
    private static final long EXECUTE = address("dnnl_primitive_execute");
    private static final long WAIT = address("dnnl_stream_wait");

    private TwoLanes() {}

    private static long address(String symbol) {
        Dnnl.engine(); // loads oneDNN
        Pointer p = Loader.addressof(symbol);
        return p == null ? 0 : p.address();
    }

    /** Runs both, at the same time when {@code together} (and oneDNN's entry points were found), else in turn. */
    static void run(boolean together, DnnlPrimitive p0, CachingPool.Block s0, long[] a0, DnnlPrimitive p1,
                    CachingPool.Block s1, long[] a1) {
        if (!together || EXECUTE == 0 || WAIT == 0) {
            p0.executeWith(s0, a0);
            p1.executeWith(s1, a1);
            return;
        }
        p0.bindUnlocked(s0, a0);
        p1.bindUnlocked(s1, a1);
        try (IntPointer status = new IntPointer(2)) {
            CpuKernels.soma_cpu_dnnl_execute_pair(EXECUTE, WAIT, p0.handle(), Dnnl.stream().address(), p0.execArgCount(),
                    p0.execArgsAddress(), p1.handle(), Dnnl.laneStream().address(), p1.execArgCount(),
                    p1.execArgsAddress(), status.address());
            Dnnl.check(status.get(0), () -> p0.name() + ": execution (lane 0)");
            Dnnl.check(status.get(1), () -> p1.name() + ": execution (lane 1)");
        }
    }
}
