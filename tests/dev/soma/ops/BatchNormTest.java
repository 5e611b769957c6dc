package dev.soma.ops;

import dev.soma.autograd.Gradcheck;
import dev.soma.errors.ClosedTensorException;
import dev.soma.errors.DTypeException;
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

import static org.junit.jupiter.api.Assertions.*;

/**
 * The fused batch normalisation op (training): y, the batch mean and variance against a float64 loop in the test,
 * gradients of x, gamma and beta by finite differences (float64), and misuse rejected before any native call.
 */
@ExtendWith(NoLeaks.class)
class BatchNormTest {
    /** Shapes: NHWC, 2-D, 3-D, rows not a multiple of anything, one row, and many chunks x two column bands. */
    private static final long[][] SHAPES = {{2, 3, 4, 5}, {7, 3}, {5, 11, 13}, {1, 4}, {37, 1}, {3000, 300}};

    private static Tensor randn(long seed, DType dtype, long... shape) {
        return Creation.randn(seed, dtype, Device.cpu(), shape);
    }

    /** y, mean and population variance per channel of a rows x cols array, in float64. */
    private static double[][] reference(double[] x, double[] gamma, double[] beta, int cols, double eps) {
        int rows = x.length / cols;
        double[] mean = new double[cols], var = new double[cols], y = new double[x.length];
        for (int c = 0; c < cols; c++) {
            double s = 0;
            for (int r = 0; r < rows; r++) s += x[r * cols + c];
            mean[c] = s / rows;
            double v = 0;
            for (int r = 0; r < rows; r++) v += (x[r * cols + c] - mean[c]) * (x[r * cols + c] - mean[c]);
            var[c] = v / rows;
            for (int r = 0; r < rows; r++) {
                double xh = (x[r * cols + c] - mean[c]) / Math.sqrt(var[c] + eps);
                y[r * cols + c] = xh * (gamma == null ? 1 : gamma[c]) + (beta == null ? 0 : beta[c]);
            }
        }
        return new double[][] {y, mean, var};
    }

    @Test
    void forwardMatchesAFloat64Loop() {
        for (DType dtype : new DType[] {DType.F32, DType.F64}) {
            for (long[] shape : SHAPES) {
                for (boolean affine : new boolean[] {true, false}) {
                    try (Scope s = Scope.open()) {
                        int cols = (int) shape[shape.length - 1];
                        Tensor x = randn(1, dtype, shape).mul(3).add(5);  // a mean and a scale to remove
                        Tensor g = affine ? randn(2, dtype, cols) : null;
                        Tensor b = affine ? randn(3, dtype, cols) : null;
                        double[][] ref = reference(x.toDoubleArray(), affine ? g.toDoubleArray() : null,
                                affine ? b.toDoubleArray() : null, cols, 1e-3);
                        BatchNorm.Result r = BatchNorm.training(x, g, b, 1e-3);
                        String what = dtype + " " + Arrays.toString(shape) + (affine ? " affine" : "");
                        assertArrayEquals(shape, r.y().shape(), what);
                        assertArrayEquals(new long[] {cols}, r.mean().shape(), what);
                        assertArrayEquals(new long[] {cols}, r.variance().shape(), what);
                        boolean f32 = dtype == DType.F32;
                        assertClose(what + " y", r.y(), ref[0], f32 ? Reference.ELEMENTWISE_F32 : 1e-12);
                        assertClose(what + " mean", r.mean(), ref[1], f32 ? Reference.REDUCTION_F32 : 1e-12);
                        assertClose(what + " variance", r.variance(), ref[2], f32 ? Reference.REDUCTION_F32 : 1e-12);
                    }
                }
            }
        }
    }

    @Test
    void oneRowGivesZeroVarianceAndBeta() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(new double[] {3, -1, 7}, 1, 3);
            Tensor b = Tensor.of(new double[] {0.5, 1, 2}, 3);
            BatchNorm.Result r = BatchNorm.training(x, Tensor.of(new double[] {2, 2, 2}, 3), b, 1e-3);
            assertArrayEquals(new double[] {0, 0, 0}, r.variance().toDoubleArray());
            assertArrayEquals(b.toDoubleArray(), r.y().toDoubleArray(), 1e-15);
        }
    }

    @Test
    void gradientsOfXGammaAndBetaMatchFiniteDifferences() {
        try (Scope s = Scope.open()) {
            for (long[] shape : new long[][] {{2, 3, 4, 5}, {7, 3}, {3, 5, 7}, {3, 1}}) {
                int cols = (int) shape[shape.length - 1];
                Tensor x = randn(4, DType.F64, shape).mul(2).add(1);
                Tensor g = randn(5, DType.F64, cols);
                Tensor b = randn(6, DType.F64, cols);
                String what = "batchNorm " + Arrays.toString(shape);
                Gradcheck.assertGradients(what, xs -> BatchNorm.training(xs[0], xs[1], xs[2], 1e-3).y(), x, g, b);
                Gradcheck.assertGradients(what + " scale only",
                        xs -> BatchNorm.training(xs[0], xs[1], null, 1e-3).y(), x, g);
                Gradcheck.assertGradients(what + " no affine", xs -> BatchNorm.training(xs[0], null, null, 1e-3).y(), x);
            }
            // A non-contiguous input (the op copies it dense; the gradient flows back through the transpose).
            Tensor xt = randn(7, DType.F64, 6, 9);
            Tensor g = randn(8, DType.F64, 6);
            Gradcheck.assertGradients("batchNorm transposed input",
                    xs -> BatchNorm.training(xs[0].transpose(0, 1), xs[1], null, 1e-5).y(), xt, g);
        }
    }

    @Test
    void rejectsBadArgumentsBeforeAnyNativeCall() {
        try (Scope s = Scope.open()) {
            Tensor x = randn(1, DType.F32, 2, 3, 5);
            ShapeException e = assertThrows(ShapeException.class, () -> BatchNorm.training(x, Tensor.ones(4), null, 1e-3));
            assertTrue(e.getMessage().contains("batchNorm") && e.getMessage().contains("[4]")
                    && e.getMessage().contains("[5]"), e.getMessage());
            assertThrows(ShapeException.class, () -> BatchNorm.training(x, null, Tensor.ones(1, 5), 1e-3));
            DTypeException d = assertThrows(DTypeException.class,
                    () -> BatchNorm.training(x, Tensor.ones(DType.F64, Device.cpu(), 5), null, 1e-3));
            assertTrue(d.getMessage().contains("batchNorm") && d.getMessage().contains("float64"), d.getMessage());
            d = assertThrows(DTypeException.class,
                    () -> BatchNorm.training(Tensor.ofInts(new int[] {1, 2}, 2, 1), null, null, 1e-3));
            assertTrue(d.getMessage().contains("batchNorm") && d.getMessage().contains("int32"), d.getMessage());
            SomaException eps = assertThrows(SomaException.class, () -> BatchNorm.training(x, null, null, 0));
            assertTrue(eps.getMessage().contains("epsilon"), eps.getMessage());
            assertThrows(SomaException.class, () -> BatchNorm.training(x, null, null, Double.NaN));
            assertThrows(SomaException.class, () -> BatchNorm.training(x, null, null, Double.POSITIVE_INFINITY));
            assertThrows(ShapeException.class, () -> BatchNorm.training(Tensor.scalar(1), null, null, 1e-3));
            ShapeException rows = assertThrows(ShapeException.class,
                    () -> BatchNorm.training(Tensor.zeros(0, 4), null, null, 1e-3));
            assertTrue(rows.getMessage().contains("batchNorm") && rows.getMessage().contains("[0, 4]"), rows.getMessage());
            assertThrows(ShapeException.class, () -> BatchNorm.training(Tensor.zeros(3, 0), null, null, 1e-3));
            assertThrows(NullPointerException.class, () -> BatchNorm.training(null, null, null, 1e-3));
            Tensor closed = randn(2, DType.F32, 3, 5);
            closed.close();
            assertThrows(ClosedTensorException.class, () -> BatchNorm.training(closed, null, null, 1e-3));
            Tensor closedGamma = Tensor.ones(5);
            closedGamma.close();
            assertThrows(ClosedTensorException.class, () -> BatchNorm.training(x, closedGamma, null, 1e-3));
        }
    }

    private static void assertClose(String what, Tensor out, double[] ref, double bound) {
        double err = Reference.relativeError(out.toDoubleArray(), ref);
        assertTrue(err <= bound, what + ": relative error " + err + " exceeds " + bound);
    }
}
