package dev.soma.badinput;

import dev.soma.backend.MemoryKernels;
import dev.soma.errors.ClosedTensorException;
import dev.soma.errors.DTypeException;
import dev.soma.errors.DeviceException;
import dev.soma.errors.ShapeException;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import static dev.soma.badinput.Expect.thrown;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The public memory kernels and views take sizes from their tensors and arrays; any pair that would read or write
 * past an allocation is refused in Java before the native call, and the neighbouring memory stays as it was.
 */
@ExtendWith(NoLeaks.class)
class MemoryBoundsBadInputTest {
    private Scope scope;
    private MemoryKernels memory;

    @BeforeEach
    void open() {
        scope = Scope.open();
        memory = Tensor.zeros(1).backend().memory();
    }

    @AfterEach
    void close() {
        scope.close();
    }

    @Test
    void copyFromALargerSourceIsRefusedAndTheNeighbourIsUntouched() {
        // dst is a view of the first two elements; the third is its neighbour in the same storage.
        Tensor storage = Tensor.of(new float[] {0, 0, 7});
        Tensor dst = storage.slice(0, 0, 2, 1);
        Tensor src = Tensor.ones(10);
        thrown(ShapeException.class, () -> memory.copy(src, dst), "copy", "float32[10]", "float32[2]");
        assertArrayEquals(new float[] {0, 0, 7}, storage.toFloatArray());
    }

    @Test
    void copyOfAnotherShapeOrDTypeOrClosedTensor() {
        thrown(ShapeException.class, () -> memory.copy(Tensor.ones(2, 3), Tensor.zeros(3, 2)), "copy", "[2, 3]", "[3, 2]");
        thrown(ShapeException.class, () -> memory.copy(Tensor.ones(2), Tensor.zeros(4)), "copy", "[2]", "[4]");
        thrown(DTypeException.class, () -> memory.copy(Tensor.ones(2), Tensor.zeros(DType.F64, Device.cpu(), 2)),
                "copy", "float32", "float64");
        Tensor closed = Tensor.zeros(2);
        closed.close();
        thrown(ClosedTensorException.class, () -> memory.copy(Tensor.ones(2), closed), "copy", "closed");
    }

    @Test
    void castAndAccumulateCheckTheirSizes() {
        thrown(ShapeException.class, () -> memory.cast(Tensor.ones(8), Tensor.zeros(DType.F64, Device.cpu(), 2)),
                "cast", "float32[8]", "float64[2]");
        thrown(ShapeException.class, () -> memory.cast(Tensor.ones(4, 2).transpose(0, 1), Tensor.zeros(DType.F64, Device.cpu(), 2, 4)),
                "cast", "contiguous");
        thrown(ShapeException.class, () -> memory.accumulate(Tensor.zeros(2), Tensor.ones(8)), "accumulate", "[2]", "[8]");
        thrown(DTypeException.class, () -> memory.accumulate(Tensor.zeros(2), Tensor.ones(DType.F64, Device.cpu(), 2)),
                "accumulate", "float32", "float64");
        thrown(ShapeException.class, () -> memory.accumulate(Tensor.zeros(2, 2).transpose(0, 1), Tensor.ones(2, 2)),
                "accumulate", "contiguous");
    }

    @Test
    void hostWritesAndReadsMustMatchTheElementCountAndDType() {
        Tensor storage = Tensor.of(new float[] {0, 0, 7});
        Tensor two = storage.slice(0, 0, 2, 1);
        thrown(ShapeException.class, () -> memory.write(two, new float[] {1, 2, 3, 4}), "write", "4 values", "float32[2]");
        thrown(ShapeException.class, () -> memory.read(two, new float[5]), "read", "5", "float32[2]");
        thrown(DTypeException.class, () -> memory.write(two, new double[2]), "write", "double", "float32");
        thrown(DTypeException.class, () -> memory.read(two, new int[2]), "read", "int", "float32");
        thrown(ShapeException.class, () -> memory.write(Tensor.zeros(2, 2).transpose(0, 1), new float[4]), "write",
                "contiguous");
        assertArrayEquals(new float[] {0, 0, 7}, storage.toFloatArray());
    }

    @Test
    void fillOfAStridedViewIsRefused() {
        Tensor storage = Tensor.zeros(4);
        Tensor everyOther = storage.slice(0, 1, 4, 2);
        thrown(ShapeException.class, () -> memory.fill(everyOther, 5), "fill", "contiguous");
        assertArrayEquals(new float[4], storage.toFloatArray());
    }

    @Test
    void aViewMustStayInsideItsStorage() {
        Tensor t = Tensor.zeros(4);
        thrown(ShapeException.class, () -> t.viewOf(2, new long[] {4}, new long[] {1}), "view", "outside",
                "4 elements");
        thrown(ShapeException.class, () -> t.viewOf(-1, new long[] {1}, new long[] {1}), "view", "outside");
        thrown(ShapeException.class, () -> t.viewOf(0, new long[] {2}, new long[] {-1}), "view", "outside");
        thrown(ShapeException.class, () -> t.viewOf(0, new long[] {2, 2}, new long[] {1}), "view", "2 axes but 1 strides");
        thrown(ShapeException.class, () -> t.viewOf(0, new long[] {-2}, new long[] {1}), "view", "negative");
        thrown(ShapeException.class, () -> t.viewOf(0, new long[] {3}, new long[] {Long.MAX_VALUE}), "view", "outside");
        // Inside the storage: fine, also with a zero stride (broadcast) or an empty shape.
        assertEquals(2, t.viewOf(2, new long[] {2}, new long[] {1}).numel());
        assertEquals(5, t.viewOf(3, new long[] {5}, new long[] {0}).numel());
        assertEquals(0, t.viewOf(4, new long[] {0}, new long[] {1}).numel());
    }
}
