package dev.soma.ops;

import dev.soma.autograd.Gradcheck;
import dev.soma.backend.ComputeThreads;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.Reference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * conv2d backward: float64 gradient checks (direct loops) for x, kernel and bias over strides, paddings and
 * dilations; the float32 oneDNN backward-data and backward-weights passes against those checked f64 gradients.
 */
@ExtendWith(NoLeaks.class)
class ConvGradTest {
    /** N, H, W, C, KH, KW, OC, SH, SW, DH, DW, same (1/0). */
    private static final int[][] CASES = {
        {2, 5, 5, 2, 3, 3, 3, 1, 1, 1, 1, 0},
        {2, 5, 6, 2, 3, 3, 3, 1, 1, 1, 1, 1},
        {1, 7, 7, 2, 3, 2, 2, 2, 2, 1, 1, 1},
        {2, 7, 6, 1, 2, 2, 3, 2, 1, 1, 1, 0},
        {1, 7, 7, 2, 3, 3, 2, 1, 1, 2, 2, 1},
        {1, 8, 7, 2, 2, 3, 2, 1, 2, 3, 2, 0},
    };

    @Test
    void gradientsOfInputKernelAndBias() {
        SplittableRandom r = new SplittableRandom(5);
        for (int[] c : CASES) {
            try (Scope s = Scope.open()) {
                Tensor x = Tensor.of(ConvForwardTest.random(r, c[0] * c[1] * c[2] * c[3]), c[0], c[1], c[2], c[3]);
                Tensor k = Tensor.of(ConvForwardTest.random(r, c[4] * c[5] * c[3] * c[6]), c[4], c[5], c[3], c[6]);
                Tensor b = Tensor.of(ConvForwardTest.random(r, c[6]), c[6]);
                int[] st = {c[7], c[8]};
                int[] dl = {c[9], c[10]};
                String pad = c[11] == 1 ? "same" : "valid";
                String label = "conv2d " + Arrays.toString(c);
                Gradcheck.assertGradients(label, xs -> Convolution.conv2d(xs[0], xs[1], xs[2], st, pad, dl), x, k, b);
                Gradcheck.assertGradients(label + " no bias", xs -> Convolution.conv2d(xs[0], xs[1], null, st, pad, dl), x, k);
                Gradcheck.assertGradients(label + " relu", xs -> Convolution.conv2dRelu(xs[0], xs[1], xs[2], st, pad, dl), x, k, b);
            }
        }
    }

    @Test
    void onlyBiasOrOnlyInputNeedGradients() {
        SplittableRandom r = new SplittableRandom(6);
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(ConvForwardTest.random(r, 2 * 4 * 4 * 2), 2, 4, 4, 2);
            Tensor k = Tensor.of(ConvForwardTest.random(r, 2 * 2 * 2 * 3), 2, 2, 2, 3);
            Tensor b = Tensor.of(ConvForwardTest.random(r, 3), 3);
            int[] one = {1, 1};
            Gradcheck.assertGradients("conv2d bias only", xs -> Convolution.conv2d(x, k, xs[0], one, "same", one), b);
            Gradcheck.assertGradients("conv2d input only", xs -> Convolution.conv2d(xs[0], k, b, one, "same", one), x);
            Gradcheck.assertGradients("conv2d kernel only", xs -> Convolution.conv2d(x, xs[0], b, one, "same", one), k);
        }
    }

    /** The f32 passes (oneDNN) give the f64 passes' gradients (gradient-checked above) on the same values. */
    @Test
    void oneDnnBackwardMatchesTheCheckedF64Backward() {
        SplittableRandom r = new SplittableRandom(8);
        int[][] cases = {
            {2, 9, 9, 3, 3, 3, 4, 1, 1, 1, 1, 1},
            {2, 10, 9, 4, 3, 3, 8, 2, 2, 1, 1, 1},
            {2, 9, 11, 3, 2, 4, 5, 1, 2, 1, 1, 1},
            {2, 11, 11, 3, 3, 3, 4, 1, 1, 2, 2, 0},
            {2, 12, 12, 16, 3, 3, 32, 1, 1, 1, 1, 1},
            {3, 8, 8, 1, 3, 3, 8, 1, 1, 1, 1, 1},
        };
        for (int[] c : cases) {
            double[] xv = ConvForwardTest.random(r, c[0] * c[1] * c[2] * c[3]);
            double[] kv = ConvForwardTest.random(r, c[4] * c[5] * c[3] * c[6]);
            double[] bv = ConvForwardTest.random(r, c[6]);
            for (boolean relu : new boolean[] {false, true}) {
                double[][] g64 = grads(DType.F64, c, xv, kv, bv, relu);
                double[][] g32 = grads(DType.F32, c, xv, kv, bv, relu);
                String[] names = {"output", "input", "kernel", "bias"};
                for (int i = 0; i < 4; i++) {
                    double err = Reference.relativeError(g32[i], g64[i]);
                    assertTrue(err <= Reference.REDUCTION_F32,
                            Arrays.toString(c) + (relu ? " relu " : " ") + names[i] + ": relative error " + err);
                }
            }
        }
    }

    /**
     * An f32 pass's bias gradient is our column sum of the output gradient (CpuConv), summed in double in blocks
     * fixed by the shape: the same bits on one thread as on all, and the exact sum of the rows to one f32 step.
     */
    @Test
    void float32BiasGradientIsTheColumnSumOnAnyThreadCount() {
        assumeTrue(ComputeThreads.max() > 1, "needs two threads to compare with one");
        SplittableRandom r = new SplittableRandom(9);
        int n = 8, h = 28, w = 28, c = 1, oc = 16;
        double[] xv = ConvForwardTest.random(r, n * h * w * c);
        double[] kv = ConvForwardTest.random(r, 3 * 3 * c * oc);
        double[] gv = ConvForwardTest.random(r, n * h * w * oc);
        float[] all = biasGradient(xv, kv, gv, n, h, w, c, oc, ComputeThreads.max());
        float[] one = biasGradient(xv, kv, gv, n, h, w, c, oc, 1);
        assertArrayEquals(all, one, "bias gradient on " + ComputeThreads.max() + " threads and on 1");
        for (int o = 0; o < oc; o++) {
            double sum = 0;
            for (int row = 0; row < n * h * w; row++) sum += (float) gv[row * oc + o];
            // Summed in double and rounded once, it is within one f32 step of the exact sum. oneDNN's own f32 bias
            // pass, which this replaced, was 20 steps off in the first column (-110.74144 for -110.74113).
            assertEquals(sum, all[o], Math.ulp((float) sum), "bias gradient [" + o + "]");
        }
    }

    private static float[] biasGradient(double[] xv, double[] kv, double[] gv, int n, int h, int w, int c, int oc,
                                        int threads) {
        try (Scope s = Scope.open(); var t = ComputeThreads.atMost(threads)) {
            Tensor x = ConvForwardTest.tensor(xv, DType.F32, n, h, w, c);
            Tensor k = ConvForwardTest.tensor(kv, DType.F32, 3, 3, c, oc).setRequiresGrad(true);
            Tensor b = Tensor.zeros(DType.F32, x.device(), oc).setRequiresGrad(true);
            int[] one = {1, 1};
            Convolution.conv2d(x, k, b, one, "same", one).backward(ConvForwardTest.tensor(gv, DType.F32, n, h, w, oc));
            float[] out = b.grad().toFloatArray();
            k.zeroGrad();
            b.zeroGrad();
            return out;
        }
    }

    /** Output and gradients of sum(w * conv(x)) for fixed pseudo-random w, all as double arrays. */
    private static double[][] grads(DType dt, int[] c, double[] xv, double[] kv, double[] bv, boolean relu) {
        try (Scope s = Scope.open()) {
            Tensor x = ConvForwardTest.tensor(xv, dt, c[0], c[1], c[2], c[3]).setRequiresGrad(true);
            Tensor k = ConvForwardTest.tensor(kv, dt, c[4], c[5], c[3], c[6]).setRequiresGrad(true);
            Tensor b = ConvForwardTest.tensor(bv, dt, c[6]).setRequiresGrad(true);
            int[] st = {c[7], c[8]};
            int[] dl = {c[9], c[10]};
            String pad = c[11] == 1 ? "same" : "valid";
            Tensor y = relu ? Convolution.conv2dRelu(x, k, b, st, pad, dl) : Convolution.conv2d(x, k, b, st, pad, dl);
            double[] wv = new double[(int) y.numel()];
            for (int i = 0; i < wv.length; i++) wv[i] = Math.sin(0.37 * i) + 0.1;
            y.backward(ConvForwardTest.tensor(wv, dt, y.shape()));
            double[][] out = {y.toDoubleArray(), x.grad().toDoubleArray(), k.grad().toDoubleArray(), b.grad().toDoubleArray()};
            x.zeroGrad();
            k.zeroGrad();
            b.zeroGrad();
            return out;
        }
    }
}
