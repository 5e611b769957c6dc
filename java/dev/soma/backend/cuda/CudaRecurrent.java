package dev.soma.backend.cuda;

import dev.soma.backend.RecurrentKernels;
import dev.soma.jni.CudaKernels;
import dev.soma.tensor.Tensor;

/**
 * Embeddings through cuda-kernels/rnn.cu: a gather, and a deterministic scatter-add (row ownership, no atomics:
 * the CPU's sums in the CPU's order). The whole-sequence recurrent layers are not on CUDA yet (the interface's
 * defaults say so); there is no library LSTM here (no cuDNN), so {@link #hasLibraryLstm()} stays false.
 */
final class CudaRecurrent implements RecurrentKernels {
    private final CudaBackend backend;

    CudaRecurrent(CudaBackend backend) {
        this.backend = backend;
    }

    @Override
    public void embeddingForward(Tensor ids, Tensor table, Tensor out) {
        backend.bind();
        int status = CudaKernels.soma_cuda_embedding_forward(table.dtype().code(), ids.numel(), table.size(1),
                ids.address(), table.address(), out.address(), backend.stream());
        CudaStatus.kernel(status, "soma_cuda_embedding_forward", () -> "of ids " + ids.describe() + " in table "
                + table.describe());
    }

    @Override
    public void embeddingBackward(Tensor ids, Tensor gradOut, Tensor gradTable) {
        backend.bind();
        int status = CudaKernels.soma_cuda_embedding_backward(gradTable.dtype().code(), ids.numel(),
                gradTable.size(1), gradTable.size(0), ids.address(), gradOut.address(), gradTable.address(),
                backend.stream());
        CudaStatus.kernel(status, "soma_cuda_embedding_backward", () -> "of ids " + ids.describe() + " and "
                + gradOut.describe() + " into " + gradTable.describe());
    }

    @Override
    public boolean hasLibraryLstm() {
        return false;
    }
}
