package dev.soma.ops;

import dev.soma.autograd.Gradcheck;
import dev.soma.backend.RecurrentKernels.Cell;
import dev.soma.errors.DTypeException;
import dev.soma.errors.ShapeException;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.Reference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import static dev.soma.ops.RecurrentTest.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Recurrent dropout in the fused op: a constant multiplier [N, H] on h_{t-1} where it multiplies U, against the
 * step-by-step reference given the same multiplier, gradients through time in f64 with it fixed, and an all-ones
 * multiplier bit-identical to none (so the drop path changes nothing else).
 */
@ExtendWith(NoLeaks.class)
class RecurrentDropoutTest {
    /** Inverted-dropout multiplier at rate 0.4: zeros and 1/0.6, at fixed places. */
    static double[] drop() {
        double[] d = new double[N * H];
        java.util.SplittableRandom r = new java.util.SplittableRandom(77);
        for (int i = 0; i < d.length; i++) d[i] = r.nextDouble() < 0.4 ? 0 : 1 / 0.6;
        d[0] = 0;
        d[1] = 1 / 0.6;
        return d;
    }

    private static Tensor run(Cell cell, boolean back, boolean lstmFinal, Tensor x, Tensor w, Tensor u, Tensor b,
                              Tensor h0, Tensor c0, Tensor m, Tensor d) {
        return Recurrent.run(cell, "tanh", "sigmoid", back, lstmFinal, x, w, u, b, h0, c0, m, d);
    }

    @ParameterizedTest
    @EnumSource(Cell.class)
    void forwardMatchesTheCellEquationsWithTheSameMask(Cell cell) {
        int g = cell.gates;
        boolean lstm = cell == Cell.LSTM;
        double[] x = gaussian(N * T * F, 1, 1), w = gaussian(F * g * H, 2, 0.5), u = gaussian(H * g * H, 3, 0.5);
        double[] b = gaussian(biasSize(cell), 4, 0.3), h0 = gaussian(N * H, 5, 0.5), c0 = gaussian(N * H, 6, 0.5);
        double[] d = drop();
        for (boolean variant : new boolean[] {false, true}) {
            double[] ref = reference(cell, variant, lstm && variant, x, w, u, b, variant ? h0 : null,
                    variant && lstm ? c0 : null, variant ? mask() : null, d, N, T, F, H);
            double[] plain = reference(cell, variant, lstm && variant, x, w, u, b, variant ? h0 : null,
                    variant && lstm ? c0 : null, variant ? mask() : null, null, N, T, F, H);
            assertFalse(java.util.Arrays.equals(ref, plain), "the mask must matter in this test");
            for (DType dt : new DType[] {DType.F64, DType.F32}) {
                try (Scope s = Scope.open()) {
                    Tensor out = run(cell, variant, lstm && variant, t(x, dt, N, T, F), t(w, dt, F, g * H),
                            t(u, dt, H, g * H), t(b, dt, biasShape(cell)), variant ? t(h0, dt, N, H) : null,
                            variant && lstm ? t(c0, dt, N, H) : null, variant ? t(mask(), dt, N, T) : null,
                            t(d, dt, N, H));
                    Reference.assertClose(out.toDoubleArray(), ref, dt == DType.F64 ? 1e-12 : Reference.REDUCTION_F32);
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Cell.class)
    void gradientsMatchFiniteDifferencesWithAFixedMask(Cell cell) {
        int g = cell.gates;
        boolean lstm = cell == Cell.LSTM;
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(gaussian(N * T * F, 11, 1), N, T, F);
            Tensor w = Tensor.of(gaussian(F * g * H, 12, 0.5), F, g * H);
            Tensor u = Tensor.of(gaussian(H * g * H, 13, 0.5), H, g * H);
            Tensor b = Tensor.of(gaussian(biasSize(cell), 14, 0.3), biasShape(cell));
            Tensor h0 = Tensor.of(gaussian(N * H, 15, 0.5), N, H);
            Tensor c0 = Tensor.of(gaussian(N * H, 16, 0.5), N, H);
            Tensor m = Tensor.of(mask(), N, T);
            Tensor d = Tensor.of(drop(), N, H);
            for (boolean back : new boolean[] {false, true}) {
                Gradcheck.assertGradients(cell + " drop back=" + back, in -> run(cell, back, lstm, in[0], in[1], in[2],
                        in[3], in[4], lstm ? in[5] : null, back ? m : null, d), x, w, u, b, h0, c0);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Cell.class)
    void anAllOnesMaskIsBitIdenticalToNone(Cell cell) {
        int g = cell.gates;
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(gaussian(N * T * F, 21, 1), N, T, F).to(DType.F32);
            Tensor w = Tensor.of(gaussian(F * g * H, 22, 0.5), F, g * H).to(DType.F32).setRequiresGrad(true);
            Tensor u = Tensor.of(gaussian(H * g * H, 23, 0.5), H, g * H).to(DType.F32).setRequiresGrad(true);
            Tensor h0 = Tensor.of(gaussian(N * H, 25, 0.5), N, H).to(DType.F32).setRequiresGrad(true);
            Tensor ones = Tensor.ones(N, H);
            Tensor a = run(cell, false, false, x, w, u, null, h0, null, null, null);
            a.sum().backward();
            float[] gw = w.grad().toFloatArray(), gu = u.grad().toFloatArray(), gh = h0.grad().toFloatArray();
            w.zeroGrad();
            u.zeroGrad();
            h0.zeroGrad();
            Tensor c = run(cell, false, false, x, w, u, null, h0, null, null, ones);
            c.sum().backward();
            assertArrayEquals(a.toFloatArray(), c.toFloatArray());
            assertArrayEquals(gw, w.grad().toFloatArray());
            assertArrayEquals(gu, u.grad().toFloatArray());
            assertArrayEquals(gh, h0.grad().toFloatArray());
            w.zeroGrad();
            u.zeroGrad();
            h0.zeroGrad();
        }
    }

    @Test
    void badMasksAreRejected() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.zeros(N, T, F);
            Tensor w = Tensor.zeros(F, 4 * H);
            Tensor u = Tensor.zeros(H, 4 * H);
            ShapeException e = assertThrows(ShapeException.class,
                    () -> run(Cell.LSTM, false, false, x, w, u, null, null, null, null, Tensor.ones(N, H + 1)));
            assertTrue(e.getMessage().contains("lstm") && e.getMessage().contains("recurrent dropout"), e.getMessage());
            DTypeException de = assertThrows(DTypeException.class, () -> run(Cell.LSTM, false, false, x, w, u, null,
                    null, null, null, Tensor.ones(N, H).to(DType.F64)));
            assertTrue(de.getMessage().contains("lstm"), de.getMessage());
        }
    }
}
