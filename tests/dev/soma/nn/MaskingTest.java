package dev.soma.nn;

import dev.soma.autograd.Gradcheck;
import dev.soma.errors.DTypeException;
import dev.soma.errors.ShapeException;
import dev.soma.memory.Scope;
import dev.soma.model.Sequential;
import dev.soma.ops.Losses;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Masking: the step mask (any feature != mask_value), zeroed padded outputs, padding invisible to a following
 * LSTM's state and loss, gradients in f64, configs and checkpoints, bad input.
 */
@ExtendWith(NoLeaks.class)
class MaskingTest {
    static final int F = 2, REAL = 3;

    /** Three real steps of F gaussian features with {@code pre} and {@code post} all-{@code pad} steps around. */
    static double[] padded(int pre, int post, double pad) {
        SplittableRandom r = new SplittableRandom(12);
        double[] v = new double[(pre + REAL + post) * F];
        java.util.Arrays.fill(v, pad);
        for (int i = 0; i < REAL * F; i++) v[pre * F + i] = r.nextGaussian();
        return v;
    }

    @Test
    void maskAndOutputFollowTheMaskValue() {
        try (Masking m = new Masking(-1); Scope s = Scope.open()) {
            double[] v = padded(1, 2, -1);
            v[4 * F] = 0.5;   // the second padded tail step has one real feature: it counts
            Tensor x = Tensor.of(v, 1, 6, F);
            double[] out = m.apply(x, false).toDoubleArray();
            assertArrayEquals(new double[] {0, 1, 1, 1, 1, 0}, m.computeMask(x, null).toDoubleArray());
            for (int k = 0; k < 6; k++)
                for (int q = 0; q < F; q++) {
                    boolean kept = k >= 1 && k <= 4;
                    assertEquals(kept ? v[k * F + q] : 0, out[k * F + q], 0.0, "step " + k);
                }
        }
    }

    @Test
    void paddedStepsChangeNeitherTheLstmStateNorTheLoss() {
        try (Sequential m = new Sequential(new Masking(), new LSTM(3));
             Sequential m3 = new Sequential(new Masking(), new LSTM(3))) {
            m.seed(3).build(6, F);
            m3.seed(3).build(REAL, F);   // the same weights (none depends on the sequence length), no padding
            try (Scope s = Scope.open()) {
                float[] reference = m3.call(Tensor.of(padded(0, 0, 0), 1, REAL, F).to(DType.F32)).toFloatArray();
                for (int[] pad : new int[][] {{3, 0}, {0, 3}, {1, 2}}) {
                    Tensor x = Tensor.of(padded(pad[0], pad[1], 0), 1, 6, F).to(DType.F32).setRequiresGrad(true);
                    Tensor out = m.call(x);
                    assertArrayEquals(reference, out.toFloatArray(), 1e-6f, "padding " + pad[0] + "+" + pad[1]);
                    Losses.meanSquaredError(out, Tensor.ones(1, 3)).backward();
                    float[] g = x.grad().toFloatArray();
                    for (int k = 0; k < 6; k++) {
                        boolean real = k >= pad[0] && k < pad[0] + REAL;
                        for (int q = 0; q < F; q++) {
                            if (real) assertNotEquals(0f, g[k * F + q], "real step " + k);
                            else assertEquals(0f, g[k * F + q], "padded step " + k + " gets no gradient");
                        }
                    }
                    x.zeroGrad();
                    for (var p : m.params()) p.value().zeroGrad();
                }
            }
        }
    }

    @Test
    void gradientsThroughMaskingAndLstm() {
        try (Masking masking = new Masking(); LSTM lstm = new LSTM(3)) {
            masking.build(new long[] {6, F}, DType.F64, new SplittableRandom(1));
            lstm.build(new long[] {6, F}, DType.F64, new SplittableRandom(2));
            try (Scope s = Scope.open()) {
                Tensor x = Tensor.of(padded(2, 1, 0), 1, 6, F);
                // Padded steps are exactly 0 whatever the perturbation (the mask is piecewise constant in x).
                Tensor real = masking.computeMask(x, null).reshape(1, 6, 1);
                Tensor[] inputs = new Tensor[1 + lstm.params().size()];
                inputs[0] = x;
                for (int i = 0; i < lstm.params().size(); i++) inputs[i + 1] = lstm.params().get(i).value();
                Gradcheck.assertGradients("masking+lstm", in -> {
                    Tensor xm = in[0].mul(real);
                    return lstm.apply(masking.apply(xm, true), masking.computeMask(xm, null), true);
                }, inputs);
            }
        }
    }

    @Test
    void configAndCheckpointRoundTrip(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        Masking back = (Masking) LayerRegistry.create("masking", new Masking(-2.5).config());
        assertEquals(-2.5, back.maskValue());
        java.nio.file.Path file = dir.resolve("masking.safetensors");
        try (Sequential m = new Sequential(new Masking(-1), new GRU(3), new Dense(1))) {
            m.seed(4).compile(new dev.soma.optim.Adam(1e-3), "mse");
            m.build(6, F);
            m.save(file);
            try (Sequential loaded = Sequential.load(file); Scope s = Scope.open()) {
                Tensor x = Tensor.of(padded(2, 1, -1), 1, 6, F).to(DType.F32);
                assertEquals(-1.0, ((Masking) loaded.layers().get(0)).maskValue());
                assertArrayEquals(m.call(x).toFloatArray(), loaded.call(x).toFloatArray());
            }
        }
    }

    @Test
    void badInputsAreRejected() {
        try (Masking m = new Masking(); Scope s = Scope.open()) {
            ShapeException e = assertThrows(ShapeException.class, () -> m.apply(Tensor.zeros(2, 4), false));
            assertTrue(e.getMessage().contains(m.name()) && e.getMessage().contains("[4]"), e.getMessage());
        }
        try (Masking m = new Masking(); Scope s = Scope.open()) {
            DTypeException e = assertThrows(DTypeException.class,
                    () -> m.apply(Tensor.ofInts(new int[] {1, 0, 2, 0}, 1, 2, 2), false));
            assertTrue(e.getMessage().contains(m.name()), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> new Masking(Double.NaN));
    }
}
