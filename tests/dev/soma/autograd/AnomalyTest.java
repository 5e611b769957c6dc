package dev.soma.autograd;

import dev.soma.backend.NumericChecks;
import dev.soma.errors.AnomalyException;
import dev.soma.memory.Scope;
import dev.soma.model.Sequential;
import dev.soma.data.Batch;
import dev.soma.nn.Dense;
import dev.soma.optim.SGD;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import static org.junit.jupiter.api.Assertions.*;

@ExtendWith(NoLeaks.class)
class AnomalyTest {
    @Test
    void offByDefaultAndNaNPropagates() {
        assertFalse(Anomaly.isEnabled());
        try (Scope s = Scope.open()) {
            float[] y = Tensor.of(new float[] {4, -1}).sqrt().add(1).toFloatArray();
            assertEquals(3f, y[0]);
            assertTrue(Float.isNaN(y[1]));
        }
    }

    @Test
    void guardsNestAndRestore() {
        try (Anomaly.Guard a = Anomaly.enable()) {
            try (Anomaly.Guard b = Anomaly.enable()) {
                assertTrue(Anomaly.isEnabled());
            }
            assertTrue(Anomaly.isEnabled(), "still on while the outer guard is open");
            a.close();
            a.close(); // closing twice must not switch off another guard
            assertFalse(Anomaly.isEnabled());
        }
        assertFalse(Anomaly.isEnabled());
    }

    @Test
    void namesTheFirstOpThatProducedANaNWithItsInputs() {
        try (Anomaly.Guard g = Anomaly.enable(); Scope s = Scope.open()) {
            Tensor x = Tensor.of(new float[] {4, 9, 1, 0}, 2, 2);
            Tensor shifted = x.sub(2);                       // [2, 7, -1, -2]: finite
            AnomalyException e = assertThrows(AnomalyException.class, () -> shifted.sqrt().exp());
            assertEquals("sqrt", e.op());
            String m = e.getMessage();
            assertTrue(m.contains("sqrt produced NaN at element 2 [1, 0]"), m);
            assertTrue(m.contains("float32[2, 2] on cpu (finite)"), m);
        }
    }

    @Test
    void infinityFromADivisionIsNamedToo() {
        try (Anomaly.Guard g = Anomaly.enable(); Scope s = Scope.open()) {
            Tensor a = Tensor.of(new double[] {1, -2, 3});
            Tensor b = Tensor.of(new double[] {1, 0, 1});
            AnomalyException e = assertThrows(AnomalyException.class, () -> a.div(b));
            assertEquals("div", e.op());
            assertTrue(e.getMessage().contains("-Inf at element 1"), e.getMessage());
            assertTrue(e.getMessage().contains("0: float64[3] on cpu (finite), 1: float64[3] on cpu (finite)"), e.getMessage());
        }
    }

    @Test
    void aNonFiniteGradientNamesTheBackwardThatMadeIt() {
        try (Anomaly.Guard g = Anomaly.enable(); Scope s = Scope.open()) {
            Tensor x = Tensor.of(new float[] {0, 1}).setRequiresGrad(true);
            Tensor y = x.sqrt().sum();                        // finite forward; d sqrt / dx at 0 is +Inf
            AnomalyException e = assertThrows(AnomalyException.class, y::backward);
            assertEquals("sqrt", e.op());
            assertTrue(e.getMessage().contains("backward of sqrt produced +Inf"), e.getMessage());
        }
    }

    @Test
    void theSameGraphRunsUntouchedWithAnomalyModeOff() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(new float[] {0, 1}).setRequiresGrad(true);
            x.sqrt().sum().backward();
            assertEquals(Float.POSITIVE_INFINITY, x.grad().toFloatArray()[0]);
        }
    }

    @Test
    void trainingStopsAtTheFirstOpThatMeetsBadData() {
        try (Sequential m = new Sequential(new Dense(3, "relu"), new Dense(2, "softmax"))) {
            m.seed(1).compile(new SGD(0.1), "sparse_categorical_crossentropy");
            float[] x = {1, 2, Float.NaN, 4};
            Batch b = new Batch(x, new long[] {1, 4}, new int[] {1}, null, new long[] {1});
            try (Anomaly.Guard g = Anomaly.enable()) {
                AnomalyException e = assertThrows(AnomalyException.class, () -> m.trainStep(b));
                assertEquals("matmul", e.op());
                assertTrue(e.getMessage().contains("0: float32[1, 4] on cpu (holds NaN/Inf), 1: float32[4, 3] on cpu (finite)"),
                        e.getMessage());
            }
            assertTrue(Double.isNaN(m.trainStep(b)), "without anomaly mode the NaN propagates into the loss");
        }
    }

    @Test
    void nativeScanFindsTheFirstBadElementInLargeAndStridedTensors() {
        try (Scope s = Scope.open()) {
            int n = 1 << 20;                                  // above the parallel grain
            float[] v = new float[n];
            assertEquals(-1, NumericChecks.firstNonFinite(Tensor.of(v)));
            v[n - 1] = Float.NEGATIVE_INFINITY;
            v[700_001] = Float.NaN;
            assertEquals(700_001, NumericChecks.firstNonFinite(Tensor.of(v)));
            double[] d = {1, 2, 3, Double.POSITIVE_INFINITY, 5, 6};
            Tensor t = Tensor.of(d, 2, 3).transpose(0, 1);    // [[1, 4], [2, 5], [3, 6]] as values 1, inf, 2, 5, 3, 6
            assertEquals(1, NumericChecks.firstNonFinite(t));
            assertEquals(-1, NumericChecks.firstNonFinite(Tensor.ofInts(new int[] {1, 2})));
            assertEquals(-1, NumericChecks.firstNonFinite(Tensor.zeros(DType.F64, Device.cpu(), 0, 3)));
            assertEquals(-1, NumericChecks.firstNonFinite(Tensor.full(Float.MAX_VALUE, 40_000)));
        }
    }
}
