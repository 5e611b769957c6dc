package dev.soma.backend;

import dev.soma.tensor.Tensor;

/**
 * Embedding gather / scatter-add and whole-sequence recurrent layers (SimpleRNN, LSTM, GRU). The op
 * ({@code dev.soma.ops.Embeddings}, {@code dev.soma.ops.Recurrent}) has validated shapes, dtypes and ids and
 * allocated every buffer; kernels trust their inputs.
 */
public interface RecurrentKernels {
    /** Cell types, codes as {@code soma_rnn_cell}. */
    enum Cell {
        SIMPLE(0, 1, 1), LSTM(1, 4, 4), GRU(2, 3, 4),
        /** Keras' GRU with reset_after=False: r multiplies h_{t-1} before the product with U_h; bias {@code [3H]}. */
        GRU_RESET_BEFORE(3, 3, 4);

        public final int code;
        /** Gate blocks in W, U and the bias (G). */
        public final int gates;
        /** Blocks of saved values per row and step (S). */
        public final int saved;

        Cell(int code, int gates, int saved) {
            this.code = code;
            this.gates = gates;
            this.saved = saved;
        }
    }

    /**
     * What shapes one recurrent run: the cell, activation codes ({@code soma_rnn_activation}), whether the
     * sequence is read last step first (Keras {@code go_backwards}), and the sizes.
     */
    record Spec(Cell cell, int activation, int recurrentActivation, boolean goBackwards, long batch, long steps,
                long features, long hidden) {}

    /**
     * Buffers one run keeps from forward to backward: the input time-major and in processing order
     * {@code xs [T, N, F]}, the states {@code h [T+1, N, H]} (h[0] the initial state), {@code c [T+1, N, H]}
     * (LSTM; else null) and the saved gate values {@code gates [T, N, S*H]}. With recurrent dropout, {@code drop
     * [N, H]} is the constant inverted-dropout multiplier of h_{t-1} where it multiplies U, and {@code hm [T, N, H]}
     * receives those products' operands h_{t-1} * drop; both null without recurrent dropout.
     */
    record Workspace(Tensor xs, Tensor h, Tensor c, Tensor gates, Tensor drop, Tensor hm, LibraryState library) {
        public Workspace(Tensor xs, Tensor h, Tensor c, Tensor gates) {
            this(xs, h, c, gates, null, null, null);
        }

        public Workspace(Tensor xs, Tensor h, Tensor c, Tensor gates, Tensor drop, Tensor hm) {
            this(xs, h, c, gates, drop, hm, null);
        }
    }

    /**
     * A slot for what a backend's library forward leaves its backward (cuDNN's reserve space and packed weights
     * on CUDA). The op passes one only when a backward will follow (training); null means inference. The
     * tensors put here belong to the scope open during the forward, as the workspace's own tensors do.
     */
    final class LibraryState {
        private Object value;

        public Object get() {
            return value;
        }

        public void set(Object value) {
            this.value = value;
        }
    }

    /** Gradients a backward writes; any may be null when not wanted. Shapes as their forward inputs. */
    record Grads(Tensor dx, Tensor dw, Tensor du, Tensor db, Tensor dh0, Tensor dc0) {}

    /** {@code out[i] = table[ids[i]]}: ids contiguous int32 (n of them), table {@code [vocab, dim]}, out {@code [n, dim]}. */
    default void embeddingForward(Tensor ids, Tensor table, Tensor out) {
        throw unsupported("embeddingForward");
    }

    /** The table's gradient {@code [vocab, dim]} (fully written) from {@code gradOut [n, dim]}. */
    default void embeddingBackward(Tensor ids, Tensor gradOut, Tensor gradTable) {
        throw unsupported("embeddingBackward");
    }

    /**
     * Runs the layer over the sequence {@code x [N, T, F]} (contiguous): kernel {@code w [F, G*H]}, recurrent
     * kernel {@code u [H, G*H]}, bias {@code [G*H]} (GRU {@code [2, 3H]}: input and recurrent bias) or null,
     * initial states {@code h0, c0 [N, H]} or null (zeros), mask {@code [N, T]} (0 = skip that step) or null.
     * Writes the outputs of step k (in processing order) to {@code y[:, k, :]}; y is contiguous
     * {@code [N, T or more, H]} (an LSTM asked for its final cell state gets it in {@code y[:, T, :]}).
     */
    default void sequenceForward(Spec spec, Tensor x, Tensor w, Tensor u, Tensor bias, Tensor h0, Tensor c0,
                                 Tensor mask, Workspace ws, Tensor y) {
        throw unsupported("sequenceForward");
    }

    /**
     * Backward through time from {@code dy} (contiguous, y's shape; an LSTM's {@code dy[:, T, :]} is the final
     * cell state's gradient when y had that row) into {@code grads}.
     */
    default void sequenceBackward(Spec spec, Tensor w, Tensor u, Tensor bias, Tensor mask, Workspace ws, Tensor dy,
                                  Grads grads) {
        throw unsupported("sequenceBackward");
    }

    /**
     * Whether the backend has a library LSTM (oneDNN's on the CPU) for the plain case: f32, zero initial states,
     * tanh / sigmoid, left to right, with bias, no mask or recurrent dropout. Then {@link #libraryLstmForward}
     * and {@link #libraryLstmBackward} replace the sequence kernels.
     */
    default boolean hasLibraryLstm() {
        return false;
    }

    /** Bytes of the workspace the library LSTM's training forward writes for its backward. */
    default long libraryLstmWorkspaceBytes(long t, long n, long f, long h) {
        throw unsupported("libraryLstmWorkspaceBytes");
    }

    /** {@code y [N, T, H]} from contiguous x, w, u, bias; with a workspace (training) it is filled for the backward. */
    default void libraryLstmForward(Tensor x, Tensor w, Tensor u, Tensor bias, Tensor y, Tensor workspace) {
        throw unsupported("libraryLstmForward");
    }

    /** dx, dw, du, db (all contiguous, all given) from the forward's tensors, its workspace and dy. */
    default void libraryLstmBackward(Tensor x, Tensor w, Tensor u, Tensor bias, Tensor y, Tensor workspace, Tensor dy,
                                     Tensor dx, Tensor dw, Tensor du, Tensor db) {
        throw unsupported("libraryLstmBackward");
    }

    private UnsupportedOperationException unsupported(String kernel) {
        return new UnsupportedOperationException("recurrent." + kernel + ": not implemented on " + getClass().getSimpleName());
    }
}
