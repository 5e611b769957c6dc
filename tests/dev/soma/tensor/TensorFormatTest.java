package dev.soma.tensor;

import dev.soma.memory.Scope;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import static org.junit.jupiter.api.Assertions.*;

/** Expected strings follow PyTorch's repr of the same values (dtype names are Soma's). */
@ExtendWith(NoLeaks.class)
class TensorFormatTest {
    @Test
    void zeroDimensional() {
        try (Scope s = Scope.open()) {
            assertEquals("tensor(3.5000)", Tensor.scalar(3.5).toString());
            assertEquals("tensor(2.)", Tensor.scalar(2).toString());
            assertEquals("tensor(-7, dtype=int32)", Tensor.ofInts(new int[] {-7}).reshape().toString());
        }
    }

    @Test
    void oneDimensionalAlignsAndWraps() {
        try (Scope s = Scope.open()) {
            assertEquals("tensor([ 1.0000,  2.5000, -3.0000])", Tensor.of(new float[] {1, 2.5f, -3}).toString());
            assertEquals("tensor([  1, -20, 300], dtype=int32)", Tensor.ofInts(new int[] {1, -20, 300}).toString());
            assertEquals("tensor([0.1235, 2.0000], dtype=float64)", Tensor.of(new double[] {0.123456, 2}).toString());
            assertEquals("tensor([1.0000e-05, 1.0000e+00])", Tensor.of(new float[] {1e-5f, 1}).toString());
            assertEquals("tensor([1.2346e+09, 1.0000e+00])", Tensor.of(new float[] {1.23456e9f, 1}).toString());
            assertEquals("tensor([1.5000,    nan,    inf,   -inf])",
                    Tensor.of(new float[] {1.5f, Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}).toString());
            assertEquals("tensor([0., 0.])", Tensor.zeros(2).toString());
            assertEquals("tensor([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.,\n"
                    + "        14., 15., 16., 17., 18., 19., 20., 21., 22., 23., 24., 25., 26., 27.,\n"
                    + "        28., 29.])", Tensor.arange(0, 30, 1).toString());
        }
    }

    @Test
    void twoAndThreeDimensional() {
        try (Scope s = Scope.open()) {
            assertEquals("tensor([[1., 2.],\n        [3., 4.]])", Tensor.of(new float[] {1, 2, 3, 4}, 2, 2).toString());
            assertEquals("tensor([[[0., 1.],\n"
                    + "         [2., 3.]],\n"
                    + "\n"
                    + "        [[4., 5.],\n"
                    + "         [6., 7.]]])", Tensor.arange(0, 8, 1).reshape(2, 2, 2).toString());
            // A strided view prints its logical order.
            assertEquals("tensor([[0.0000, 0.5000],\n        [0.2500, 0.7500]], dtype=float64)",
                    Tensor.arange(0, 1, 0.25, DType.F64).reshape(2, 2).transpose(0, 1).toString());
        }
    }

    @Test
    void largeTensorsAreSummarisedFromTheirEdges() {
        try (Scope s = Scope.open()) {
            assertEquals("tensor([   0.,    1.,    2.,  ..., 1997., 1998., 1999.])", Tensor.arange(0, 2000, 1).toString());
            assertEquals("tensor([[   0.,    1.,    2.,  ...,   47.,   48.,   49.],\n"
                    + "        [  50.,   51.,   52.,  ...,   97.,   98.,   99.],\n"
                    + "        [ 100.,  101.,  102.,  ...,  147.,  148.,  149.],\n"
                    + "        ...,\n"
                    + "        [1850., 1851., 1852.,  ..., 1897., 1898., 1899.],\n"
                    + "        [1900., 1901., 1902.,  ..., 1947., 1948., 1949.],\n"
                    + "        [1950., 1951., 1952.,  ..., 1997., 1998., 1999.]])",
                    Tensor.arange(0, 2000, 1).reshape(40, 50).toString());
            // Only a long dimension is cut; a short one is shown whole.
            String t = Tensor.arange(0, 2000, 1, DType.I32).reshape(2, 1000).toString();
            assertEquals("tensor([[   0,    1,    2,  ...,  997,  998,  999],\n"
                    + "        [1000, 1001, 1002,  ..., 1997, 1998, 1999]], dtype=int32)", t);
            // Exactly THRESHOLD elements are printed in full.
            assertFalse(Tensor.zeros(1000).toString().contains("..."));
            // A 3-d tensor is cut in every dimension: 6 x 6 x 6 values shown of 10^6.
            String big = Tensor.zeros(100, 100, 100).toString();
            assertEquals(6 * 6 * 6, big.split("0\\.", -1).length - 1, big);
            assertEquals(6 * 7 + 1 + 6, big.split("\n").length, big); // 6 matrices, "...", 6 blank lines
        }
    }

    @Test
    void emptyAndClosedTensors() {
        try (Scope s = Scope.open()) {
            assertEquals("tensor([])", Tensor.zeros(0).toString());
            assertEquals("tensor([], shape=[2, 0], dtype=float64)", Tensor.zeros(DType.F64, Device.cpu(), 2, 0).toString());
            Tensor c = Tensor.zeros(2, 3);
            c.close();
            assertEquals("tensor(closed: float32[2, 3] on cpu)", c.toString());
        }
    }

    @Test
    void printingDoesNotRecordForAutograd() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(new float[] {1, 2}).setRequiresGrad(true);
            Tensor y = x.slice(0, 0, 2, 1);
            assertEquals("tensor([1., 2.])", y.toString());
            assertEquals("slice", y.gradFn().op());
        }
    }
}
