package dev.soma.ops;

import dev.soma.backend.ComputeThreads;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.Reference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Our Winograd convolution (native/src/winograd_conv.cpp), which runs the float32 stride-1 convolutions with square
 * kernels from 3x3 up (3x3, 5x5 and 7x7 whole, others as pieces) and 16 or more channels each way: all three passes and the bias gradient against the float64
 * direct loops, on random geometries (images smaller than one 4x4 tile and not a whole number of tiles, channel
 * counts that are not whole vectors, "same" and "valid", one image and several) and on the 5x5 layer of the
 * cnn:kernel=5 benchmark; and which geometries it takes. A fresh seed per run, printed on failure
 * ({@code -Dsoma.winograd.seed=S} replays it).
 */
@ExtendWith(NoLeaks.class)
class WinogradConvTest {
    private static final long SEED = Long.getLong("soma.winograd.seed", System.nanoTime());
    private static final int[] ONE = {1, 1};
    /** Whole kernels (3, 5, 7) and kernels run as pieces: one padded piece (4), 3x3 pieces (6), 5x5 ones. */
    private static final int[] KERNELS = {3, 4, 5, 6, 7, 8, 9, 11, 13};

    @Test
    void randomGeometriesAgreeWithFloat64InEveryPass() {
        SplittableRandom r = new SplittableRandom(SEED);
        List<String> wrong = new ArrayList<>();
        double worst = 0;
        for (int trial = 0; trial < 40; trial++) {
            int k = KERNELS[r.nextInt(KERNELS.length)];
            String padding = r.nextInt(3) == 0 ? "valid" : "same";
            int min = padding.equals("valid") ? k : 1;
            int n = r.nextInt(1, 4), h = r.nextInt(min, 15), w = r.nextInt(min, 15);
            int c = r.nextInt(16, 41), oc = r.nextInt(16, 41);
            String what = "x [" + n + ", " + h + ", " + w + ", " + c + "], kernel " + k + "x" + k + " -> " + oc + ", "
                    + padding;
            double[] errors = compare(r, n, h, w, c, oc, k, padding, what);
            for (int p = 0; p < errors.length; p++) {
                worst = Math.max(worst, errors[p]);
                if (!(errors[p] <= 1e-4)) wrong.add(what + ", " + PASSES[p] + ": relative error " + errors[p]);
            }
        }
        assertTrue(wrong.isEmpty(), "seed " + SEED + ", Winograd float32 against float64:\n" + String.join("\n", wrong));
        System.out.println("Winograd against float64, 40 random geometries: worst relative error " + worst);
    }

    /**
     * A 9x9 kernel runs as four 5x5 pieces, 11x11 and 13x13 as nine: with enough images for both backward passes in
     * one sweep, with an image smaller than the kernel (some pieces read nothing but padding), and with an image too
     * large for one chunk of the scratch (taken in bands of tile rows that share their edge rows' input tiles).
     */
    @Test
    void kernelsRunAsPiecesAgreeWithFloat64InBothBackwardSweeps() {
        SplittableRandom r = new SplittableRandom(SEED);
        String[][] cases = {{"8", "13", "11", "16", "24", "9"}, {"9", "10", "12", "20", "17", "11"},
                {"2", "5", "6", "17", "16", "13"}, {"2", "48", "45", "32", "24", "9"}};
        for (String[] v : cases) {
            int n = Integer.parseInt(v[0]), h = Integer.parseInt(v[1]), w = Integer.parseInt(v[2]);
            int c = Integer.parseInt(v[3]), oc = Integer.parseInt(v[4]), k = Integer.parseInt(v[5]);
            String what = "x [" + n + ", " + h + ", " + w + ", " + c + "], kernel " + k + "x" + k + " -> " + oc + ", same";
            double[] errors = compare(r, n, h, w, c, oc, k, "same", what);
            for (int p = 0; p < errors.length; p++) {
                assertTrue(errors[p] <= 1e-4, "seed " + SEED + ", " + what + ", " + PASSES[p] + ": relative error "
                        + errors[p]);
            }
        }
    }

    /** The benchmark's 5x5 layer (fewer images): many tiles per image, more than one block per thread. */
    @Test
    void theBenchmarksFiveByFiveLayerAgreesWithFloat64() {
        SplittableRandom r = new SplittableRandom(SEED);
        double[] errors = compare(r, 3, 28, 28, 32, 64, 5, "same", "x [3, 28, 28, 32], kernel 5x5 -> 64, same");
        for (int p = 0; p < errors.length; p++) {
            assertTrue(errors[p] <= 1e-4, "seed " + SEED + ", " + PASSES[p] + ": relative error " + errors[p]);
        }
    }

    /**
     * The kernel gradient sums a product over every tile of the batch (here 12,544 of them). Each block's product is
     * summed from zero and added once (native/src/attention_gemm.h): accumulating every tile's terms in one running
     * sum, as before, left 1.5e-5 here and 3.6e-5 for 7x7 kernels at batch 256, growing with the batch; now 3.7e-6.
     */
    @Test
    void theKernelGradientOfALargeBatchKeepsItsAccuracy() {
        SplittableRandom r = new SplittableRandom(SEED);
        double[] errors = compare(r, 1024, 14, 14, 16, 16, 5, "same", "x [1024, 14, 14, 16], kernel 5x5 -> 16, same");
        assertTrue(errors[2] <= 1e-5, "seed " + SEED + ", backward weights: relative error " + errors[2]);
        for (int p = 0; p < errors.length; p++) {
            assertTrue(errors[p] <= 1e-4, "seed " + SEED + ", " + PASSES[p] + ": relative error " + errors[p]);
        }
    }

    /**
     * Every tile's output is computed the same way on any thread, and the kernel gradient sums fixed groups of
     * tiles in a fixed order: one thread and all of them give the same bits (threads take blocks dynamically).
     */
    @Test
    void resultsAreTheSameBitsOnOneThreadAndOnAll() {
        assumeTrue(ComputeThreads.max() > 1, "one CPU only");
        SplittableRandom r = new SplittableRandom(SEED);
        for (int k : new int[] {5, 9}) {  // a whole kernel, and fused pieces (both backward passes in one sweep: 8 images)
            int n = k == 5 ? 4 : 8;
            double[] x = random(r, n * 20 * 20 * 24), kernel = random(r, k * k * 24 * 32), bias = random(r, 32);
            long seed = r.nextLong();
            double[][] all, one;
            try (Scope s = Scope.open()) {
                all = passes(DType.F32, x, kernel, bias, n, 20, 20, 24, 32, k, "same", seed);
            }
            try (Scope s = Scope.open(); ComputeThreads.Limit limit = ComputeThreads.atMost(1)) {
                one = passes(DType.F32, x, kernel, bias, n, 20, 20, 24, 32, k, "same", seed);
            }
            for (int p = 0; p < 4; p++) {
                assertArrayEquals(all[p], one[p], "seed " + SEED + ", " + k + "x" + k + ", " + PASSES[p]);
            }
        }
    }

    /**
     * Java threads that convolve at once (a Predictor serving requests, fits side by side) each take their own
     * workspace from the pool and their own OpenMP team: every thread gets the bits of the same call made alone.
     */
    @Test
    void callsFromSeveralJavaThreadsAtOnceGiveTheBitsOfACallAlone() throws Exception {
        SplittableRandom r = new SplittableRandom(SEED);
        double[] x = random(r, 3 * 16 * 16 * 20), kernel = random(r, 3 * 3 * 20 * 24), bias = random(r, 24);
        long seed = r.nextLong();
        double[][] alone;
        try (Scope s = Scope.open()) {
            alone = passes(DType.F32, x, kernel, bias, 3, 16, 16, 20, 24, 3, "same", seed);
        }
        int threads = 4;
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(threads);
        try {
            List<java.util.concurrent.Future<double[][]>> results = new ArrayList<>();
            java.util.concurrent.CountDownLatch start = new java.util.concurrent.CountDownLatch(1);
            for (int t = 0; t < threads; t++) {
                results.add(pool.submit(() -> {
                    start.await();
                    double[][] last = null;
                    for (int i = 0; i < 5; i++) {
                        try (Scope s = Scope.open()) {
                            last = passes(DType.F32, x, kernel, bias, 3, 16, 16, 20, 24, 3, "same", seed);
                        }
                    }
                    return last;
                }));
            }
            start.countDown();
            for (java.util.concurrent.Future<double[][]> f : results) {
                double[][] got = f.get(2, java.util.concurrent.TimeUnit.MINUTES);
                for (int p = 0; p < 4; p++) assertArrayEquals(alone[p], got[p], "seed " + SEED + ", " + PASSES[p]);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * Products below the smallest normal float are flushed to 0 in every pass, on the team's threads as on the
     * caller's (each denormal operand costs Intel cores a microcode assist: late in a CNN's training its gradients
     * sink into that range, and the reference CNN's Winograd backward took 3-10 ms instead of 2 in most calls of a
     * settling run), and the calling (JVM) thread keeps IEEE denormals afterwards. One image and 8 (the passes
     * apart and as one sweep); 3x3, 5x5 and 7x7 kernels.
     */
    @Test
    void denormalProductsAreFlushedAndTheCallersFloatsKeepTheirDenormals() {
        for (int n : new int[] {1, 8}) {
            for (int k : new int[] {3, 5, 7}) {
                try (Scope s = Scope.open()) {
                    // 1e-22 * 1e-22 = 1e-44, a denormal float, and still one after the transforms' constants
                    // (under 1e4): every product is stored as 0, and so is every sum of them.
                    Tensor x = Tensor.full(1e-22f, n, 9, 9, 16).setRequiresGrad(true);
                    Tensor kernel = Tensor.full(1e-22f, k, k, 16, 16).setRequiresGrad(true);
                    Tensor y = Convolution.conv2d(x, kernel, null, ONE, "same", ONE);
                    y.mul(1e-22).sum().backward();
                    String what = n + " images, " + k + "x" + k + ": ";
                    assertAllZero(y.toFloatArray(), what + "output");
                    assertAllZero(x.grad().toFloatArray(), what + "input gradient");
                    assertAllZero(kernel.grad().toFloatArray(), what + "kernel gradient");
                }
            }
        }
        float half = tinyNormal / 2; // computed here, on the thread that called the kernels
        assertEquals(Float.MIN_NORMAL / 2, half, 0f, "the caller's denormals were flushed too");
        assertTrue(half > 0);
    }

    private static volatile float tinyNormal = Float.MIN_NORMAL;

    private static void assertAllZero(float[] values, String what) {
        for (int i = 0; i < values.length; i++) assertEquals(0f, values[i], 0f, what + " at " + i);
    }

    @Test
    void onlyStrideOneSquareKernelsFromThreeUpWithSixteenToSomeHundredChannelsRunIt() {
        try (Scope s = Scope.open()) {
            assertWinograd(true, 3, 3, 16, 16, ONE, ONE);
            assertWinograd(true, 5, 5, 16, 300, ONE, ONE);
            assertWinograd(false, 5, 5, 15, 32, ONE, ONE);
            assertWinograd(false, 3, 3, 32, 15, ONE, ONE);
            assertWinograd(false, 3, 3, 32, 32, new int[] {1, 2}, ONE);
            assertWinograd(false, 3, 3, 32, 32, ONE, new int[] {2, 1});
            assertWinograd(false, 3, 5, 32, 32, ONE, ONE);
            assertWinograd(true, 7, 7, 32, 32, ONE, ONE);
            assertWinograd(false, 7, 5, 32, 32, ONE, ONE);
            assertWinograd(true, 9, 9, 32, 32, ONE, ONE);
            assertWinograd(true, 4, 4, 32, 32, ONE, ONE);
            assertWinograd(false, 2, 2, 32, 32, ONE, ONE);
            assertWinograd(false, 9, 7, 32, 32, ONE, ONE);
            assertWinograd(false, 9, 9, 32, 32, new int[] {2, 2}, ONE);
            assertWinograd(false, 7, 7, 32, 32, new int[] {2, 2}, ONE);
            assertWinograd(false, 1, 1, 32, 32, ONE, ONE);
            // The transformed kernel is at most 64 MiB: 3x3 with 680 x 680 channels runs it, 700 x 700 does not.
            assertWinograd(true, 3, 3, 680, 680, ONE, ONE);
            assertWinograd(false, 3, 3, 700, 700, ONE, ONE);
            // SOMA_NO_AVX512 (CI runs this class with it) keeps the kernels on AVX2.
            String name = Convolution.implementations(Tensor.zeros(1, 8, 8, 16), Tensor.zeros(3, 3, 16, 16), null, ONE,
                    "same", ONE)[0];
            assertTrue(name.endsWith(", AVX-512") || name.endsWith(", AVX2"), name);
            // 7x7 kernels take 2x2 output tiles (8x8 transformed tiles, as 5x5 with 4x4 outputs)
            assertTrue(Convolution.implementations(Tensor.zeros(1, 8, 8, 16), Tensor.zeros(7, 7, 16, 16), null, ONE,
                    "same", ONE)[0].startsWith("soma winograd F(2x2, 7x7), "));
            // larger kernels run as the sum of 5x5 pieces: 2x2 of them for 6x6 to 9x9
            assertTrue(Convolution.implementations(Tensor.zeros(1, 12, 12, 16), Tensor.zeros(9, 9, 16, 16), null, ONE,
                    "same", ONE)[0].startsWith("soma winograd F(4x4, 5x5) in 2x2 pieces of 9x9, "));
            assertTrue(Convolution.implementations(Tensor.zeros(1, 12, 12, 16), Tensor.zeros(6, 6, 16, 16), null, ONE,
                    "same", ONE)[0].startsWith("soma winograd F(4x4, 5x5) in 2x2 pieces of 6x6, "));
            if (System.getenv("SOMA_NO_AVX512") != null) assertTrue(name.endsWith(", AVX2"), name);
            // float64 runs the direct loops.
            String[] f64 = Convolution.implementations(Tensor.zeros(DType.F64, dev.soma.tensor.Device.cpu(), 1, 8, 8, 16),
                    Tensor.zeros(DType.F64, dev.soma.tensor.Device.cpu(), 3, 3, 16, 16), null, ONE, "same", ONE);
            assertTrue(f64[0].startsWith("soma_cpu_conv2d"), f64[0]);
        }
    }

    private static void assertWinograd(boolean expected, int kh, int kw, int c, int oc, int[] strides, int[] dilation) {
        String[] impl = Convolution.implementations(Tensor.zeros(2, 12, 12, c), Tensor.zeros(kh, kw, c, oc), null,
                strides, "same", dilation);
        for (String s : impl) {
            assertEquals(expected, s.startsWith("soma winograd"), kh + "x" + kw + ", " + c + " -> " + oc
                    + " channels, strides " + strides[0] + "x" + strides[1] + ", dilation " + dilation[0] + "x"
                    + dilation[1] + ": " + String.join(", ", impl));
        }
    }

    private static final String[] PASSES = {"forward", "backward data", "backward weights", "bias gradient"};

    /** Relative errors of the four results, float32 (asserted to be Winograd's) against float64. */
    private static double[] compare(SplittableRandom r, int n, int h, int w, int c, int oc, int k, String padding,
                                    String what) {
        double[] x = random(r, n * h * w * c), kernel = random(r, k * k * c * oc), bias = random(r, oc);
        long seed = r.nextLong();
        try (Scope s = Scope.open()) {
            String[] impl = Convolution.implementations(Tensor.zeros(n, h, w, c), Tensor.zeros(k, k, c, oc),
                    Tensor.zeros(oc), ONE, padding, ONE);
            for (String name : impl) assertTrue(name.startsWith("soma winograd"), what + ": runs " + name);
            double[][] f32 = passes(DType.F32, x, kernel, bias, n, h, w, c, oc, k, padding, seed);
            double[][] f64 = passes(DType.F64, x, kernel, bias, n, h, w, c, oc, k, padding, seed);
            double[] errors = new double[4];
            for (int p = 0; p < 4; p++) errors[p] = Reference.relativeError(f32[p], f64[p]);
            return errors;
        }
    }

    /** Output and the gradients of x, kernel and bias for a random weighting of the output (the same in both dtypes). */
    private static double[][] passes(DType dtype, double[] x, double[] k, double[] b, int n, int h, int w, int c, int oc,
                                     int size, String padding, long weightSeed) {
        Tensor xt = Tensor.of(x, n, h, w, c).to(dtype).setRequiresGrad(true);
        Tensor kt = Tensor.of(k, size, size, c, oc).to(dtype).setRequiresGrad(true);
        Tensor bt = Tensor.of(b, oc).to(dtype).setRequiresGrad(true);
        Tensor y = Convolution.conv2d(xt, kt, bt, ONE, padding, ONE);
        double[] weights = random(new SplittableRandom(weightSeed), (int) y.numel());
        y.mul(Tensor.of(weights, y.shape()).to(dtype)).sum().backward();
        return new double[][] {y.toDoubleArray(), xt.grad().toDoubleArray(), kt.grad().toDoubleArray(),
                bt.grad().toDoubleArray()};
    }

    /** Uniform in [-1, 1). */
    static double[] random(SplittableRandom r, int n) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = r.nextDouble() * 2 - 1;
        return v;
    }
}
