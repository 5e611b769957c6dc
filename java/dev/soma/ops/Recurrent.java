package dev.soma.ops;

import dev.soma.autograd.Autograd;
import dev.soma.backend.RecurrentKernels.Cell;
import dev.soma.backend.RecurrentKernels.Grads;
import dev.soma.backend.RecurrentKernels.LibraryState;
import dev.soma.backend.RecurrentKernels.Spec;
import dev.soma.backend.RecurrentKernels.Workspace;
import dev.soma.errors.DTypeException;
import dev.soma.errors.ShapeException;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

import java.util.Arrays;

/**
 * A whole recurrent layer over a sequence as one op (SimpleRNN, LSTM, GRU with Keras' reset_after=True or, as
 * {@link Cell#GRU_RESET_BEFORE}, reset_after=False with one bias {@code [3H]}), with backward through time. Keras semantics and weight layouts: {@code x [N, T, F]}, kernel {@code w [F, G*H]},
 * recurrent kernel {@code u [H, G*H]}, gates in Keras order (LSTM i, f, c, o; GRU z, r, h), bias {@code [G*H]}
 * (GRU {@code [2, 3H]}: input bias and recurrent bias). A mask {@code [N, T]} (1 = real step, 0 = padding; same
 * dtype as x) makes a padded step copy the previous state and output, so it changes neither. Recurrent dropout: a
 * constant multiplier {@code [N, H]} (0 or 1/(1-rate), drawn by the caller once per sequence) applied to h_{t-1}
 * where it multiplies the recurrent kernel, the same at every step (it gets no gradient).
 *
 * <p>The output is the sequence of outputs {@code [N, T, H]} in processing order (reversed with go_backwards,
 * as Keras); the last step's output is the final h. An LSTM asked for its final cell state returns
 * {@code [N, T + 1, H]} with c_T in row T.
 */
public final class Recurrent {
    private Recurrent() {}

    /** Activation code for the fused kernels, by Keras name ({@code soma_rnn_activation}). */
    public static int activationCode(String name) {
        if (name == null) return 0;
        return switch (name) {
            case "linear", "none" -> 0;
            case "tanh" -> 1;
            case "sigmoid" -> 2;
            case "relu" -> 3;
            case "hard_sigmoid" -> 4;
            default -> throw new IllegalArgumentException("recurrent layers support the activations tanh, sigmoid, "
                    + "relu, hard_sigmoid and linear, got '" + name + "'");
        };
    }

    public static Tensor run(Cell cell, String activation, String recurrentActivation, boolean goBackwards,
                             boolean withFinalCell, Tensor x, Tensor w, Tensor u, Tensor bias, Tensor h0, Tensor c0,
                             Tensor mask) {
        return run(cell, activation, recurrentActivation, goBackwards, withFinalCell, x, w, u, bias, h0, c0, mask, null);
    }

    /** As above, with the recurrent dropout multiplier {@code recurrentDrop [N, H]} (null: none). */
    public static Tensor run(Cell cell, String activation, String recurrentActivation, boolean goBackwards,
                             boolean withFinalCell, Tensor x, Tensor w, Tensor u, Tensor bias, Tensor h0, Tensor c0,
                             Tensor mask, Tensor recurrentDrop) {
        String op = cell.name().toLowerCase(java.util.Locale.ROOT);
        int act = activationCode(activation);
        int ract = activationCode(recurrentActivation);
        Check.open(op, x, w, u);
        if (recurrentDrop != null) Check.open(op, recurrentDrop);
        Check.sameDevice(op, present(x, w, u, bias, h0, c0, mask, recurrentDrop));
        DType dtype = Check.sameDType(op, present(x, w, u, bias, h0, c0, mask, recurrentDrop));
        Check.floating(op, x);
        if (x.ndim() != 3 || x.size(1) == 0) {
            throw new ShapeException(op + ": input " + x.describe() + " must be [batch, steps, features] with steps >= 1");
        }
        long n = x.size(0), t = x.size(1), f = x.size(2);
        if (u.ndim() != 2) throw new ShapeException(op + ": recurrent kernel " + u.describe() + " must be [units, gates*units]");
        long h = u.size(0);
        long gh = cell.gates * h;
        expect(op, "kernel", w, f, gh);
        expect(op, "recurrent kernel", u, h, gh);
        if (bias != null) {
            if (cell == Cell.GRU) expect(op, "bias", bias, 2, gh);
            else expect(op, "bias", bias, gh);
        }
        if (h0 != null) expect(op, "initial state h", h0, n, h);
        if (c0 != null) {
            if (cell != Cell.LSTM) throw new ShapeException(op + ": only an LSTM has an initial cell state, got " + c0.describe());
            expect(op, "initial state c", c0, n, h);
        }
        if (mask != null) expect(op, "mask", mask, n, t);
        if (recurrentDrop != null) expect(op, "recurrent dropout multiplier", recurrentDrop, n, h);
        if (withFinalCell && cell != Cell.LSTM) {
            throw new IllegalArgumentException(op + ": only an LSTM has a final cell state to return");
        }
        boolean plainActivations = act == activationCode("tanh") && ract == activationCode("sigmoid");
        if (cell == Cell.LSTM && h > 0
                && LibraryLstm.applies(x, bias, plainActivations, goBackwards, withFinalCell, h0, c0, mask, recurrentDrop)) {
            return LibraryLstm.run(op, x, w, u, bias);
        }
        Spec spec = new Spec(cell, act, ract, goBackwards, n, t, f, h);
        Tensor xc = Embeddings.dense(x);
        Tensor wc = Embeddings.dense(w);
        Tensor uc = Embeddings.dense(u);
        Tensor bc = bias == null ? null : Embeddings.dense(bias);
        Tensor h0c = h0 == null ? null : Embeddings.dense(h0);
        Tensor c0c = c0 == null ? null : Embeddings.dense(c0);
        Tensor mc = mask == null ? null : Embeddings.dense(mask);
        Tensor dc = recurrentDrop == null ? null : Embeddings.dense(recurrentDrop);
        boolean grad = Autograd.needsGrad(x, w, u, bias, h0, c0);
        Workspace ws = new Workspace(Tensor.empty(dtype, x.device(), t, n, f), Tensor.empty(dtype, x.device(), t + 1, n, h),
                cell == Cell.LSTM ? Tensor.empty(dtype, x.device(), t + 1, n, h) : null,
                Tensor.empty(dtype, x.device(), t, n, cell.saved * h), dc,
                dc == null ? null : Tensor.empty(dtype, x.device(), t, n, h), grad ? new LibraryState() : null);
        Tensor y = Tensor.empty(dtype, x.device(), n, t + (withFinalCell ? 1 : 0), h);
        try {
            if (n > 0 && h > 0) x.backend().recurrent().sequenceForward(spec, xc, wc, uc, bc, h0c, c0c, mc, ws, y);
        } finally {
            for (Tensor c : new Tensor[] {xc, h0c, c0c}) if (c != null) c.close();
            if (!grad) {
                for (Tensor c : new Tensor[] {wc, uc, bc, mc, ws.xs(), ws.h(), ws.c(), ws.gates(), dc, ws.hm()}) if (c != null) c.close();
            }
        }
        if (!grad) return y;
        // The backward reads the workspace and the dense weights (closed with the step's scope).
        return Autograd.record(op, y, g -> {
            Check.open(op + " backward", ws.h(), g);
            Tensor dx = x.requiresGrad() ? Tensor.empty(dtype, x.device(), x.shape()) : null;
            Tensor dw = w.requiresGrad() ? Tensor.empty(dtype, x.device(), w.shape()) : null;
            Tensor du = u.requiresGrad() ? Tensor.empty(dtype, x.device(), u.shape()) : null;
            Tensor db = bias != null && bias.requiresGrad() ? Tensor.empty(dtype, x.device(), bias.shape()) : null;
            Tensor dh0 = h0 != null && h0.requiresGrad() ? Tensor.empty(dtype, x.device(), h0.shape()) : null;
            Tensor dc0 = c0 != null && c0.requiresGrad() ? Tensor.empty(dtype, x.device(), c0.shape()) : null;
            try (Tensor gc = Embeddings.dense(g)) {
                if (n > 0 && h > 0) {
                    x.backend().recurrent().sequenceBackward(spec, wc, uc, bc, mc, ws, gc, new Grads(dx, dw, du, db, dh0, dc0));
                } else {
                    for (Tensor z : new Tensor[] {dx, dw, du, db, dh0, dc0}) if (z != null) x.backend().memory().fill(z, 0);
                }
            }
            return new Tensor[] {dx, dw, du, db, dh0, dc0};
        }, x, w, u, bias, h0, c0);
    }

    /**
     * Whether plain f32 LSTMs may run on the backend's library primitive (oneDNN's on the CPU; default on, or
     * {@code -Dsoma.rnn.library=false}); off keeps every LSTM on our fused kernels. For comparisons and tests.
     */
    public static void useLibraryLstm(boolean on) {
        LibraryLstm.enable(on);
    }

    public static boolean usesLibraryLstm() {
        return LibraryLstm.enabled();
    }

    /** The sequence {@code [N, T, ...]} with its time axis (1) reversed: a copy. Backward: the same reversal. */
    public static Tensor reverseTime(Tensor x) {
        String op = "reverseTime";
        Check.open(op, x);
        if (x.ndim() < 2) throw new ShapeException(op + ": " + x.describe() + " has no time axis (expected [batch, steps, ...])");
        long t = x.size(1);
        long[] strides = x.strides();
        long offset = x.offset() + (t > 0 ? (t - 1) * strides[1] : 0);
        strides[1] = -strides[1];
        Tensor out = Tensor.empty(x.dtype(), x.device(), x.shape());
        try (Tensor reversed = x.viewOf(offset, x.shape(), strides)) {
            if (x.numel() > 0) x.backend().memory().copy(reversed, out);
        }
        return Autograd.record(op, out, g -> new Tensor[] {reverseTime(g)}, x);
    }

    private static Tensor[] present(Tensor... ts) {
        return Arrays.stream(ts).filter(java.util.Objects::nonNull).toArray(Tensor[]::new);
    }

    private static void expect(String op, String what, Tensor t, long... shape) {
        if (!Arrays.equals(t.shape(), shape)) {
            throw new ShapeException(op + ": " + what + " " + t.describe() + " must have shape " + Arrays.toString(shape));
        }
    }

    static void requireFloating(String op, Tensor t) {
        if (!t.dtype().isFloating()) throw new DTypeException(op + ": " + t.describe() + " must be floating point");
    }
}
