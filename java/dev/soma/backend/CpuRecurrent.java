package dev.soma.backend;

import dev.soma.backend.dnnl.DnnlLstm;
import dev.soma.jni.CpuKernels;
import dev.soma.tensor.Tensor;

/**
 * Recurrent layers on the CPU as our own fused kernels around matrix products: one oneDNN product for every
 * timestep's input projection ({@code xs @ W} over all T*N rows), then the recurrence. For float32 that is one
 * native call for the whole sequence ({@link RecurrentSequence}: a thread runs every step for a block of rows, its
 * own {@code h @ U} products included); float64 (gradient checks) and {@code -Dsoma.rnn.sequenceLoop=false} run the
 * step loop ({@link RecurrentStepLoop}, shared with the CUDA backend), one small product per step for the recurrent
 * part and one native kernel per step for all the gate arithmetic (native/src/rnn.cpp). Backward mirrors it: the
 * recurrence (one kernel and one product {@code dz @ U^T} per step), then single large products for the weight
 * gradients over all steps.
 */
final class CpuRecurrent implements RecurrentKernels {
    /**
     * Threads for the step loop's per-timestep work (one small product and one kernel per step, hundreds of parallel
     * regions per batch): all of OpenMP's by default. Measured on the quiet 2-core host (LSTM 64 -> 128, T=100, N=32,
     * forward + backward): 14.6 ms with 2 threads against 20.7 ms with 1. On a host whose cores other processes
     * hold, one thread is steadier (every per-step region waits for a busy core): {@code -Dsoma.rnn.stepThreads=1}.
     */
    private static final int STEP_THREADS = Integer.getInteger("soma.rnn.stepThreads", Integer.MAX_VALUE);

    @Override
    public boolean hasLibraryLstm() {
        return true;
    }

    @Override
    public long libraryLstmWorkspaceBytes(long t, long n, long f, long h) {
        return DnnlLstm.workspaceBytes(new DnnlLstm.Geometry(t, n, f, h));
    }

    @Override
    public void libraryLstmForward(Tensor x, Tensor w, Tensor u, Tensor bias, Tensor y, Tensor workspace) {
        DnnlLstm.forward(Backends.cpu().pool(), geometry(x, u), workspace != null, x.address(), w.address(),
                u.address(), bias.address(), y.address(), workspace == null ? 0 : workspace.address());
    }

    @Override
    public void libraryLstmBackward(Tensor x, Tensor w, Tensor u, Tensor bias, Tensor y, Tensor workspace, Tensor dy,
                                    Tensor dx, Tensor dw, Tensor du, Tensor db) {
        DnnlLstm.backward(Backends.cpu().pool(), geometry(x, u), x.address(), w.address(), u.address(), bias.address(),
                y.address(), workspace.address(), dy.address(), dx.address(), dw.address(), du.address(), db.address());
    }

    private static DnnlLstm.Geometry geometry(Tensor x, Tensor u) {
        return new DnnlLstm.Geometry(x.size(1), x.size(0), x.size(2), u.size(0));
    }

    @Override
    public void embeddingForward(Tensor ids, Tensor table, Tensor out) {
        CpuKernels.soma_cpu_embedding_forward(table.dtype().code(), ids.numel(), table.size(1), ids.address(),
                table.address(), out.address());
    }

    @Override
    public void embeddingBackward(Tensor ids, Tensor gradOut, Tensor gradTable) {
        CpuKernels.soma_cpu_embedding_backward(gradTable.dtype().code(), ids.numel(), gradTable.size(1),
                gradTable.size(0), ids.address(), gradOut.address(), gradTable.address());
    }

    @Override
    public void sequenceForward(Spec s, Tensor x, Tensor w, Tensor u, Tensor bias, Tensor h0, Tensor c0, Tensor mask,
                                Workspace ws, Tensor y) {
        RecurrentStepLoop.forward(DEVICE, s, x, w, u, bias, h0, c0, mask, ws, y);
    }

    @Override
    public void sequenceBackward(Spec s, Tensor w, Tensor u, Tensor bias, Tensor mask, Workspace ws, Tensor dy,
                                 Grads g) {
        RecurrentStepLoop.backward(DEVICE, s, w, u, mask, ws, dy, g);
    }

    /** Our kernels, oneDNN's products and the whole-sequence loop ({@link RecurrentSequence}) where it applies. */
    private static final RecurrentStepLoop.Device DEVICE = new RecurrentStepLoop.Device() {
        @Override
        public void step(Tensor like, boolean backward, long[] args) {
            if (backward) CpuKernels.soma_cpu_rnn_step_backward(like.dtype().code(), args);
            else CpuKernels.soma_cpu_rnn_step_forward(like.dtype().code(), args);
        }

        @Override
        public void matmul(Tensor a, Tensor b, Tensor c) {
            c.backend().linalg().matmul(a, b, c);
        }

        @Override
        public void columnSums(Tensor like, long rows, long cols, long in, long out) {
            CpuKernels.soma_cpu_column_sums(like.dtype().code(), rows, cols, in, out);
        }

        @Override
        public void stridedCopy(Tensor like, long[] shape, long from, long[] fromStrides, long to, long[] toStrides) {
            CpuKernels.soma_cpu_strided_copy(like.dtype().code(), shape.length, shape, from, fromStrides, to,
                    toStrides);
        }

        @Override
        public boolean sequenceForward(Spec s, long[] args, Tensor u, boolean fromState, Tensor like) {
            if (!RecurrentSequence.applies(like, u)) return false;
            RecurrentSequence.forward(s, args, u, fromState, like);
            return true;
        }

        @Override
        public boolean sequenceBackward(Spec s, long[] args, Tensor u, boolean wantDh0, Tensor like) {
            if (!RecurrentSequence.applies(like, u)) return false;
            RecurrentSequence.backward(s, args, u, wantDh0, like);
            return true;
        }

        @Override
        public void stepLoop(Runnable loop) {
            int threads = CpuKernels.soma_cpu_get_max_threads();
            CpuKernels.soma_cpu_set_max_threads(Math.min(threads, STEP_THREADS));
            try {
                loop.run();
            } finally {
                CpuKernels.soma_cpu_set_max_threads(threads);
            }
        }
    };
}
