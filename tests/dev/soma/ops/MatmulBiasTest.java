package dev.soma.ops;

import dev.soma.autograd.Gradcheck;
import dev.soma.errors.ShapeException;
import dev.soma.errors.SomaException;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.Reference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code a @ b + bias} (a dense layer's affine map): in f32 through oneDNN's matmul with its bias argument, in f64
 * through the product and a separate add; both against a plain float64 loop, gradients against finite differences
 * (f64) and against the float64 gradients (f32, the fused kernel).
 */
@ExtendWith(NoLeaks.class)
class MatmulBiasTest {
    private final SplittableRandom random = new SplittableRandom(17);

    private double[] gaussian(long n) {
        double[] v = new double[(int) n];
        for (int i = 0; i < v.length; i++) v[i] = random.nextGaussian();
        return v;
    }

    /** Row-major a[..., M, K] @ b[K, N] + bias[N] in float64. */
    private static double[] reference(double[] a, long[] aShape, double[] b, long[] bShape, double[] bias) {
        double[] y = MatmulReference.matmul(a, aShape, b, bShape);
        int n = bias.length;
        for (int i = 0; i < y.length; i++) y[i] += bias[i % n];
        return y;
    }

    @Test
    void forwardMatchesAPlainLoopInBothDtypes() {
        // 2-d, 3-d rows merged into one product, 4-d, one row, K = 1, sizes off any kernel block.
        long[][][] shapes = {{{5, 7}, {7, 3}}, {{4, 100, 64}, {64, 64}}, {{2, 3, 5, 9}, {9, 11}}, {{1, 6}, {6, 2}},
                {{13, 1}, {1, 17}}, {{3, 33, 70}, {70, 129}}};
        try (Scope s = Scope.open()) {
            for (DType dtype : new DType[] {DType.F32, DType.F64}) {
                for (long[][] sh : shapes) {
                    long n = sh[1][1];
                    double[] a = gaussian(Shapes.numel(sh[0]));
                    double[] b = gaussian(Shapes.numel(sh[1]));
                    double[] bias = gaussian(n);
                    Tensor y = Linalg.matmulBias(Tensor.of(a, sh[0]).to(dtype), Tensor.of(b, sh[1]).to(dtype),
                            Tensor.of(bias, n).to(dtype));
                    long[] expectedShape = sh[0].clone();
                    expectedShape[expectedShape.length - 1] = n;
                    String what = Arrays.toString(sh[0]) + " @ " + Arrays.toString(sh[1]) + " " + dtype;
                    assertArrayEquals(expectedShape, y.shape(), what);
                    assertEquals(dtype, y.dtype(), what);
                    double[] ref = reference(roundedTo(a, dtype), sh[0], roundedTo(b, dtype), sh[1], roundedTo(bias, dtype));
                    Reference.assertClose(y.toDoubleArray(), ref, dtype == DType.F32 ? Reference.REDUCTION_F32 : 1e-12);
                }
            }
        }
    }

    @Test
    void stridedEmptyAndBroadcastCases() {
        try (Scope s = Scope.open()) {
            // a transposed view [M, K] of a stored [K, M]: read in place or copied, the same values.
            double[] at = gaussian(6 * 4);
            double[] b = gaussian(6 * 5);
            double[] bias = gaussian(5);
            Tensor a = Tensor.of(at, 6, 4).to(DType.F32).transpose(0, 1);
            double[] aPlain = new double[4 * 6];
            for (int i = 0; i < 4; i++) for (int k = 0; k < 6; k++) aPlain[i * 6 + k] = (float) at[k * 4 + i];
            Tensor y = Linalg.matmulBias(a, Tensor.of(b, 6, 5).to(DType.F32), Tensor.of(bias, 5).to(DType.F32));
            Reference.assertClose(y.toDoubleArray(), reference(aPlain, new long[] {4, 6}, roundedTo(b, DType.F32),
                    new long[] {6, 5}, roundedTo(bias, DType.F32)), Reference.REDUCTION_F32);
            // A strided bias (every other element of a wider vector), through the fused kernel (f32) and apart (f64).
            double[] wide = gaussian(10);
            double[] picked = new double[5];
            for (int i = 0; i < 5; i++) picked[i] = wide[2 * i];
            for (DType dtype : new DType[] {DType.F32, DType.F64}) {
                Tensor strided = Tensor.of(wide, 5, 2).to(dtype).select(1, 0);
                assertFalse(strided.isContiguous());
                Tensor ys = Linalg.matmulBias(Tensor.of(aPlain, 4, 6).to(dtype), Tensor.of(b, 6, 5).to(dtype), strided);
                Reference.assertClose(ys.toDoubleArray(), reference(aPlain, new long[] {4, 6}, roundedTo(b, dtype),
                        new long[] {6, 5}, roundedTo(picked, dtype)), dtype == DType.F32 ? Reference.REDUCTION_F32 : 1e-12);
            }
            // K = 0: every row is the bias. M = 0: an empty result.
            Tensor k0 = Linalg.matmulBias(zeros(DType.F32, 3, 0), zeros(DType.F32, 0, 5),
                    Tensor.of(bias, 5).to(DType.F32));
            double[] rows = new double[15];
            for (int i = 0; i < 15; i++) rows[i] = (float) bias[i % 5];
            assertArrayEquals(rows, k0.toDoubleArray());
            Tensor m0 = Linalg.matmulBias(zeros(DType.F32, 0, 4), zeros(DType.F32, 4, 5),
                    Tensor.of(bias, 5).to(DType.F32));
            assertArrayEquals(new long[] {0, 5}, m0.shape());
        }
    }

    @Test
    void gradientsMatchFiniteDifferencesAndFloat64() {
        try (Scope s = Scope.open()) {
            Gradcheck.assertGradients("matmulBias 2-d", xs -> Linalg.matmulBias(xs[0], xs[1], xs[2]),
                    Tensor.of(gaussian(12), 3, 4), Tensor.of(gaussian(20), 4, 5), Tensor.of(gaussian(5), 5));
            Gradcheck.assertGradients("matmulBias 3-d", xs -> Linalg.matmulBias(xs[0], xs[1], xs[2]),
                    Tensor.of(gaussian(24), 2, 3, 4), Tensor.of(gaussian(8), 4, 2), Tensor.of(gaussian(2), 2));
            // The f32 fused kernel's gradients against the same graph in float64.
            long[] as = {2, 37, 19};
            double[] a = roundedTo(gaussian(Shapes.numel(as)), DType.F32);
            double[] b = roundedTo(gaussian(19 * 23), DType.F32);
            double[] bias = roundedTo(gaussian(23), DType.F32);
            double[] g = roundedTo(gaussian(2 * 37 * 23), DType.F32);
            double[][] grads = new double[2][];
            double[][] outs = new double[2][];
            DType[] dtypes = {DType.F32, DType.F64};
            for (int i = 0; i < 2; i++) {
                Tensor ta = Tensor.of(a, as).to(dtypes[i]).setRequiresGrad(true);
                Tensor tb = Tensor.of(b, 19, 23).to(dtypes[i]).setRequiresGrad(true);
                Tensor tbias = Tensor.of(bias, 23).to(dtypes[i]).setRequiresGrad(true);
                Tensor y = Linalg.matmulBias(ta, tb, tbias);
                y.backward(Tensor.of(g, 2, 37, 23).to(dtypes[i]));
                outs[i] = y.toDoubleArray();
                grads[i] = concat(ta.grad().toDoubleArray(), tb.grad().toDoubleArray(), tbias.grad().toDoubleArray());
            }
            Reference.assertClose(outs[0], outs[1], Reference.REDUCTION_F32);
            Reference.assertClose(grads[0], grads[1], Reference.REDUCTION_F32);
        }
    }

    /** In a bf16 scope the fused kernel multiplies in bf16 and adds the f32 bias: as the product and add apart. */
    @Test
    void inABf16ScopeTheFusedBiasMatchesTheProductAndAddApart() {
        String why = dev.soma.backend.MixedPrecision.bf16UnsupportedReason();
        org.junit.jupiter.api.Assumptions.assumeTrue(why == null, () -> "bf16: " + why);
        long[] as = {3, 40, 48};
        double[] a = gaussian(Shapes.numel(as));
        double[] w = gaussian(48 * 33);
        double[] bias = gaussian(33);
        double[] g = gaussian(3 * 40 * 33);
        double[][] fused = new double[4][];
        double[][] apart = new double[4][];
        for (boolean fuse : new boolean[] {true, false}) {
            try (Scope s = Scope.open();
                 dev.soma.backend.MixedPrecision.Scope p = dev.soma.backend.MixedPrecision.use(dev.soma.tensor.Precision.BF16)) {
                Tensor ta = Tensor.of(a, as).to(DType.F32).setRequiresGrad(true);
                Tensor tw = Tensor.of(w, 48, 33).to(DType.F32).setRequiresGrad(true);
                Tensor tb = Tensor.of(bias, 33).to(DType.F32).setRequiresGrad(true);
                Tensor y = fuse ? Linalg.matmulBias(ta, tw, tb) : ta.matmul(tw).add(tb);
                y.backward(Tensor.of(g, 3, 40, 33).to(DType.F32));
                double[][] r = {y.toDoubleArray(), ta.grad().toDoubleArray(), tw.grad().toDoubleArray(),
                        tb.grad().toDoubleArray()};
                if (fuse) fused = r;
                else apart = r;
            }
        }
        for (int i = 0; i < 4; i++) Reference.assertClose(fused[i], apart[i], 1e-6);
        // and the products did run in bf16: the output is off the f32 one by bf16's rounding, not f32's
        double[] f32 = reference(roundedTo(a, DType.F32), as, roundedTo(w, DType.F32), new long[] {48, 33},
                roundedTo(bias, DType.F32));
        assertTrue(Reference.relativeError(fused[0], f32) > 1e-4, "the fused product did not multiply in bf16");
    }

    @Test
    void badInputIsRefusedNamingTheOpAndShapes() {
        try (Scope s = Scope.open()) {
            Tensor a = zeros(DType.F32, 3, 4);
            Tensor w = zeros(DType.F32, 4, 5);
            ShapeException bias = assertThrows(ShapeException.class,
                    () -> Linalg.matmulBias(a, w, zeros(DType.F32, 4)));
            assertTrue(bias.getMessage().startsWith("matmulBias: expected weights [K, N] and a bias [N]"), bias.getMessage());
            assertTrue(bias.getMessage().contains("[4]"), bias.getMessage());
            assertThrows(ShapeException.class, () -> Linalg.matmulBias(a, zeros(DType.F32, 1, 4, 5),
                    zeros(DType.F32, 5)));
            ShapeException vector = assertThrows(ShapeException.class,
                    () -> Linalg.matmulBias(zeros(DType.F32, 4), w, zeros(DType.F32, 5)));
            assertTrue(vector.getMessage().contains("rank 2 or more"), vector.getMessage());
            ShapeException inner = assertThrows(ShapeException.class,
                    () -> Linalg.matmulBias(zeros(DType.F32, 3, 6), w, zeros(DType.F32, 5)));
            assertTrue(inner.getMessage().contains("inner dimensions differ"), inner.getMessage());
            SomaException dtype = assertThrows(SomaException.class,
                    () -> Linalg.matmulBias(a, w, zeros(DType.F64, 5)));
            assertTrue(dtype.getMessage().contains("matmulBias"), dtype.getMessage());
            SomaException ints = assertThrows(SomaException.class, () -> Linalg.matmulBias(zeros(DType.I32, 3, 4),
                    zeros(DType.I32, 4, 5), zeros(DType.I32, 5)));
            assertTrue(ints.getMessage().contains("matmul"), ints.getMessage());
        }
    }

    private static Tensor zeros(DType dtype, long... shape) {
        return Tensor.zeros(dtype, Device.cpu(), shape);
    }

    private static double[] roundedTo(double[] v, DType dtype) {
        if (dtype == DType.F64) return v;
        double[] r = new double[v.length];
        for (int i = 0; i < v.length; i++) r[i] = (float) v[i];
        return r;
    }

    private static double[] concat(double[]... parts) {
        return Arrays.stream(parts).flatMapToDouble(Arrays::stream).toArray();
    }
}
