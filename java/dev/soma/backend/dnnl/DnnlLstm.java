package dev.soma.backend.dnnl;

import dev.soma.backend.ComputeThreads;
import dev.soma.memory.CachingPool;
import org.bytedeco.dnnl.dnnl_memory_desc;
import org.bytedeco.dnnl.dnnl_primitive_desc;

import static org.bytedeco.dnnl.global.dnnl.*;

/**
 * oneDNN's LSTM primitive for the plain case (f32, one layer, left to right, zero initial states, tanh/sigmoid,
 * with bias): measured 17% faster than our fused kernels on the peers' layer (bench/java DnnlLstmBench against
 * RecurrentBench, same session). Keras layouts map directly: x {@code [N, T, F]} is oneDNN's ntc, the kernel
 * {@code [F, 4H]} and recurrent kernel {@code [H, 4H]} are ldigo with L = D = 1 (gates i, f, c, o in both), the
 * bias {@code [4H]} is ldgo. The weights are reordered into the layouts oneDNN picks for each pass (cached
 * reorders, buffers from the pool); the weight gradients are reordered back. Primitives are cached per geometry.
 */
public final class DnnlLstm {
    private static final PrimitiveCache CACHE = new PrimitiveCache("lstm", 64);

    /** One layer's geometry: steps, batch, input features, units. */
    public record Geometry(long t, long n, long f, long h) {
        PrimitiveKey key(String kind) {
            return new PrimitiveKey(kind, new int[0], new long[] {t, n, f, h});
        }

        String describe(String pass) {
            return "lstm " + pass + " T=" + t + " N=" + n + " " + f + "->" + h;
        }

        /** The gate products of one time step: 2 N (F + H) 4H. */
        double stepFlops() {
            return 2.0 * n * (f + h) * 4 * h;
        }

        /** Half of the batch: one lane's geometry. */
        Geometry half() {
            return new Geometry(t, n / 2, f, h);
        }
    }

    private static volatile boolean lanes = !"false".equals(System.getProperty("soma.cpu.lstmLanes"));
    private static final java.util.concurrent.atomic.AtomicLong LANE_RUNS = new java.util.concurrent.atomic.AtomicLong();

    /**
     * Whether a layer runs as two lanes of half the batch each, every lane one whole single-threaded sequence: the
     * examples' recurrences are independent, so two threads need not join at every step as one oneDNN team does;
     * the weight gradients of the two halves are added at the end. Chosen when each half's step is below what a
     * second thread earns ({@link ComputeThreads#flopsPerThread()}), the batch is even and the process has two
     * threads or more. A function of the geometry and the process alone, so a forward and its backward agree on
     * the workspace's layout; when the caller's count is 1 at run time the lanes run one after the other.
     * {@code -Dsoma.cpu.lstmLanes=false} turns it off.
     */
    public static boolean inLanes(Geometry g) {
        return lanes && ComputeThreads.max() >= 2 && g.n >= 2 && g.n % 2 == 0
                && g.half().stepFlops() < 2.0 * ComputeThreads.flopsPerThread();
    }

    /**
     * Turns the lanes on or off for the calls from now on (benchmarks and tests compare the two). A backward must see
     * the setting its forward saw (the workspace's layout follows it): switch between steps, not inside one.
     */
    public static void useLanes(boolean on) {
        lanes = on;
    }

    /** How many forwards and backwards ran as lanes so far (tests check that they did). */
    public static long laneRuns() {
        return LANE_RUNS.get();
    }

    /**
     * The threads a layer's primitives run on, chosen by the work of one time step, not of the sequence: oneDNN runs
     * the steps one after another, each as a parallel region whose team joins before the next, so a second thread
     * must earn its keep within one step. Measured on a 2-core Zen 5, forward + backward of a whole layer: N 8, 64 ->
     * 128 (1.6 MFLOP a step) 3.7 ms on one thread against 8.6 ms on two; N 32 (6.3 MFLOP) 14.1 against 15.1; N 32,
     * 128 -> 128 (8.4 MFLOP) 8.6 against 8.6; N 64 (12.6 MFLOP) 27.2 against 20.6; N 32, 64 -> 256 (21 MFLOP) 38.3
     * against 29.5 ms. {@link ComputeThreads#forWork}'s rule puts the change between 4 and 8 MFLOP a step.
     */
    public static int threadsFor(Geometry g) {
        return ComputeThreads.forWork(g.stepFlops());
    }

    private static ComputeThreads.Limit threads(Geometry g) {
        return ComputeThreads.atMost(threadsFor(g));
    }

    private DnnlLstm() {}

    public static PrimitiveCache cache() {
        return CACHE;
    }

    /** Bytes of the workspace a training forward writes and the backward reads. */
    public static long workspaceBytes(Geometry g) {
        if (inLanes(g)) return 2 * laneWorkspaceBytes(g.half());
        try (ComputeThreads.Limit limit = threads(g)) {
            synchronized (Dnnl.lock()) {
                return MemoryDescs.bytes(forwardPass(g, true).argDesc(DNNL_ARG_WORKSPACE));
            }
        }
    }

    /** {@code y [N, T, H]} from x, the Keras weights and bias; training also fills {@code workspace}. */
    public static void forward(CachingPool pool, Geometry g, boolean training, long x, long w, long u, long bias,
                               long y, long workspace) {
        if (inLanes(g)) {
            forwardLanes(pool, g, training, x, w, u, bias, y, workspace);
            return;
        }
        try (ComputeThreads.Limit limit = threads(g)) {
            synchronized (Dnnl.lock()) {
                DnnlPrimitive pass = forwardPass(g, training);
                DnnlPrimitive rw = reorder(g, pass, DNNL_ARG_WEIGHTS_LAYER, true, "fwd" + training);
                DnnlPrimitive ru = reorder(g, pass, DNNL_ARG_WEIGHTS_ITER, true, "fwd" + training);
                CachingPool.Block bw = pool.allocate(MemoryDescs.bytes(pass.argDesc(DNNL_ARG_WEIGHTS_LAYER)), 0);
                CachingPool.Block bu = pool.allocate(MemoryDescs.bytes(pass.argDesc(DNNL_ARG_WEIGHTS_ITER)), 0);
                try {
                    rw.execute(pool, w, bw.address());
                    ru.execute(pool, u, bu.address());
                    if (training) pass.execute(pool, x, bw.address(), bu.address(), bias, y, workspace);
                    else pass.execute(pool, x, bw.address(), bu.address(), bias, y);
                } finally {
                    pool.release(bw);
                    pool.release(bu);
                }
            }
        }
    }

    /** dx, dw, du (Keras layouts) and db from the forward's tensors, its workspace and dy. */
    public static void backward(CachingPool pool, Geometry g, long x, long w, long u, long bias, long y, long workspace,
                                long dy, long dx, long dw, long du, long db) {
        if (inLanes(g)) {
            backwardLanes(pool, g, x, w, u, bias, y, workspace, dy, dx, dw, du, db);
            return;
        }
        try (ComputeThreads.Limit limit = threads(g)) {
            synchronized (Dnnl.lock()) {
                DnnlPrimitive pass = CACHE.get(g.key("lstm_bwd"), () -> build(g, Pass.BACKWARD));
                DnnlPrimitive rw = reorder(g, pass, DNNL_ARG_WEIGHTS_LAYER, true, "bwd");
                DnnlPrimitive ru = reorder(g, pass, DNNL_ARG_WEIGHTS_ITER, true, "bwd");
                DnnlPrimitive rdw = reorder(g, pass, DNNL_ARG_DIFF_WEIGHTS_LAYER, false, "bwd");
                DnnlPrimitive rdu = reorder(g, pass, DNNL_ARG_DIFF_WEIGHTS_ITER, false, "bwd");
                CachingPool.Block[] b = new CachingPool.Block[4];
                int[] args = {DNNL_ARG_WEIGHTS_LAYER, DNNL_ARG_WEIGHTS_ITER, DNNL_ARG_DIFF_WEIGHTS_LAYER, DNNL_ARG_DIFF_WEIGHTS_ITER};
                try {
                    for (int i = 0; i < 4; i++) b[i] = pool.allocate(MemoryDescs.bytes(pass.argDesc(args[i])), 0);
                    // oneDNN's RNN backward adds into the weight and bias gradients: start them at zero.
                    zero(b[2].address(), MemoryDescs.bytes(pass.argDesc(DNNL_ARG_DIFF_WEIGHTS_LAYER)));
                    zero(b[3].address(), MemoryDescs.bytes(pass.argDesc(DNNL_ARG_DIFF_WEIGHTS_ITER)));
                    zero(db, 4 * g.h * 4L);
                    rw.execute(pool, w, b[0].address());
                    ru.execute(pool, u, b[1].address());
                    pass.execute(pool, x, b[0].address(), b[1].address(), bias, y, workspace, dy, dx, b[2].address(),
                            b[3].address(), db);
                    rdw.execute(pool, b[2].address(), dw);
                    rdu.execute(pool, b[3].address(), du);
                } finally {
                    for (CachingPool.Block k : b) if (k != null) pool.release(k);
                }
            }
        }
    }

    /** One lane's workspace, rounded up to 64 bytes so the second lane's starts aligned. */
    private static long laneWorkspaceBytes(Geometry half) {
        try (ComputeThreads.Limit limit = ComputeThreads.atMost(1)) {
            synchronized (Dnnl.lock()) {
                long bytes = MemoryDescs.bytes(forwardPass(half, true).argDesc(DNNL_ARG_WORKSPACE));
                return (bytes + 63) / 64 * 64;
            }
        }
    }

    /** The byte offset of lane 1's part of an ntc array [N, T, width] of f32 (lane 0's is at 0). */
    private static long laneOffset(Geometry half, long width) {
        return half.n * half.t * width * 4;
    }

    private static void forwardLanes(CachingPool pool, Geometry g, boolean training, long x, long w, long u, long bias,
                                     long y, long workspace) {
        boolean together = ComputeThreads.current() >= 2;
        Geometry hg = g.half();
        try (ComputeThreads.Limit limit = ComputeThreads.atMost(1)) {
            synchronized (Dnnl.lock()) {
                DnnlPrimitive p0 = forwardPass(hg, training);
                DnnlPrimitive p1 = laneTwin(hg, training ? "lstm_fwd_training" : "lstm_fwd_inference", p0,
                        () -> build(hg, training ? Pass.FORWARD_TRAINING : Pass.FORWARD_INFERENCE),
                        DNNL_ARG_WEIGHTS_LAYER, DNNL_ARG_WEIGHTS_ITER);
                DnnlPrimitive rw = reorder(hg, p0, DNNL_ARG_WEIGHTS_LAYER, true, "fwd" + training);
                DnnlPrimitive ru = reorder(hg, p0, DNNL_ARG_WEIGHTS_ITER, true, "fwd" + training);
                CachingPool.Block[] b = new CachingPool.Block[4];
                try {
                    b[0] = pool.allocate(MemoryDescs.bytes(p0.argDesc(DNNL_ARG_WEIGHTS_LAYER)), 0);
                    b[1] = pool.allocate(MemoryDescs.bytes(p0.argDesc(DNNL_ARG_WEIGHTS_ITER)), 0);
                    b[2] = scratch(pool, p0);
                    b[3] = scratch(pool, p1);
                    rw.execute(pool, w, b[0].address());
                    ru.execute(pool, u, b[1].address());
                    long bw = b[0].address(), bu = b[1].address(), xo = laneOffset(hg, g.f), yo = laneOffset(hg, g.h);
                    long ws = training ? laneWorkspaceBytes(hg) : 0;
                    CachingPool.Block s0 = b[2], s1 = b[3];
                    TwoLanes.run(together, p0, s0, training
                                    ? new long[] {x, bw, bu, bias, y, workspace} : new long[] {x, bw, bu, bias, y},
                            p1, s1, training ? new long[] {x + xo, bw, bu, bias, y + yo, workspace + ws}
                                    : new long[] {x + xo, bw, bu, bias, y + yo});
                    LANE_RUNS.incrementAndGet();
                } finally {
                    for (CachingPool.Block k : b) if (k != null) pool.release(k);
                }
            }
        }
    }

    private static void backwardLanes(CachingPool pool, Geometry g, long x, long w, long u, long bias, long y,
                                      long workspace, long dy, long dx, long dw, long du, long db) {
        boolean together = ComputeThreads.current() >= 2;
        Geometry hg = g.half();
        try (ComputeThreads.Limit limit = ComputeThreads.atMost(1)) {
            synchronized (Dnnl.lock()) {
                DnnlPrimitive p0 = CACHE.get(hg.key("lstm_bwd"), () -> build(hg, Pass.BACKWARD));
                DnnlPrimitive p1 = laneTwin(hg, "lstm_bwd", p0, () -> build(hg, Pass.BACKWARD), DNNL_ARG_WEIGHTS_LAYER,
                        DNNL_ARG_WEIGHTS_ITER, DNNL_ARG_DIFF_WEIGHTS_LAYER, DNNL_ARG_DIFF_WEIGHTS_ITER);
                DnnlPrimitive rw = reorder(hg, p0, DNNL_ARG_WEIGHTS_LAYER, true, "bwd");
                DnnlPrimitive ru = reorder(hg, p0, DNNL_ARG_WEIGHTS_ITER, true, "bwd");
                DnnlPrimitive rdw = reorder(hg, p0, DNNL_ARG_DIFF_WEIGHTS_LAYER, false, "bwd");
                DnnlPrimitive rdu = reorder(hg, p0, DNNL_ARG_DIFF_WEIGHTS_ITER, false, "bwd");
                long wlBytes = MemoryDescs.bytes(p0.argDesc(DNNL_ARG_DIFF_WEIGHTS_LAYER));
                long wiBytes = MemoryDescs.bytes(p0.argDesc(DNNL_ARG_DIFF_WEIGHTS_ITER));
                long biasBytes = 4 * g.h * 4L;
                CachingPool.Block[] b = new CachingPool.Block[9];
                try {
                    b[0] = pool.allocate(MemoryDescs.bytes(p0.argDesc(DNNL_ARG_WEIGHTS_LAYER)), 0);
                    b[1] = pool.allocate(MemoryDescs.bytes(p0.argDesc(DNNL_ARG_WEIGHTS_ITER)), 0);
                    b[2] = pool.allocate(wlBytes, 0); // lane 0's weight gradients, then the sum
                    b[3] = pool.allocate(wiBytes, 0);
                    b[4] = pool.allocate(wlBytes, 0); // lane 1's
                    b[5] = pool.allocate(wiBytes, 0);
                    b[6] = pool.allocate(biasBytes, 0);
                    b[7] = scratch(pool, p0);
                    b[8] = scratch(pool, p1);
                    // oneDNN's RNN backward adds into the weight and bias gradients: start them at zero.
                    zero(b[2].address(), wlBytes);
                    zero(b[3].address(), wiBytes);
                    zero(b[4].address(), wlBytes);
                    zero(b[5].address(), wiBytes);
                    zero(b[6].address(), biasBytes);
                    zero(db, biasBytes);
                    rw.execute(pool, w, b[0].address());
                    ru.execute(pool, u, b[1].address());
                    long bw = b[0].address(), bu = b[1].address(), ws = laneWorkspaceBytes(hg);
                    long xo = laneOffset(hg, g.f), yo = laneOffset(hg, g.h);
                    long dw0 = b[2].address(), du0 = b[3].address(), dw1 = b[4].address(), du1 = b[5].address();
                    long db1 = b[6].address();
                    CachingPool.Block s0 = b[7], s1 = b[8];
                    TwoLanes.run(together, p0, s0, new long[] {x, bw, bu, bias, y, workspace, dy, dx, dw0, du0, db},
                            p1, s1, new long[] {x + xo, bw, bu, bias, y + yo, workspace + ws, dy + yo, dx + xo, dw1, du1, db1});
                    // Both lanes' gradients are in the same layout (one geometry): add them element by element.
                    add(dw1, dw0, wlBytes);
                    add(du1, du0, wiBytes);
                    add(db1, db, biasBytes);
                    rdw.execute(pool, dw0, dw);
                    rdu.execute(pool, du0, du);
                    LANE_RUNS.incrementAndGet();
                } finally {
                    for (CachingPool.Block k : b) if (k != null) pool.release(k);
                }
            }
        }
    }

    /**
     * Lane 1's own instance of {@code first}'s primitive (a primitive binds its arguments when it runs, so two lanes
     * cannot share one), checked to lay out the {@code shared} arguments as {@code first} does: lane 0's reordered
     * weights serve both, and the backward adds lane 1's weight gradients into lane 0's element by element.
     */
    private static DnnlPrimitive laneTwin(Geometry half, String kind, DnnlPrimitive first,
                                          java.util.function.Supplier<DnnlPrimitive> build, int... shared) {
        DnnlPrimitive twin = CACHE.get(half.key(kind + "#lane1"), build);
        for (int arg : shared) {
            if (dnnl_memory_desc_equal(first.argDesc(arg), twin.argDesc(arg)) == 0) {
                throw new IllegalStateException(half.describe(kind) + ": the two lanes' primitives chose different "
                        + "layouts for argument " + arg);
            }
        }
        return twin;
    }

    private static CachingPool.Block scratch(CachingPool pool, DnnlPrimitive p) {
        return p.scratchpadBytes() > 0 ? pool.allocate(p.scratchpadBytes(), 0) : null;
    }

    /** y += x over {@code bytes} of f32. */
    private static void add(long x, long y, long bytes) {
        dev.soma.jni.CpuKernels.soma_cpu_axpy(dev.soma.tensor.DType.F32.code(), bytes / 4, 1.0, x, y);
    }

    private enum Pass { FORWARD_TRAINING, FORWARD_INFERENCE, BACKWARD }

    private static void zero(long address, long bytes) {
        dev.soma.jni.CpuKernels.soma_cpu_fill(dev.soma.tensor.DType.F32.code(), address, bytes / 4, 0.0);
    }

    private static DnnlPrimitive forwardPass(Geometry g, boolean training) {
        return training ? CACHE.get(g.key("lstm_fwd_training"), () -> build(g, Pass.FORWARD_TRAINING))
                : CACHE.get(g.key("lstm_fwd_inference"), () -> build(g, Pass.FORWARD_INFERENCE));
    }

    private static DnnlPrimitive build(Geometry g, Pass pass) {
        String what = g.describe(pass.name().toLowerCase(java.util.Locale.ROOT));
        int dt = dnnl_f32;
        dnnl_primitive_desc pd = new dnnl_primitive_desc();
        try (NativeHandles hs = new NativeHandles()) {
            dnnl_memory_desc src = MemoryDescs.tagged(hs, dt, new long[] {g.t, g.n, g.f}, dnnl_ntc, what);
            dnnl_memory_desc wl = MemoryDescs.any(hs, dt, new long[] {1, 1, g.f, 4, g.h}, what);
            dnnl_memory_desc wi = MemoryDescs.any(hs, dt, new long[] {1, 1, g.h, 4, g.h}, what);
            dnnl_memory_desc bias = MemoryDescs.tagged(hs, dt, new long[] {1, 1, 4, g.h}, dnnl_ldgo, what);
            dnnl_memory_desc dst = MemoryDescs.tagged(hs, dt, new long[] {g.t, g.n, g.h}, dnnl_ntc, what);
            if (pass == Pass.BACKWARD) {
                dnnl_primitive_desc hint = forwardPass(g, true).primitiveDesc();
                Dnnl.check(dnnl_lstm_backward_primitive_desc_create(pd, Dnnl.engine(), dnnl_backward,
                        dnnl_unidirectional_left2right, src, null, null, wl, wi, null, null, bias, dst, null, null,
                        src, null, null, wl, wi, null, null, bias, dst, null, null, dnnl_rnn_flags_undef, hint,
                        Dnnl.userScratchpad()), () -> what + ": primitive descriptor creation");
                return DnnlPrimitive.create(what, pd, DNNL_ARG_SRC_LAYER, DNNL_ARG_WEIGHTS_LAYER, DNNL_ARG_WEIGHTS_ITER,
                        DNNL_ARG_BIAS, DNNL_ARG_DST_LAYER, DNNL_ARG_WORKSPACE, DNNL_ARG_DIFF_DST_LAYER,
                        DNNL_ARG_DIFF_SRC_LAYER, DNNL_ARG_DIFF_WEIGHTS_LAYER, DNNL_ARG_DIFF_WEIGHTS_ITER, DNNL_ARG_DIFF_BIAS);
            }
            boolean training = pass == Pass.FORWARD_TRAINING;
            Dnnl.check(dnnl_lstm_forward_primitive_desc_create(pd, Dnnl.engine(),
                    training ? dnnl_forward_training : dnnl_forward_inference, dnnl_unidirectional_left2right, src, null,
                    null, wl, wi, null, null, bias, dst, null, null, dnnl_rnn_flags_undef, Dnnl.userScratchpad()),
                    () -> what + ": primitive descriptor creation");
        }
        return pass == Pass.FORWARD_TRAINING
                ? DnnlPrimitive.create(what, pd, DNNL_ARG_SRC_LAYER, DNNL_ARG_WEIGHTS_LAYER, DNNL_ARG_WEIGHTS_ITER,
                        DNNL_ARG_BIAS, DNNL_ARG_DST_LAYER, DNNL_ARG_WORKSPACE)
                : DnnlPrimitive.create(what, pd, DNNL_ARG_SRC_LAYER, DNNL_ARG_WEIGHTS_LAYER, DNNL_ARG_WEIGHTS_ITER,
                        DNNL_ARG_BIAS, DNNL_ARG_DST_LAYER);
    }

    /**
     * The reorder between the user's ldigo weights and the layout {@code pass} chose for {@code arg}: into it
     * ({@code toPass}) or out of it (weight gradients).
     */
    private static DnnlPrimitive reorder(Geometry g, DnnlPrimitive pass, int arg, boolean toPass, String passName) {
        return CACHE.get(g.key("lstm_reorder_" + passName + "_" + arg), () -> {
            String what = g.describe("weight reorder " + passName + " argument " + arg);
            long in = arg == DNNL_ARG_WEIGHTS_LAYER || arg == DNNL_ARG_DIFF_WEIGHTS_LAYER ? g.f : g.h;
            dnnl_primitive_desc pd = new dnnl_primitive_desc();
            try (NativeHandles hs = new NativeHandles()) {
                dnnl_memory_desc user = MemoryDescs.tagged(hs, dnnl_f32, new long[] {1, 1, in, 4, g.h}, dnnl_ldigo, what);
                dnnl_memory_desc chosen = pass.argDesc(arg);
                Dnnl.check(dnnl_reorder_primitive_desc_create(pd, toPass ? user : chosen, Dnnl.engine(),
                        toPass ? chosen : user, Dnnl.engine(), Dnnl.userScratchpad()), () -> what + ": primitive descriptor creation");
            }
            return DnnlPrimitive.create(what, pd, DNNL_ARG_FROM, DNNL_ARG_TO);
        });
    }
}
