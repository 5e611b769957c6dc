package dev.soma.backend.cuda;

import dev.soma.backend.MatrixViews;
import dev.soma.backend.RecurrentKernels;
import dev.soma.backend.RecurrentStepLoop;
import dev.soma.jni.CudaKernels;
import dev.soma.tensor.Tensor;

import java.util.Arrays;

import static dev.soma.backend.RecurrentStepLoop.CELL;
import static dev.soma.backend.RecurrentStepLoop.HIDDEN;
import static dev.soma.backend.RecurrentStepLoop.N;

/**
 * Embeddings and recurrent layers. Plain LSTMs and GRUs (reset_after=True) run cuDNN's RNN when it is there
 * ({@link CudnnRnn}; {@link VendorPaths#cudnnRnnRefusal} says which); everything else, and every layer on the
 * emulated device or with {@code soma.cuda.vendor=false}, runs cuda-kernels/rnn.cu ({@link #hasLibraryLstm()}
 * stays false: the op's library-LSTM hook is the CPU's oneDNN path). Embeddings: a gather and a deterministic
 * scatter-add (row ownership, no atomics: the CPU's sums in the CPU's order). Our sequences run the loop the CPU
 * backend runs ({@link RecurrentStepLoop}, with this class as its device): one product for every step's input
 * projection ({@code xs @ W} over all T*N rows), one small product ({@code h @ U}) and one fused gate kernel per
 * step; backward one kernel and one product ({@code dz @ U^T}) per step, then single products over all steps for the
 * weight gradients. The products are rnn.cu's strided GEMM, which reads transposed and column-slice views in place.
 */
final class CudaRecurrent implements RecurrentKernels, RecurrentStepLoop.Device {
    private final CudaBackend backend;
    private volatile CudnnRnn cudnn;

    CudaRecurrent(CudaBackend backend) {
        this.backend = backend;
    }

    private CudnnRnn cudnn() {
        CudnnRnn c = cudnn;
        if (c == null) {
            synchronized (this) {
                if (cudnn == null) cudnn = new CudnnRnn(backend);
                c = cudnn;
            }
        }
        return c;
    }

    /** Why this layer does not go to cuDNN (emulated, switched off, not loaded, or a form cuDNN lacks), or null. */
    static String cudnnRefusal(Spec s, dev.soma.tensor.DType dtype, boolean masked, boolean recurrentDropout) {
        String refusal = VendorPaths.libraryRefusal("cuDNN", dev.soma.backend.CudaProbe.result().emulated(),
                VendorPaths.vendorEnabled(), VendorLibraries::cudnnProblem);
        return refusal != null ? refusal : VendorPaths.cudnnRnnRefusal(s, dtype, masked, recurrentDropout);
    }

    /** The family of the path log, e.g. "lstm forward" (see {@link VendorPaths#lastPath}). */
    static String family(Spec s, boolean backward) {
        return s.cell().name().toLowerCase(java.util.Locale.ROOT) + (backward ? " backward" : " forward");
    }

    private static String shape(Spec s, dev.soma.tensor.DType dtype) {
        return dtype + " N=" + s.batch() + " T=" + s.steps() + " F=" + s.features() + " H=" + s.hidden()
                + (s.goBackwards() ? " backwards" : "");
    }

    private static String cudnnName(boolean tf32, boolean training, VendorPaths.RnnAlgo algo) {
        return "cuDNN RNN v8 (" + (training ? "training" : "inference") + ", f32, "
                + (tf32 ? "TF32 allowed" : "FMA math, TF32 off") + ", algorithm "
                + algo.name().toLowerCase(java.util.Locale.ROOT) + ")";
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

    // Indices of soma_rnn_arg (native/include/soma.h).

    @Override
    public void sequenceForward(Spec s, Tensor x, Tensor w, Tensor u, Tensor bias, Tensor h0, Tensor c0, Tensor mask,
                                Workspace ws, Tensor y) {
        if (cudnnForward(s, x, w, u, bias, h0, c0, mask, ws, y)) return;
        RecurrentStepLoop.forward(this, s, x, w, u, bias, h0, c0, mask, ws, y);
    }

    @Override
    public void sequenceBackward(Spec s, Tensor w, Tensor u, Tensor bias, Tensor mask, Workspace ws, Tensor dy,
                                 Grads g) {
        if (ws.library() != null && ws.library().get() instanceof CudnnRnn.Saved saved) {
            cudnnBackward(s, ws, saved, dy, g);
            return;
        }
        VendorPaths.ran(family(s, true), shape(s, dy.dtype()), "soma rnn.cu kernels (as the forward)");
        RecurrentStepLoop.backward(this, s, w, u, mask, ws, dy, g);
    }

    // ------------------------------------------------------------------ cuDNN

    /**
     * Runs the forward through cuDNN when the layer is eligible and cuDNN accepts it: true when it did (y
     * written). Logs the path once per family and shape either way; false leaves everything to our kernels.
     */
    private boolean cudnnForward(Spec s, Tensor x, Tensor w, Tensor u, Tensor bias, Tensor h0, Tensor c0, Tensor mask,
                                 Workspace ws, Tensor y) {
        String family = family(s, false);
        String refusal = cudnnRefusal(s, x.dtype(), mask != null, ws.drop() != null);
        if (refusal == null) {
            long n = s.batch(), t = s.steps(), h = s.hidden(), es = x.dtype().byteSize();
            boolean tf32 = VendorPaths.tf32Enabled();
            RecurrentStepLoop.reorderTime(this, s, x.address(), ws.xs().address(), s.features(), x, false);
            RecurrentStepLoop.initialState(ws.h(), h0, n, h);
            if (ws.c() != null) RecurrentStepLoop.initialState(ws.c(), c0, n, h);
            String failure = cudnn().forward(s, w, u, bias, ws, tf32);
            if (failure == null) {
                CudaStatus.kernel(0, "cuDNN " + family, () -> shape(s, x.dtype())); // the sync switch
                // Outputs h[1..T] (time-major) into y[:, 0..T-1, :]; the LSTM's c_T into y[:, T, :] when asked.
                stridedCopy(x, new long[] {t, n, h}, ws.h().address() + n * h * es, new long[] {n * h, h, 1},
                        y.address(), new long[] {h, y.size(1) * h, 1});
                if (ws.c() != null && y.size(1) > t) {
                    stridedCopy(x, new long[] {n, h}, ws.c().address() + t * n * h * es, new long[] {h, 1},
                            y.address() + t * h * es, new long[] {y.size(1) * h, 1});
                }
                VendorPaths.ran(family, shape(s, x.dtype()), cudnnName(tf32, ws.library() != null, cudnn().lastForwardAlgo()));
                return true;
            }
            refusal = "cuDNN refused: " + failure;
        }
        VendorPaths.ran(family, shape(s, x.dtype()), "soma rnn.cu kernels (not cuDNN: " + refusal + ")");
        return false;
    }

    /** The backward of a cuDNN forward (it left no saved gates for ours): through cuDNN, or it throws. */
    private void cudnnBackward(Spec s, Workspace ws, CudnnRnn.Saved saved, Tensor dy, Grads g) {
        long n = s.batch(), t = s.steps(), f = s.features(), h = s.hidden(), es = dy.dtype().byteSize();
        MatrixViews v = new MatrixViews();
        try {
            Tensor dyT = v.add(Tensor.empty(dy.dtype(), dy.device(), t, n, h).keep());
            stridedCopy(dy, new long[] {t, n, h}, dy.address(), new long[] {h, dy.size(1) * h, 1}, dyT.address(),
                    new long[] {n * h, h, 1});
            Tensor dcy = null;
            if (ws.c() != null && dy.size(1) > t) {
                dcy = v.add(Tensor.empty(dy.dtype(), dy.device(), n, h).keep());
                stridedCopy(dy, new long[] {n, h}, dy.address() + t * h * es, new long[] {dy.size(1) * h, 1},
                        dcy.address(), new long[] {h, 1});
            }
            Tensor dxs = v.add(Tensor.empty(dy.dtype(), dy.device(), t * n, f).keep());
            cudnn().backward(s, ws, saved, dyT, dcy, dxs, g);
            CudaStatus.kernel(0, "cuDNN " + family(s, true), () -> shape(s, dy.dtype()));
            if (g.dx() != null) {
                RecurrentStepLoop.reorderTime(this, s, dxs.address(), g.dx().address(), f, g.dx(), true);
            }
        } finally {
            v.close();
        }
        VendorPaths.ran(family(s, true), shape(s, dy.dtype()), cudnnName(saved.tf32(), true, saved.algo()));
    }

    // ------------------------------------------------------------------ the step loop's device (RecurrentStepLoop)

    @Override
    public void step(Tensor like, boolean backward, long[] a) {
        backend.bind();
        int status = CudaKernels.soma_cuda_rnn_step(like.dtype().code(), backward ? 1 : 0, a, backend.stream());
        CudaStatus.kernel(status, "soma_cuda_rnn_step", () -> (backward ? "backward" : "forward") + " of cell "
                + a[CELL] + ", rows " + a[N] + ", hidden " + a[HIDDEN] + " in " + like.dtype());
    }

    /** c = a b for 2-d views: a and b with any strides, c with a unit column stride. */
    @Override
    public void matmul(Tensor a, Tensor b, Tensor c) {
        long m = a.size(0), k = a.size(1), n = b.size(1);
        backend.bind();
        int status = CudaKernels.soma_cuda_rnn_gemm(c.dtype().code(), m, n, k, a.address(), a.strides(), b.address(),
                b.strides(), c.address(), c.strides()[0], backend.stream());
        CudaStatus.kernel(status, "soma_cuda_rnn_gemm", () -> "of " + a.describe() + " (strides "
                + Arrays.toString(a.strides()) + ") and " + b.describe() + " (strides " + Arrays.toString(b.strides())
                + ")");
    }

    @Override
    public void columnSums(Tensor like, long rows, long cols, long in, long out) {
        backend.bind();
        int status = CudaKernels.soma_cuda_column_sums(like.dtype().code(), rows, cols, in, out, backend.stream());
        CudaStatus.kernel(status, "soma_cuda_column_sums", () -> rows + " x " + cols + " " + like.dtype());
    }

    @Override
    public void stridedCopy(Tensor like, long[] shape, long from, long[] fromStrides, long to, long[] toStrides) {
        backend.bind();
        int status = CudaKernels.soma_cuda_strided_copy(like.dtype().code(), shape.length, shape, from, fromStrides, to,
                toStrides, backend.stream());
        CudaStatus.kernel(status, "soma_cuda_strided_copy", () -> "of " + Arrays.toString(shape) + " "
                + like.dtype() + " for a recurrent layer");
    }
}
