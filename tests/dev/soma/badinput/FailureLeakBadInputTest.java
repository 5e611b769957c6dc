package dev.soma.badinput;

import dev.soma.autograd.Anomaly;
import dev.soma.backend.Backends;
import dev.soma.errors.AnomalyException;
import dev.soma.errors.ShapeException;
import dev.soma.errors.SomaException;
import dev.soma.model.Sequential;
import dev.soma.nn.Dense;
import dev.soma.nn.Embedding;
import dev.soma.nn.Initializer;
import dev.soma.memory.Scope;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.function.Executable;

import static dev.soma.badinput.Expect.thrown;
import static org.junit.jupiter.api.Assertions.*;

/**
 * A call that fails returns the pool to the live bytes it had before, also outside any scope (where nothing else
 * would ever free what the call created). Inputs are made before measuring and closed after.
 */
@ExtendWith(NoLeaks.class)
class FailureLeakBadInputTest {
    private static long live() {
        return Backends.cpu().pool().stats().allocatedBytes();
    }

    private static <T extends Throwable> void failsWithoutLeaking(Class<T> type, Executable call, String... parts) {
        assertNull(Scope.current(), "the test must run outside any scope");
        long before = live();
        thrown(type, call, parts);
        assertEquals(before, live(), "live bytes after the failed call");
    }

    @Test
    void embeddingWithFloatIdsOutOfRange() {
        try (Sequential m = new Sequential(new Embedding(3, 4)); Tensor ids = Tensor.of(new float[] {1, 7}, 1, 2)) {
            m.seed(1).build(2);
            failsWithoutLeaking(ShapeException.class, () -> m.call(ids), "embedding", "id 7");
            failsWithoutLeaking(ShapeException.class, () -> m.layers().get(0).apply(ids, false), "embedding", "id 7");
        }
    }

    /** A gradient of the wrong shape, dtype or state is refused before the leaf's gradient memory is allocated. */
    @Test
    void aMismatchedGradientIsRefusedWithoutLeavingItsCopy() {
        try (Tensor leaf = Tensor.ones(3, 3).setRequiresGrad(true); Tensor row = Tensor.ones(2);
             Tensor f64 = Tensor.ones(dev.soma.tensor.DType.F64, dev.soma.tensor.Device.cpu(), 3, 3);
             Tensor closed = Tensor.ones(3, 3)) {
            closed.close();
            failsWithoutLeaking(ShapeException.class, () -> leaf.accumulateGrad(row), "accumulateGrad", "float32[2]",
                    "float32[3, 3]", "shape, dtype and device");
            failsWithoutLeaking(dev.soma.errors.DTypeException.class, () -> leaf.accumulateGrad(f64), "accumulateGrad",
                    "float64[3, 3]");
            failsWithoutLeaking(dev.soma.errors.ClosedTensorException.class, () -> leaf.accumulateGrad(closed),
                    "accumulateGrad", "closed");
            failsWithoutLeaking(dev.soma.errors.ClosedTensorException.class, () -> leaf.backward(closed), "backward",
                    "closed");
            assertNull(leaf.grad(), "no gradient was kept");
        }
    }

    @Test
    void aLaterLayerFailingFreesTheEarlierLayersOutputs() {
        // The first layer's output is finite (4e30); the second overflows float32 and anomaly mode stops it.
        try (Sequential m = new Sequential(new Dense(1).kernelInitializer(Initializer.constant(1e30)),
                new Dense(1).kernelInitializer(Initializer.constant(1e30)));
             Tensor x = Tensor.ones(2, 4)) {
            m.seed(1).build(4);
            try (Anomaly.Guard g = Anomaly.enable()) {
                failsWithoutLeaking(AnomalyException.class, () -> m.call(x), "Inf");
            }
        }
    }

    @Test
    void aFailedCallInsideAScopeLeavesTheScopeAsItWas() {
        try (Sequential m = new Sequential(new Embedding(3, 4)); Tensor ids = Tensor.of(new float[] {1, 7}, 1, 2);
             Scope s = Scope.open()) {
            m.seed(1).build(2);
            int owned = s.size();
            thrown(SomaException.class, () -> m.call(ids), "embedding");
            assertEquals(owned, s.size(), "nothing of the failed call is left for the scope to close");
            Tensor ok = m.call(Tensor.of(new float[] {1, 2}, 1, 2));
            assertEquals(ok.owner(), s, "a successful call's output still belongs to the enclosing scope");
        }
    }
}
