package dev.soma.fuzz;

import dev.soma.memory.Scope;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import static org.junit.jupiter.api.Assertions.*;

/** The fuzzers' judge: the norm-wise relative error, also for results whose squares overflow a double. */
@ExtendWith(NoLeaks.class)
class TensorAgreementTest {
    @Test
    void hugeResultsAreJudgedByTheirRelativeErrorNotNaN() {
        try (Scope s = Scope.open()) {
            // A relu GRU's float64 state: 1e134 and 1e300, the GPU's result 1e-14 off in relative terms.
            double[] want = {0, 2.857568925309696, 3.048558488865628e134, -9.044784480619932e33, 1.5e300, -1.7e308};
            double[] got = want.clone();
            for (int i = 0; i < got.length; i++) got[i] *= 1 + 1e-14;
            double error = TensorAgreement.error(Tensor.of(got, got.length), Tensor.of(want, want.length));
            assertTrue(error > 0 && error < 1e-13, "error " + error);
            got[4] = -got[4];  // a real difference is still seen
            assertTrue(TensorAgreement.error(Tensor.of(got, got.length), Tensor.of(want, want.length)) > 1e-13);
        }
    }

    @Test
    void ordinaryResultsKeepTheirErrorAndItsFloor() {
        try (Scope s = Scope.open()) {
            double[] want = {3, 4};
            double[] got = {3, 4.5};
            assertEquals(0.1, TensorAgreement.error(Tensor.of(got, 2), Tensor.of(want, 2)), 1e-15);
            // against a zero reference the norm divided by is at least 0.01 per element: sqrt(1e-4 / 2e-4)
            assertEquals(Math.sqrt(0.5), TensorAgreement.error(Tensor.of(new double[] {0.01, 0}, 2),
                    Tensor.of(new double[2], 2)), 1e-12);
            // non-finite values must sit at the same places
            assertEquals(0, TensorAgreement.error(Tensor.of(new double[] {Double.NaN, 1}, 2),
                    Tensor.of(new double[] {Double.NaN, 1}, 2)));
            assertEquals(Double.POSITIVE_INFINITY, TensorAgreement.error(Tensor.of(new double[] {Double.POSITIVE_INFINITY, 1}, 2),
                    Tensor.of(new double[] {1, 1}, 2)));
        }
    }

    @Test
    void aCallWhoseFloat64ForwardLeavesFloat32sRangeHasNoFloat32GradientJudged() {
        try (Scope s = Scope.open()) {
            // a relu LSTM's float64 outputs: one example at 4e29 (finite in float32, but its backward multiplies such
            // values), the other at 1e174; and an ordinary call's
            Tensor grown = Tensor.of(new double[] {4.02e29, 183, 0}, 3);
            Tensor beyond = Tensor.of(new double[] {1.59e174, Double.NaN, 1}, 3);
            Tensor ordinary = Tensor.of(new double[] {36, -1e6, 0}, 3);
            assertTrue(TensorAgreement.anyBeyondFloat32(java.util.List.of(ordinary, grown)));
            assertTrue(TensorAgreement.anyBeyondFloat32(java.util.List.of(beyond)));
            assertFalse(TensorAgreement.anyBeyondFloat32(java.util.List.of(ordinary)));
            // only float64 references count: a float32 result holds no magnitudes float32 cannot
            assertFalse(TensorAgreement.anyBeyondFloat32(java.util.List.of(Tensor.of(new float[] {3e38f}, 1))));
        }
    }

    @Test
    void float64NearItsLimitMayPutNaNWhereTheReferenceHasAnInfinityButAtTheSamePlacesOnly() {
        try (Scope s = Scope.open()) {
            // a linear LSTM's float64 state: 1e246, then the infinities, whose sums gave NaN on one device
            Tensor want = Tensor.of(new double[] {-2.78e246, 9.5e243, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY}, 4);
            Tensor got = Tensor.of(new double[] {-2.78e246, 9.5e243, Double.NaN, Double.NEGATIVE_INFINITY}, 4);
            assertNull(TensorAgreement.disagreement(got, want, want, null, null));
            Tensor elsewhere = Tensor.of(new double[] {-2.78e246, Double.NaN, 1, Double.NEGATIVE_INFINITY}, 4);
            assertNotNull(TensorAgreement.disagreement(elsewhere, want, want, null, null));
            // far from the limit an infinity is an infinity (log 0 is -inf, not NaN)
            Tensor small = Tensor.of(new double[] {1, Double.NEGATIVE_INFINITY}, 2);
            Tensor nan = Tensor.of(new double[] {1, Double.NaN}, 2);
            assertNotNull(TensorAgreement.disagreement(nan, small, small, null, null));
            assertTrue(TensorAgreement.anyNearFloat64Limit(java.util.List.of(small, want)));
            assertFalse(TensorAgreement.anyNearFloat64Limit(java.util.List.of(small)));
        }
    }
}
