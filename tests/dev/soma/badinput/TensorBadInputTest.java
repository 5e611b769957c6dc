package dev.soma.badinput;

import dev.soma.backend.CudaProbe;
import dev.soma.errors.ClosedTensorException;
import dev.soma.errors.DTypeException;
import dev.soma.errors.DeviceException;
import dev.soma.errors.OutOfMemoryException;
import dev.soma.errors.ShapeException;
import dev.soma.errors.SomaException;
import dev.soma.memory.Scope;
import dev.soma.ops.Creation;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.concurrent.atomic.AtomicReference;

import static dev.soma.badinput.Expect.thrown;
import static org.junit.jupiter.api.Assertions.*;

/** Creating tensors from bad sizes, data, devices; using closed tensors and tensors of ended scopes. */
@ExtendWith(NoLeaks.class)
class TensorBadInputTest {
    @Test
    void negativeSize() {
        thrown(ShapeException.class, () -> Tensor.zeros(3, -1), "empty", "negative size", "[3, -1]");
    }

    @Test
    void elementCountOverflowsALong() {
        thrown(ShapeException.class, () -> Tensor.empty(1L << 32, 1L << 32), "empty", "overflow");
        thrown(ShapeException.class, () -> Tensor.empty(Long.MAX_VALUE), "empty", "overflow");
    }

    @Test
    void rankAboveTheMaximum() {
        thrown(ShapeException.class, () -> Tensor.zeros(1, 1, 1, 1, 1, 1, 1, 1, 1), "rank 9", "maximum of 8");
    }

    @Test
    void sizeBeyondTheAddressSpaceIsAnOutOfMemoryError() {
        // 2^45 floats = 128 TiB: no machine maps that; the pool must say so, with its statistics, and live on.
        OutOfMemoryException e = thrown(OutOfMemoryException.class, () -> Tensor.empty(1L << 45), "out of memory", "pool[cpu]");
        assertTrue(e.poolStatistics().contains("allocated="), e.poolStatistics());
        try (Scope s = Scope.open()) {
            assertEquals(6.0, Tensor.ones(2, 3).sum().item());
        }
    }

    @Test
    void dataThatDoesNotFillTheShape() {
        thrown(ShapeException.class, () -> Tensor.of(new float[5], 2, 3), "Tensor.of", "5 values", "[2, 3]");
        thrown(ShapeException.class, () -> Tensor.ofInts(new int[] {1, 2}, -2), "Tensor.ofInts", "negative");
    }

    @Test
    void cudaDeviceWithoutAGpuIsADeviceException() {
        if (CudaProbe.result().usable()) {
            // On a GPU machine the tensor exists; mixing it with a CPU tensor is the error instead.
            try (Scope s = Scope.open()) {
                Tensor g = Tensor.zeros(DType.F32, Device.cuda(0), 2);
                Tensor c = Tensor.zeros(2);
                thrown(DeviceException.class, () -> g.add(c), "add", "different devices", "cuda:0", "cpu");
            }
        } else {
            thrown(DeviceException.class, () -> Tensor.zeros(DType.F32, Device.cuda(0), 2), "cuda:0", "not usable");
        }
        thrown(IllegalArgumentException.class, () -> Device.cuda(-1), "cuda device index", "-1");
        thrown(IllegalArgumentException.class, () -> Device.parse("tpu:0"), "unknown device 'tpu:0'");
    }

    @Test
    void nonexistentCudaIndex() {
        thrown(DeviceException.class, () -> Tensor.zeros(DType.F32, Device.cuda(4096), 1), "cuda:4096");
    }

    @Test
    void closedTensorInEveryKindOfOp() {
        Tensor t = Tensor.ones(2, 2);
        t.close();
        thrown(ClosedTensorException.class, () -> t.add(1), "add", "closed", "float32[2, 2]");
        thrown(ClosedTensorException.class, () -> t.matmul(t), "matmul", "closed");
        thrown(ClosedTensorException.class, () -> t.sum(), "closed");
        thrown(ClosedTensorException.class, () -> t.reshape(4), "reshape", "closed");
        thrown(ClosedTensorException.class, t::toFloatArray, "closed");
        thrown(ClosedTensorException.class, () -> t.softmax(0), "closed");
        t.close(); // idempotent
    }

    @Test
    void tensorOfAnEndedScope() {
        Tensor escaped;
        try (Scope s = Scope.open()) {
            escaped = Tensor.ones(3);
        }
        Tensor t = escaped;
        thrown(ClosedTensorException.class, () -> t.mul(2), "mul", "closed", "its scope ended", "keep()");
    }

    @Test
    void escapingATensorThroughTheWrongScope() {
        try (Scope outer = Scope.open()) {
            Tensor a = Tensor.ones(2);
            try (Scope inner = Scope.open()) {
                thrown(IllegalArgumentException.class, () -> inner.escape(a), "Scope.escape", "does not belong");
            }
            assertFalse(a.isClosed(), "a wrong escape must not close the tensor");
        }
    }

    @Test
    void scopesClosedOutOfOrderOrOnAnotherThread() throws Exception {
        Scope outer = Scope.open();
        Scope inner = Scope.open();
        thrown(IllegalStateException.class, outer::close, "reverse order");
        AtomicReference<Throwable> other = new AtomicReference<>();
        Thread th = new Thread(() -> {
            try {
                inner.close();
            } catch (Throwable e) {
                other.set(e);
            }
        });
        th.start();
        th.join();
        assertInstanceOf(IllegalStateException.class, other.get());
        assertTrue(other.get().getMessage().contains("thread that opened it"));
        inner.close();
        outer.close();
    }

    @Test
    void tensorOfAnotherThreadsScopeIsUsableButItsScopeOwnsIt() throws Exception {
        // Scopes are per thread: a tensor made on another thread inside its scope is closed when that scope ends.
        AtomicReference<Tensor> made = new AtomicReference<>();
        Thread th = new Thread(() -> {
            try (Scope s = Scope.open()) {
                made.set(Tensor.ones(2));
            }
        });
        th.start();
        th.join();
        thrown(ClosedTensorException.class, () -> made.get().add(1), "add", "closed");
    }

    @Test
    void readingWithTheWrongDType() {
        try (Scope s = Scope.open()) {
            Tensor i = Tensor.ofInts(new int[] {1, 2});
            Tensor f = Tensor.ones(2);
            thrown(DTypeException.class, i::toFloatArray, "toFloatArray", "int32", "expected float32");
            thrown(DTypeException.class, f::toIntArray, "toIntArray", "float32", "expected int32");
            thrown(DTypeException.class, () -> i.setRequiresGrad(true), "setRequiresGrad", "not floating point");
            thrown(ShapeException.class, f::item, "item", "2 elements");
        }
    }

    @Test
    void creationRulesRejectNonFiniteAndDegenerateArguments() {
        thrown(SomaException.class, () -> Creation.arange(0, Double.NaN, 1), "arange", "finite");
        thrown(ShapeException.class, () -> Creation.arange(0, 1, 0), "arange", "step must not be 0");
        thrown(ShapeException.class, () -> Creation.arange(0, 1e12, 1), "arange", "at most");
        thrown(SomaException.class, () -> Creation.uniform(1, 2, 1, 3), "uniform", "lo <= hi");
        thrown(SomaException.class, () -> Creation.normal(1, 0, -1, 3), "normal", "std >= 0");
        thrown(SomaException.class, () -> Creation.normal(1, Double.POSITIVE_INFINITY, 1, 3), "normal", "finite");
        thrown(DTypeException.class, () -> Creation.rand(1, DType.I32, Device.cpu(), 3), "uniform", "int32");
        thrown(ShapeException.class, () -> Creation.rand(1, -3), "uniform", "negative size");
    }
}
