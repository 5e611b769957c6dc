package dev.soma.backend;

import dev.soma.backend.ConvKernels.Geometry;
import dev.soma.jni.CpuKernels;
import dev.soma.memory.CachingPool;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Our Winograd convolution F(4x4, 3x3), F(4x4, 5x5) and F(2x2, 7x7) for float32 on the CPU
 * (native/src/winograd_conv.cpp): 4x, 6.25x and 3.06x fewer multiplications than the direct convolution, which
 * oneDNN already runs near the f32 FMA peak for 5x5 kernels and at a quarter of it for 7x7 ones
 * (docs/cpu-performance.md). Other square kernels from 4x4 up run as the sum of 5x5 pieces, summed per point of
 * the transform from 6x6 up (native/src/winograd_pieces.h: 9x9 as four pieces, 5x fewer multiplications). Its result is within about
 * 1e-5 of float64 (normwise), beside about 5e-7 for the direct convolution; DESIGN.md allows 1e-4 for f32 products.
 *
 * <p>The choice is a fixed rule of the geometry, not a timing, so that a run's numbers do not depend on how busy
 * the machine was when it chose: stride 1, no dilation, a square kernel of 3x3 or larger, and at least
 * {@link #MIN_CHANNELS} input and output channels (with fewer, the per-point GEMMs are too short to pay for the
 * transforms; the reference CNN's first layer has one input channel), and a transformed kernel of at most 64 MiB
 * (3x3 up to about 680 x 680 channels, 5x5 and 7x7 up to 512 x 512, kernels of s x s pieces s^2 times fewer). {@code -Dsoma.cpu.winograd=false} turns it
 * off (for measuring one against the other). bf16 scopes keep oneDNN's bf16 convolution.
 */
final class WinogradConv {
    static final boolean ENABLED = Boolean.parseBoolean(System.getProperty("soma.cpu.winograd", "true"));
    static final long MIN_CHANNELS = Long.getLong("soma.cpu.winograd.minChannels", 16);

    private static final int FORWARD = 0, BACKWARD_DATA = 1, BACKWARD_WEIGHTS = 2, BACKWARD = 3;

    /**
     * Batches of at least this many images run both backward passes in one sweep ({@link #backward}): its threads
     * take whole images, up to 8 at once, so smaller batches keep the separate passes, whose kernel gradient splits
     * the tiles of even one image. {@code -Dsoma.cpu.winograd.oneBackwardImages=N} moves the bound (for measuring one
     * against the other).
     */
    static final long MIN_IMAGES_FOR_ONE_BACKWARD = Long.getLong("soma.cpu.winograd.oneBackwardImages", 8);

    /** How many times {@link #backward} ran (tests check which calls take it). */
    static final AtomicLong ONE_BACKWARD_CALLS = new AtomicLong();

    private WinogradConv() {}

    /** Whether the f32 (not bf16) passes of this geometry run here. */
    static boolean applies(Geometry g) {
        return ENABLED && g.c() >= MIN_CHANNELS && g.oc() >= MIN_CHANNELS
                && CpuKernels.soma_cpu_winograd_supported(g.nativeArray()) == 1;
    }

    /** The implementation name {@code conv2dImplementations} reports, with the vector instructions it runs on. */
    static String name(Geometry g) {
        String isa = CpuKernels.soma_cpu_winograd_lanes() == 16 ? "AVX-512" : "AVX2";
        long m = tile(g), r = piece(g), s = piecesPerSide(g);
        String pieces = r == g.kh() ? "" : " in " + s + "x" + s + " pieces of " + g.kh() + "x" + g.kw();
        return "soma winograd F(" + m + "x" + m + ", " + r + "x" + r + ")" + pieces + ", " + isa;
    }

    /** The output tile side of the transforms this geometry's kernel runs with (native/src/winograd_transforms.h). */
    static long tile(Geometry g) {
        return CpuKernels.soma_cpu_winograd_tile((int) g.kh());
    }

    /** The side of the pieces this geometry's kernel runs as: the kernel's own for 3x3, 5x5 and 7x7. */
    static long piece(Geometry g) {
        return CpuKernels.soma_cpu_winograd_piece((int) g.kh());
    }

    static long piecesPerSide(Geometry g) {
        return CpuKernels.soma_cpu_winograd_pieces_per_side((int) g.kh());
    }

    static void forward(CachingPool mem, Geometry g, long x, long w, long bias, long out) {
        long[] geom = g.nativeArray();
        withWorkspace(mem, g, geom, FORWARD,
                (ws, bytes) -> CpuKernels.soma_cpu_winograd_conv2d(geom, x, w, bias, out, ws, bytes));
    }

    static void backwardData(CachingPool mem, Geometry g, long gradOut, long w, long gradX) {
        long[] geom = g.nativeArray();
        withWorkspace(mem, g, geom, BACKWARD_DATA,
                (ws, bytes) -> CpuKernels.soma_cpu_winograd_conv2d_backward_data(geom, gradOut, w, gradX, ws, bytes));
    }

    /**
     * Both backward passes at once, where {@link #oneBackward} says so: the transformed output gradient, which both
     * multiply, is made once per tile. The kernel gradient only; the caller sums the bias gradient.
     */
    static void backward(CachingPool mem, Geometry g, long x, long gradOut, long w, long gradX, long gradW) {
        ONE_BACKWARD_CALLS.incrementAndGet();
        long[] geom = g.nativeArray();
        withWorkspace(mem, g, geom, BACKWARD, (ws, bytes) -> CpuKernels.soma_cpu_winograd_conv2d_backward(geom, x,
                gradOut, w, gradX, gradW, ws, bytes));
    }

    /** Whether a geometry that {@link #applies} runs its two backward passes as one (a fixed rule of the shape). */
    static boolean oneBackward(Geometry g) {
        return g.n() >= MIN_IMAGES_FOR_ONE_BACKWARD;
    }

    /** The kernel gradient only; the caller sums the bias gradient. */
    static void backwardWeights(CachingPool mem, Geometry g, long x, long gradOut, long gradW) {
        long[] geom = g.nativeArray();
        withWorkspace(mem, g, geom, BACKWARD_WEIGHTS,
                (ws, bytes) -> CpuKernels.soma_cpu_winograd_conv2d_backward_weights(geom, x, gradOut, gradW, ws, bytes));
    }

    private interface Pass {
        void run(long workspace, long bytes);
    }

    /**
     * The multiply-adds the per-point products do, times two: the work {@link ComputeThreads#forWork} weighs, as
     * oneDNN's convolutions are weighed by theirs (a small convolution runs on one thread).
     */
    static double flops(Geometry g) {
        long m = tile(g), alpha = m + piece(g) - 1, s = piecesPerSide(g);
        double tiles = (double) g.n() * ((g.oh() + m - 1) / m) * ((g.ow() + m - 1) / m);
        return 2.0 * alpha * alpha * tiles * g.c() * g.oc() * s * s;
    }

    // The workspace comes from the backend's pool (kernels never allocate behind Java's back) and goes back to
    // it at once; the pool keeps the block cached for the next step. The thread count is set before the size is
    // asked, since the kernels' scratch is per thread.
    private static void withWorkspace(CachingPool mem, Geometry g, long[] geom, int pass, Pass run) {
        try (var threads = ComputeThreads.atMost(ComputeThreads.forWork(flops(g) * (pass == BACKWARD ? 2 : 1)))) {
            long bytes = CpuKernels.soma_cpu_winograd_workspace_bytes(geom, pass);
            CachingPool.Block ws = mem.allocate(bytes, 0);
            try {
                run.run(ws.address(), bytes);
            } finally {
                mem.release(ws);
            }
        }
    }
}
