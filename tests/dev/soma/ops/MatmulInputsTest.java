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

import static org.junit.jupiter.api.Assertions.*;

/** Bad inputs to matmul are rejected in Java, naming the op and the offending shapes or dtypes. */
@ExtendWith(NoLeaks.class)
class MatmulInputsTest {
    private static void assertMessage(Throwable e, String... parts) {
        assertTrue(e.getMessage().startsWith("matmul:"), e.getMessage());
        for (String p : parts) assertTrue(e.getMessage().contains(p), "missing '" + p + "' in: " + e.getMessage());
    }

    @Test
    void innerDimensionMismatchNamesBothShapes() {
        try (Scope s = Scope.open()) {
            Tensor a = Tensor.zeros(2, 3);
            Tensor b = Tensor.zeros(4, 5);
            assertMessage(assertThrows(ShapeException.class, () -> a.matmul(b)), "[2, 3]", "[4, 5]", "K = 3", "K = 4");
            assertMessage(assertThrows(ShapeException.class, () -> Tensor.zeros(3).matmul(Tensor.zeros(4))), "[3]", "[4]");
            assertMessage(assertThrows(ShapeException.class, () -> Tensor.zeros(2, 3).matmul(Tensor.zeros(2))), "[2, 3]", "[2]");
        }
    }

    @Test
    void batchMismatchAndScalarsAreRejected() {
        try (Scope s = Scope.open()) {
            assertMessage(assertThrows(ShapeException.class,
                    () -> Tensor.zeros(2, 3, 4).matmul(Tensor.zeros(3, 4, 5))), "[2, 3, 4]", "[3, 4, 5]", "batch");
            assertMessage(assertThrows(ShapeException.class,
                    () -> Tensor.scalar(2).matmul(Tensor.zeros(2, 2))), "rank", "float32[]");
            assertMessage(assertThrows(ShapeException.class,
                    () -> Tensor.zeros(2, 2).matmul(Tensor.scalar(2))), "rank");
        }
    }

    @Test
    void dtypesMustMatchAndBeFloating() {
        try (Scope s = Scope.open()) {
            Tensor f = Tensor.zeros(2, 2);
            Tensor d = Tensor.zeros(DType.F64, Device.cpu(), 2, 2);
            assertMessage(assertThrows(DTypeException.class, () -> f.matmul(d)), "float32", "float64");
            Tensor i = Tensor.ofInts(new int[] {1, 2, 3, 4}, 2, 2);
            assertMessage(assertThrows(DTypeException.class, () -> i.matmul(i)), "int32");
        }
    }

    @Test
    void closedTensorsAreRejected() {
        try (Scope s = Scope.open()) {
            Tensor a = Tensor.zeros(2, 2);
            Tensor b = Tensor.zeros(2, 2);
            b.close();
            assertMessage(assertThrows(ClosedTensorException.class, () -> a.matmul(b)), "closed");
            assertThrows(NullPointerException.class, () -> a.matmul(null));
        }
    }

    @Test
    void anOverflowingResultIsRejectedBeforeAllocating() {
        try (Scope s = Scope.open()) {
            Tensor col = Tensor.zeros(1, 1).expand(1L << 31, 1);   // views: no memory behind the size
            Tensor row = Tensor.zeros(1, 1).expand(1, 1L << 31);
            assertMessage(assertThrows(ShapeException.class, () -> col.matmul(row)), "overflow");
        }
    }
}
