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

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The fused recurrent op (SimpleRNN, LSTM, GRU reset_after) against a plain step-by-step Java reference of the
 * cell equations (f32 and f64), with masks, go_backwards and initial states; gradients by finite differences in
 * f64; masked steps change neither state nor outputs; bad inputs.
 */
@ExtendWith(NoLeaks.class)
class RecurrentTest {
    static final int N = 3, T = 5, F = 4, H = 3;

    /** Keras' cell equations, one step at a time, in double. Returns [N, T(+1), H] as Recurrent.run does. */
    static double[] reference(Cell cell, boolean back, boolean finalCell, double[] x, double[] w, double[] u,
                              double[] b, double[] h0, double[] c0, double[] mask, int n, int t, int f, int h) {
        return reference(cell, back, finalCell, x, w, u, b, h0, c0, mask, null, n, t, f, h);
    }

    /** With a recurrent dropout multiplier {@code drop [N, H]} (or null) on h_{t-1} wherever it multiplies U. */
    static double[] reference(Cell cell, boolean back, boolean finalCell, double[] x, double[] w, double[] u,
                              double[] b, double[] h0, double[] c0, double[] mask, double[] drop, int n, int t, int f,
                              int h) {
        int g = cell.gates;
        int rows = t + (finalCell ? 1 : 0);
        double[] y = new double[n * rows * h];
        for (int r = 0; r < n; r++) {
            double[] hs = new double[h];
            double[] cs = new double[h];
            if (h0 != null) System.arraycopy(h0, r * h, hs, 0, h);
            if (c0 != null) System.arraycopy(c0, r * h, cs, 0, h);
            for (int k = 0; k < t; k++) {
                int ti = back ? t - 1 - k : k;
                double[] xw = new double[g * h];
                double[] hu = new double[g * h];
                double[] hm = new double[h];
                for (int q = 0; q < h; q++) hm[q] = hs[q] * (drop == null ? 1 : drop[r * h + q]);
                for (int j = 0; j < g * h; j++) {
                    for (int q = 0; q < f; q++) xw[j] += x[(r * t + ti) * f + q] * w[q * g * h + j];
                    for (int q = 0; q < h; q++) hu[j] += hm[q] * u[q * g * h + j];
                }
                double[] rv = new double[h];
                for (int j = 0; j < h && cell == Cell.GRU_RESET_BEFORE; j++) rv[j] = sig(xw[h + j] + b[h + j] + hu[h + j]);
                double[] nh = new double[h];
                double[] nc = new double[h];
                for (int j = 0; j < h; j++) {
                    if (cell == Cell.LSTM) {
                        double i = sig(xw[j] + hu[j] + b[j]);
                        double fg = sig(xw[h + j] + hu[h + j] + b[h + j]);
                        double cc = Math.tanh(xw[2 * h + j] + hu[2 * h + j] + b[2 * h + j]);
                        double o = sig(xw[3 * h + j] + hu[3 * h + j] + b[3 * h + j]);
                        nc[j] = fg * cs[j] + i * cc;
                        nh[j] = o * Math.tanh(nc[j]);
                    } else if (cell == Cell.GRU) {
                        double z = sig(xw[j] + b[j] + hu[j] + b[3 * h + j]);
                        double rr = sig(xw[h + j] + b[h + j] + hu[h + j] + b[4 * h + j]);
                        double hh = Math.tanh(xw[2 * h + j] + b[2 * h + j] + rr * (hu[2 * h + j] + b[5 * h + j]));
                        nh[j] = z * hs[j] + (1 - z) * hh;
                    } else if (cell == Cell.GRU_RESET_BEFORE) {
                        // Keras reset_after=False: (r * h_{t-1}) U_h, one bias.
                        double z = sig(xw[j] + b[j] + hu[j]);
                        double rec = 0;
                        for (int q = 0; q < h; q++) rec += rv[q] * hm[q] * u[q * g * h + 2 * h + j];
                        double hh = Math.tanh(xw[2 * h + j] + b[2 * h + j] + rec);
                        nh[j] = z * hs[j] + (1 - z) * hh;
                    } else {
                        nh[j] = Math.tanh(xw[j] + hu[j] + b[j]);
                    }
                }
                boolean keep = mask == null || mask[r * t + ti] != 0;
                if (keep) {
                    hs = nh;
                    cs = nc;
                }
                System.arraycopy(hs, 0, y, (r * rows + k) * h, h);
            }
            if (finalCell) System.arraycopy(cs, 0, y, (r * rows + t) * h, h);
        }
        return y;
    }

    static double sig(double v) {
        return 1 / (1 + Math.exp(-v));
    }

    static double[] gaussian(int n, long seed, double scale) {
        SplittableRandom r = new SplittableRandom(seed);
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = scale * r.nextGaussian();
        return v;
    }

    static int biasSize(Cell c) {
        return c == Cell.GRU ? 2 * 3 * H : c.gates * H;
    }

    static long[] biasShape(Cell c) {
        return c == Cell.GRU ? new long[] {2, 3 * H} : new long[] {c.gates * H};
    }

    /** Pads the tail of sequence 1 and the head of sequence 2 (pre- and post-padding). */
    static double[] mask() {
        double[] m = new double[N * T];
        java.util.Arrays.fill(m, 1);
        m[T + 3] = 0;
        m[T + 4] = 0;
        m[2 * T] = 0;
        m[2 * T + 1] = 0;
        return m;
    }

    private void compare(Cell cell, DType dtype, boolean back, boolean masked, boolean initial, boolean finalCell,
                         double bound) {
        int g = cell.gates;
        double[] x = gaussian(N * T * F, 1, 1), w = gaussian(F * g * H, 2, 0.5), u = gaussian(H * g * H, 3, 0.5);
        double[] b = gaussian(biasSize(cell), 4, 0.3), h0 = gaussian(N * H, 5, 0.5), c0 = gaussian(N * H, 6, 0.5);
        double[] m = mask();
        boolean lstm = cell == Cell.LSTM;
        double[] ref = reference(cell, back, finalCell, x, w, u, b, initial ? h0 : null, initial && lstm ? c0 : null,
                masked ? m : null, N, T, F, H);
        try (Scope s = Scope.open()) {
            Tensor out = Recurrent.run(cell, "tanh", "sigmoid", back, finalCell, t(x, dtype, N, T, F),
                    t(w, dtype, F, g * H), t(u, dtype, H, g * H), t(b, dtype, biasShape(cell)),
                    initial ? t(h0, dtype, N, H) : null, initial && lstm ? t(c0, dtype, N, H) : null,
                    masked ? t(m, dtype, N, T) : null);
            assertArrayEquals(new long[] {N, T + (finalCell ? 1 : 0), H}, out.shape());
            Reference.assertClose(out.toDoubleArray(), ref, bound);
        }
    }

    static Tensor t(double[] v, DType dtype, long... shape) {
        Tensor d = Tensor.of(v, shape);
        if (dtype == DType.F64) return d;
        Tensor f = d.to(dtype);
        d.close();
        return f;
    }

    @ParameterizedTest
    @EnumSource(Cell.class)
    void forwardMatchesTheCellEquations(Cell cell) {
        compare(cell, DType.F32, false, false, false, false, Reference.REDUCTION_F32);
        compare(cell, DType.F64, false, false, false, false, 1e-12);
        compare(cell, DType.F32, true, true, true, false, Reference.REDUCTION_F32);
        compare(cell, DType.F64, true, true, true, cell == Cell.LSTM, 1e-12);
        compare(cell, DType.F64, false, true, false, cell == Cell.LSTM, 1e-12);
    }

    @ParameterizedTest
    @EnumSource(Cell.class)
    void gradientsMatchFiniteDifferences(Cell cell) {
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
            for (boolean back : new boolean[] {false, true}) {
                Gradcheck.assertGradients(cell + " back=" + back, in -> Recurrent.run(cell, "tanh", "sigmoid", back,
                        lstm, in[0], in[1], in[2], in[3], in[4], lstm ? in[5] : null, back ? m : null), x, w, u, b, h0, c0);
            }
            // The last output only (return_sequences=False), no initial state.
            Gradcheck.assertGradients(cell + " last", in -> Shapes.select(Recurrent.run(cell, "tanh", "sigmoid", false,
                    false, in[0], in[1], in[2], in[3], null, null, m), 1, T - 1), x, w, u, b);
        }
    }

    @Test
    void otherActivationsHaveGradientsToo() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(gaussian(N * T * F, 21, 1), N, T, F);
            Tensor w = Tensor.of(gaussian(F * 4 * H, 22, 0.5), F, 4 * H);
            Tensor u = Tensor.of(gaussian(H * 4 * H, 23, 0.5), H, 4 * H);
            Gradcheck.assertGradients("lstm relu/hard_sigmoid", in -> Recurrent.run(Cell.LSTM, "relu", "hard_sigmoid",
                    false, false, in[0], in[1], in[2], null, null, null, null), x, w, u);
        }
    }

    @Test
    void paddedStepsChangeNeitherStateNorOutput() {
        try (Scope s = Scope.open()) {
            double[] xv = gaussian(N * T * F, 31, 1);
            Tensor w = Tensor.of(gaussian(F * 4 * H, 32, 0.5), F, 4 * H).to(DType.F32);
            Tensor u = Tensor.of(gaussian(H * 4 * H, 33, 0.5), H, 4 * H).to(DType.F32);
            Tensor m = Tensor.of(mask(), N, T).to(DType.F32);
            double[] other = xv.clone();
            // Change the inputs at padded steps: nothing may change.
            for (int r = 0; r < N; r++)
                for (int k = 0; k < T; k++)
                    if (mask()[r * T + k] == 0) for (int q = 0; q < F; q++) other[(r * T + k) * F + q] += 5;
            float[] a = Recurrent.run(Cell.LSTM, "tanh", "sigmoid", false, true, Tensor.of(xv, N, T, F).to(DType.F32),
                    w, u, null, null, null, m).toFloatArray();
            float[] c = Recurrent.run(Cell.LSTM, "tanh", "sigmoid", false, true, Tensor.of(other, N, T, F).to(DType.F32),
                    w, u, null, null, null, m).toFloatArray();
            assertArrayEquals(a, c);
            // Sequence 2 starts with two padded steps: its first outputs are the zero initial state.
            for (int j = 0; j < H; j++) assertEquals(0f, a[(2 * (T + 1)) * H + j]);
        }
    }

    @Test
    void badInputsAreRejected() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.zeros(N, T, F);
            Tensor w = Tensor.zeros(F, 4 * H);
            Tensor u = Tensor.zeros(H, 4 * H);
            ShapeException e = assertThrows(ShapeException.class, () -> Recurrent.run(Cell.LSTM, "tanh", "sigmoid",
                    false, false, x, Tensor.zeros(F + 1, 4 * H), u, null, null, null, null));
            assertTrue(e.getMessage().contains("lstm") && e.getMessage().contains("kernel"), e.getMessage());
            assertThrows(ShapeException.class, () -> Recurrent.run(Cell.LSTM, "tanh", "sigmoid", false, false,
                    Tensor.zeros(N, F), w, u, null, null, null, null));
            assertThrows(ShapeException.class, () -> Recurrent.run(Cell.GRU, "tanh", "sigmoid", false, false,
                    x, Tensor.zeros(F, 3 * H), Tensor.zeros(H, 3 * H), Tensor.zeros(3 * H), null, null, null));
            assertThrows(ShapeException.class, () -> Recurrent.run(Cell.LSTM, "tanh", "sigmoid", false, false,
                    x, w, u, null, null, null, Tensor.zeros(N, T + 1)));
            assertThrows(DTypeException.class, () -> Recurrent.run(Cell.LSTM, "tanh", "sigmoid", false, false,
                    x, w, Tensor.zeros(DType.F64, x.device(), H, 4 * H), null, null, null, null));
            assertThrows(IllegalArgumentException.class, () -> Recurrent.run(Cell.LSTM, "softmax", "sigmoid", false,
                    false, x, w, u, null, null, null, null));
            Tensor closed = Tensor.zeros(N, T, F);
            closed.close();
            assertThrows(dev.soma.errors.ClosedTensorException.class, () -> Recurrent.run(Cell.LSTM, "tanh", "sigmoid",
                    false, false, closed, w, u, null, null, null, null));
        }
    }
}
