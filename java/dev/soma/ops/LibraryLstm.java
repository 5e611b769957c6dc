package dev.soma.ops;

import dev.soma.autograd.Autograd;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

/**
 * The LSTM through the backend's library primitive (oneDNN on the CPU) for the plain case it covers, chosen by
 * {@link Recurrent#run} because it measured faster than our fused kernels there (bench/lstm-notes.md). Everything
 * else (masks, initial states, go_backwards, recurrent dropout, f64, other activations, no bias) stays on ours.
 */
final class LibraryLstm {
    /** {@code -Dsoma.rnn.library=false} keeps every LSTM on our kernels (to compare the two). */
    private static volatile boolean enabled = !"false".equals(System.getProperty("soma.rnn.library"));

    private LibraryLstm() {}

    static void enable(boolean on) {
        enabled = on;
    }

    static boolean enabled() {
        return enabled;
    }

    static boolean applies(Tensor x, Tensor bias, boolean plainActivations, boolean goBackwards, boolean withFinalCell,
                           Tensor h0, Tensor c0, Tensor mask, Tensor recurrentDrop) {
        return enabled && plainActivations && !goBackwards && !withFinalCell && h0 == null && c0 == null && mask == null
                && recurrentDrop == null && bias != null && x.dtype() == DType.F32
                // oneDNN 3.11 gave a non-zero recurrent-kernel gradient for a batch of one over one step (it must be
                // zero: h_0 = 0); batches of one (mostly inference) and single steps stay on our kernels.
                && x.size(0) >= 2 && x.size(1) >= 2
                && x.backend().recurrent().hasLibraryLstm();
    }

    /** {@code y [N, T, H]}, recorded for autograd when any input needs a gradient. */
    static Tensor run(String op, Tensor x, Tensor w, Tensor u, Tensor bias) {
        long n = x.size(0), t = x.size(1), f = x.size(2), h = u.size(0);
        Tensor xc = Embeddings.dense(x);
        Tensor wc = Embeddings.dense(w);
        Tensor uc = Embeddings.dense(u);
        Tensor bc = Embeddings.dense(bias);
        boolean grad = Autograd.needsGrad(x, w, u, bias);
        var kernels = x.backend().recurrent();
        Tensor workspace = null;
        if (grad) {
            long bytes = kernels.libraryLstmWorkspaceBytes(t, n, f, h);
            workspace = Tensor.empty(DType.F32, x.device(), Math.max(1, (bytes + 3) / 4));
        }
        Tensor y = Tensor.empty(DType.F32, x.device(), n, t, h);
        kernels.libraryLstmForward(xc, wc, uc, bc, y, workspace);
        if (!grad) {
            for (Tensor c : new Tensor[] {xc, wc, uc, bc}) c.close();
            return y;
        }
        Tensor ws = workspace;
        // The backward reads x, the weights, y and the workspace (all closed with the step's scope).
        return Autograd.record(op, y, g -> {
            Tensor dx = Tensor.empty(DType.F32, x.device(), x.shape());
            Tensor dw = Tensor.empty(DType.F32, x.device(), w.shape());
            Tensor du = Tensor.empty(DType.F32, x.device(), u.shape());
            Tensor db = Tensor.empty(DType.F32, x.device(), bias.shape());
            try (Tensor gc = Embeddings.dense(g)) {
                kernels.libraryLstmBackward(xc, wc, uc, bc, y, ws, gc, dx, dw, du, db);
            }
            return new Tensor[] {x.requiresGrad() ? dx : null, w.requiresGrad() ? dw : null,
                    u.requiresGrad() ? du : null, bias.requiresGrad() ? db : null};
        }, x, w, u, bias);
    }
}
