package dev.soma.ops;

import dev.soma.errors.ClosedTensorException;
import dev.soma.errors.DTypeException;
import dev.soma.errors.ShapeException;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.function.Executable;

import static org.junit.jupiter.api.Assertions.*;

/** conv2d rejects bad arguments in Java, before any native call, with messages naming the op and shapes. */
@ExtendWith(NoLeaks.class)
class ConvInputsTest {
    private static final int[] ONE = {1, 1};

    private static String shapeError(Executable e) {
        return assertThrows(ShapeException.class, e).getMessage();
    }

    @Test
    void wrongRanksAndChannelsAreShapeErrors() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.zeros(2, 5, 5, 3);
            Tensor k = Tensor.zeros(3, 3, 3, 4);
            String m = shapeError(() -> Convolution.conv2d(Tensor.zeros(5, 5, 3), k, null, "valid"));
            assertTrue(m.startsWith("conv2d: input float32[5, 5, 3]") && m.contains("expected rank 4"), m);
            m = shapeError(() -> Convolution.conv2d(x, Tensor.zeros(3, 3, 3), null, "valid"));
            assertTrue(m.startsWith("conv2d: kernel float32[3, 3, 3]") && m.contains("HWIO"), m);
            m = shapeError(() -> Convolution.conv2d(x, Tensor.zeros(3, 3, 2, 4), null, "valid"));
            assertTrue(m.startsWith("conv2d: kernel float32[3, 3, 2, 4]") && m.contains("expects 2 input channels")
                    && m.contains("input float32[2, 5, 5, 3] on cpu has 3"), m);
            m = shapeError(() -> Convolution.conv2d(x, k, Tensor.zeros(5), "valid"));
            assertTrue(m.startsWith("conv2d: bias float32[5]") && m.contains("must have shape [4]"), m);
            m = shapeError(() -> Convolution.conv2d(x, k, Tensor.zeros(1, 4), "valid"));
            assertTrue(m.startsWith("conv2d: bias float32[1, 4]"), m);
            m = shapeError(() -> Convolution.conv2d(x, Tensor.zeros(0, 3, 3, 4), null, "valid"));
            assertTrue(m.contains("empty dimension"), m);
            m = shapeError(() -> Convolution.conv2d(Tensor.zeros(2, 0, 5, 3), k, null, "same"));
            assertTrue(m.contains("float32[2, 0, 5, 3]"), m);
        }
    }

    @Test
    void windowLargerThanTheInputWithValidPadding() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.zeros(1, 4, 6, 2);
            String m = shapeError(() -> Convolution.conv2d(x, Tensor.zeros(5, 3, 2, 1), null, "valid"));
            assertTrue(m.startsWith("conv2d: window 5 along the height is larger than the input float32[1, 4, 6, 2]"), m);
            m = shapeError(() -> Convolution.conv2d(x, Tensor.zeros(3, 3, 2, 1), null, ONE, "valid", new int[] {1, 3}));
            assertTrue(m.contains("window 3 (dilated to 7) along the width"), m);
            // The same window fits with same padding.
            assertArrayEquals(new long[] {1, 4, 6, 1}, Convolution.conv2d(x, Tensor.zeros(5, 3, 2, 1), null, "same").shape());
        }
    }

    @Test
    void stridesDilationAndPaddingAreChecked() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.zeros(1, 5, 5, 2);
            Tensor k = Tensor.zeros(3, 3, 2, 2);
            String m = shapeError(() -> Convolution.conv2d(x, k, null, new int[] {0, 1}, "valid", ONE));
            assertTrue(m.startsWith("conv2d: strides must be positive, got [0, 1]"), m);
            m = shapeError(() -> Convolution.conv2d(x, k, null, new int[] {1, -2}, "valid", ONE));
            assertTrue(m.startsWith("conv2d: strides must be positive"), m);
            m = shapeError(() -> Convolution.conv2d(x, k, null, ONE, "valid", new int[] {0, 1}));
            assertTrue(m.startsWith("conv2d: dilation must be positive"), m);
            m = shapeError(() -> Convolution.conv2d(x, k, null, new int[] {1, 1, 1}, "valid", ONE));
            assertTrue(m.startsWith("conv2d: strides must be a (height, width) pair"), m);
            m = shapeError(() -> Convolution.conv2d(x, k, null, null, "valid", ONE));
            assertTrue(m.contains("null"), m);
            m = shapeError(() -> Convolution.conv2d(x, k, null, "causal"));
            assertTrue(m.startsWith("conv2d: padding must be \"valid\" or \"same\", got \"causal\""), m);
            m = shapeError(() -> Convolution.conv2dRelu(x, k, null, ONE, null, ONE));
            assertTrue(m.startsWith("conv2dRelu: padding"), m);
        }
    }

    @Test
    void dtypesAndClosedTensors() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.zeros(1, 5, 5, 2);
            Tensor k = Tensor.zeros(3, 3, 2, 2);
            DTypeException d = assertThrows(DTypeException.class,
                    () -> Convolution.conv2d(x, Tensor.zeros(DType.F64, Device.cpu(), 3, 3, 2, 2), null, "valid"));
            assertTrue(d.getMessage().startsWith("conv2d: dtypes differ") && d.getMessage().contains("float64[3, 3, 2, 2]"),
                    d.getMessage());
            d = assertThrows(DTypeException.class,
                    () -> Convolution.conv2d(x, k, Tensor.zeros(DType.F64, Device.cpu(), 2), "valid"));
            assertTrue(d.getMessage().startsWith("conv2d: dtypes differ"), d.getMessage());
            Tensor ix = Tensor.ofInts(new int[50], 1, 5, 5, 2);
            Tensor ik = Tensor.ofInts(new int[36], 3, 3, 2, 2);
            d = assertThrows(DTypeException.class, () -> Convolution.conv2d(ix, ik, null, "valid"));
            assertTrue(d.getMessage().startsWith("conv2d: ") && d.getMessage().contains("int32"), d.getMessage());
            Tensor closed = Tensor.zeros(3, 3, 2, 2);
            closed.close();
            ClosedTensorException c = assertThrows(ClosedTensorException.class, () -> Convolution.conv2d(x, closed, null, "valid"));
            assertTrue(c.getMessage().startsWith("conv2d: "), c.getMessage());
            assertThrows(NullPointerException.class, () -> Convolution.conv2d(null, k, null, "valid"));
        }
    }

    @Test
    void backwardAfterTheInputWasClosedSaysSo() {
        Tensor x = Tensor.rand(1, 1, 4, 4, 1).setRequiresGrad(true);
        Tensor k = Tensor.rand(2, 2, 2, 1, 1).setRequiresGrad(true);
        try (Scope s = Scope.open()) {
            Tensor y = Convolution.conv2d(x, k, null, "valid").sum();
            x.close();
            ClosedTensorException e = assertThrows(ClosedTensorException.class, y::backward);
            assertTrue(e.getMessage().startsWith("conv2d backward: "), e.getMessage());
        } finally {
            x.close();
            k.close();
        }
    }
}
