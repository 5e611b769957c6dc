package dev.soma.ops;

import dev.soma.autograd.Gradcheck;
import dev.soma.errors.DTypeException;
import dev.soma.errors.ShapeException;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.Reference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** upsampleNearest2d: forward against plain Java loops, f64 gradients, bad inputs. */
@ExtendWith(NoLeaks.class)
class ResizeTest {
    /** N, H, W, C, SH, SW. */
    private static final int[][] CASES = {{2, 3, 4, 3, 2, 2}, {1, 5, 2, 1, 3, 1}, {3, 1, 1, 4, 1, 4}, {2, 2, 3, 2, 1, 1}};

    private static double[] reference(double[] x, int[] c) {
        int n = c[0], h = c[1], w = c[2], ch = c[3], sh = c[4], sw = c[5];
        double[] y = new double[n * h * sh * w * sw * ch];
        for (int b = 0; b < n; b++)
            for (int i = 0; i < h * sh; i++)
                for (int j = 0; j < w * sw; j++)
                    for (int k = 0; k < ch; k++)
                        y[((b * h * sh + i) * w * sw + j) * ch + k] = x[((b * h + i / sh) * w + j / sw) * ch + k];
        return y;
    }

    @Test
    void forwardRepeatsEveryPixelIntoABlock() {
        SplittableRandom r = new SplittableRandom(3);
        for (int[] c : CASES) {
            double[] xv = ConvForwardTest.random(r, c[0] * c[1] * c[2] * c[3]);
            for (DType dt : new DType[] {DType.F32, DType.F64}) {
                try (Scope s = Scope.open()) {
                    Tensor x = ConvForwardTest.tensor(xv, dt, c[0], c[1], c[2], c[3]);
                    Tensor y = Resize.upsampleNearest2d(x, new int[] {c[4], c[5]});
                    assertArrayEquals(new long[] {c[0], (long) c[1] * c[4], (long) c[2] * c[5], c[3]}, y.shape());
                    assertEquals(dt, y.dtype());
                    Reference.assertClose(y.toDoubleArray(), reference(xv, c), Reference.ELEMENTWISE_F32);
                }
            }
        }
    }

    @Test
    void nonContiguousInputIsUpsampledByItsValues() {
        try (Scope s = Scope.open()) {
            Tensor base = Tensor.randn(1, 2, 3, 4, 2);
            Tensor x = base.permute(0, 2, 1, 3);   // [2, 4, 3, 2], not contiguous
            int[] c = {2, 4, 3, 2, 2, 3};
            Reference.assertClose(Resize.upsampleNearest2d(x, new int[] {2, 3}).toDoubleArray(),
                    reference(x.contiguous().toDoubleArray(), c), Reference.ELEMENTWISE_F32);
        }
    }

    @Test
    void gradientSumsEachBlockIntoItsPixel() {
        SplittableRandom r = new SplittableRandom(4);
        for (int[] c : CASES) {
            try (Scope s = Scope.open()) {
                Tensor x = Tensor.of(ConvForwardTest.random(r, c[0] * c[1] * c[2] * c[3]), c[0], c[1], c[2], c[3]);
                int[] size = {c[4], c[5]};
                Gradcheck.assertGradients("upsampleNearest2d", xs -> Resize.upsampleNearest2d(xs[0], size), x);
            }
        }
        // And the gradient of sum(w * up(x)) is exactly the block sums of w.
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.zeros(DType.F64, Device.cpu(), 1, 2, 2, 1).setRequiresGrad(true);
            Tensor y = Resize.upsampleNearest2d(x, new int[] {2, 2});
            double[] w = new double[16];
            for (int i = 0; i < 16; i++) w[i] = i;
            y.backward(Tensor.of(w, 1, 4, 4, 1));
            // Output rows 0-1 / cols 0-1 -> pixel (0,0): 0+1+4+5 = 10, and so on.
            assertArrayEquals(new double[] {10, 18, 42, 50}, x.grad().toDoubleArray());
        }
    }

    @Test
    void badInputsNameTheOp() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.zeros(2, 3, 3, 1);
            String m = assertThrows(ShapeException.class, () -> Resize.upsampleNearest2d(Tensor.zeros(3, 3, 1), new int[] {2, 2})).getMessage();
            assertTrue(m.startsWith("upsampleNearest2d: input float32[3, 3, 1]") && m.contains("expected rank 4"), m);
            m = assertThrows(ShapeException.class, () -> Resize.upsampleNearest2d(x, new int[] {0, 2})).getMessage();
            assertTrue(m.startsWith("upsampleNearest2d: size must be positive"), m);
            m = assertThrows(ShapeException.class, () -> Resize.upsampleNearest2d(x, new int[] {2})).getMessage();
            assertTrue(m.startsWith("upsampleNearest2d: size must be a (height, width) pair"), m);
            m = assertThrows(ShapeException.class, () -> Resize.upsampleNearest2d(x, null)).getMessage();
            assertTrue(m.contains("size"), m);
            m = assertThrows(ShapeException.class,
                    () -> Resize.upsampledShape("up", new long[] {Long.MAX_VALUE / 2, 3, 1}, new int[] {4, 1})).getMessage();
            assertTrue(m.startsWith("up: "), m);
            m = assertThrows(DTypeException.class,
                    () -> Resize.upsampleNearest2d(Tensor.zeros(DType.I32, Device.cpu(), 1, 2, 2, 1), new int[] {2, 2})).getMessage();
            assertTrue(m.startsWith("upsampleNearest2d"), m);
            Tensor closed = Tensor.zeros(1, 2, 2, 1);
            closed.close();
            assertThrows(dev.soma.errors.ClosedTensorException.class, () -> Resize.upsampleNearest2d(closed, new int[] {2, 2}));
        }
    }
}
