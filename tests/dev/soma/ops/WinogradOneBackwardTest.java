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
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static dev.soma.ops.WinogradConvTest.random;
import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The Winograd convolution's two backward passes run as one sweep (soma_cpu_winograd_conv2d_backward) for a batch of
 * 8 or more images that wants both gradients (which calls take it: dev.soma.backend.WinogradOneBackwardChoiceTest).
 * A plain convolution against float64. A convolution, ReLU and max pooling run as one op against the same layer as
 * separate ops whose passes run apart (one call wanting only the input gradient, one only the kernel's; those
 * passes are checked against float64 in WinogradConvTest): the same output, input and bias gradients bit for bit, the kernel gradient (summed in other groups) within float32 rounding. Not against
 * float64 directly: a ReLU or a pooling window whose float32 and float64 choices differ (an output within rounding
 * of zero or of its window's maximum) moves a whole term of the kernel gradient, several percent. And the same bits
 * on one thread as on all. Random geometries (3x3, 5x5 and 7x7 kernels, 4x4, 6x6 and 9x9 ones as pieces, images smaller than one tile, "same" and
 * "valid"), a fresh seed per run ({@code -Dsoma.winograd.seed=S}).
 */
@ExtendWith(NoLeaks.class)
class WinogradOneBackwardTest {
    private static final long SEED = Long.getLong("soma.winograd.seed", System.nanoTime());
    private static final int[] ONE = {1, 1}, POOL = {2, 2};
    private static final String[] RESULTS = {"output", "input gradient", "kernel gradient", "bias gradient"};

    private record Layer(int n, int h, int w, int c, int k, int oc, String padding) {
        @Override
        public String toString() {
            return "x [" + n + ", " + h + ", " + w + ", " + c + "], kernel " + k + "x" + k + " -> " + oc + ", " + padding
                    + ", max pool 2x2";
        }
    }

    private static Layer randomLayer(SplittableRandom r) {
        int k = new int[] {3, 5, 7, 4, 6, 9}[r.nextInt(6)];
        String padding = r.nextInt(3) == 0 ? "valid" : "same";
        int min = (padding.equals("valid") ? k : 1) + 1;
        return new Layer(r.nextInt(8, 13), r.nextInt(min, 15), r.nextInt(min, 15), r.nextInt(16, 41),
                k, r.nextInt(16, 41), padding);
    }

    @Test
    void randomLayersAgreeWithTheSeparatePasses() {
        SplittableRandom r = new SplittableRandom(SEED);
        List<String> wrong = new ArrayList<>();
        double worst = 0;
        for (int trial = 0; trial < 16; trial++) {
            Layer l = randomLayer(r);
            long seed = r.nextLong();
            try (Scope s = Scope.open()) {
                String[] impl = Convolution.implementations(Tensor.zeros(l.n, l.h, l.w, l.c), Tensor.zeros(l.k, l.k,
                        l.c, l.oc), Tensor.zeros(l.oc), ONE, l.padding, ONE);
                assertTrue(impl[0].startsWith("soma winograd"), l + ": runs " + impl[0]);
                double[][] fused = results(l, seed, true, true, true);
                double[][] apart = apart(l, seed);
                for (int i : new int[] {0, 1, 3}) {
                    if (!Arrays.equals(fused[i], apart[i])) wrong.add(l + ", " + RESULTS[i] + ": not the separate ops' bits");
                }
                double kernel = Reference.relativeError(fused[2], apart[2]);
                worst = Math.max(worst, kernel);
                if (!(kernel <= 1e-4)) wrong.add(l + ", kernel gradient: relative difference " + kernel);
            }
        }
        assertTrue(wrong.isEmpty(), "seed " + SEED + ":\n" + String.join("\n", wrong));
        System.out.println("Winograd's one backward against the separate passes, 16 random layers: worst kernel "
                + "gradient difference " + worst);
    }

    @Test
    void plainConvolutionsAgreeWithFloat64() {
        SplittableRandom r = new SplittableRandom(SEED);
        List<String> wrong = new ArrayList<>();
        double worst = 0;
        for (int trial = 0; trial < 12; trial++) {
            Layer l = randomLayer(r);
            long seed = r.nextLong();
            try (Scope s = Scope.open()) {
                double[][] f32 = plain(l, seed, DType.F32);
                double[][] f64 = plain(l, seed, DType.F64);
                for (int i = 0; i < 4; i++) {
                    double error = Reference.relativeError(f32[i], f64[i]);
                    worst = Math.max(worst, error);
                    if (!(error <= 1e-4)) wrong.add(l + " (no ReLU, no pool), " + RESULTS[i] + ": relative error " + error);
                }
            }
        }
        assertTrue(wrong.isEmpty(), "seed " + SEED + ":\n" + String.join("\n", wrong));
        System.out.println("Winograd's one backward against float64, 12 random plain convolutions: worst relative "
                + "error " + worst);
    }

    @Test
    void resultsAreTheSameBitsOnOneThreadAndOnAll() {
        assumeTrue(ComputeThreads.max() > 1, "one CPU only");
        Layer l = new Layer(9, 12, 10, 24, 5, 20, "same");
        double[][] all, one;
        try (Scope s = Scope.open()) {
            all = results(l, SEED, true, true, true);
        }
        try (Scope s = Scope.open(); ComputeThreads.Limit limit = ComputeThreads.atMost(1)) {
            one = results(l, SEED, true, true, true);
        }
        for (int i = 0; i < 4; i++) assertArrayEquals(all[i], one[i], "seed " + SEED + ", " + RESULTS[i]);
    }

    /**
     * The results of the fused op and of the separate ops, whose passes run apart: the input gradient from a call
     * with the kernel frozen, the kernel's and the bias's from one with the input frozen.
     */
    private static double[][] apart(Layer l, long seed) {
        double[][] data = results(l, seed, false, true, false);
        double[][] weights = results(l, seed, false, false, true);
        return new double[][] {data[0], data[1], weights[2], weights[3]};
    }

    /**
     * The output and the gradients (null where not wanted) of x, kernel and bias (float32) for a random weighting of
     * the output, through the fused op or through the convolution with ReLU and the pooling as separate ops.
     */
    private static double[][] results(Layer l, long seed, boolean fused, boolean wantX, boolean wantKernel) {
        SplittableRandom r = new SplittableRandom(seed);
        Tensor x = Tensor.of(random(r, l.n * l.h * l.w * l.c), l.n, l.h, l.w, l.c).to(DType.F32).setRequiresGrad(wantX);
        Tensor k = Tensor.of(random(r, l.k * l.k * l.c * l.oc), l.k, l.k, l.c, l.oc).to(DType.F32).setRequiresGrad(wantKernel);
        Tensor b = Tensor.of(random(r, l.oc), l.oc).to(DType.F32).setRequiresGrad(true);
        Tensor y = fused
                ? ConvolutionPooling.conv2dReluMaxPool(x, k, b, ONE, l.padding, ONE, POOL, null, "valid")
                : Pooling.maxPool2d(Convolution.conv2dRelu(x, k, b, ONE, l.padding, ONE), POOL, null, "valid");
        if (fused) assertEquals("conv2dReluMaxPool", y.gradFn().op(), l + ": the fused op did not run");
        y.mul(Tensor.of(random(r, (int) y.numel()), y.shape()).to(DType.F32)).sum().backward();
        return new double[][] {y.toDoubleArray(), wantX ? x.grad().toDoubleArray() : null,
                wantKernel ? k.grad().toDoubleArray() : null, b.grad().toDoubleArray()};
    }

    /** The same for a plain convolution (no ReLU, no pooling) in either dtype. */
    private static double[][] plain(Layer l, long seed, DType dtype) {
        SplittableRandom r = new SplittableRandom(seed);
        Tensor x = Tensor.of(random(r, l.n * l.h * l.w * l.c), l.n, l.h, l.w, l.c).to(dtype).setRequiresGrad(true);
        Tensor k = Tensor.of(random(r, l.k * l.k * l.c * l.oc), l.k, l.k, l.c, l.oc).to(dtype).setRequiresGrad(true);
        Tensor b = Tensor.of(random(r, l.oc), l.oc).to(dtype).setRequiresGrad(true);
        Tensor y = Convolution.conv2d(x, k, b, ONE, l.padding, ONE);
        y.mul(Tensor.of(random(r, (int) y.numel()), y.shape()).to(dtype)).sum().backward();
        return new double[][] {y.toDoubleArray(), x.grad().toDoubleArray(), k.grad().toDoubleArray(),
                b.grad().toDoubleArray()};
    }
}
