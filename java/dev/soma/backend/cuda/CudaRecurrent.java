package dev.soma.backend.cuda;

import dev.soma.backend.ElementwiseKernels.BinaryOp;
import dev.soma.backend.MatrixViews;
import dev.soma.backend.RecurrentKernels;
import dev.soma.jni.CudaKernels;
import dev.soma.tensor.Tensor;

import java.util.Arrays;

import static dev.soma.backend.MatrixViews.columns;
import static dev.soma.backend.MatrixViews.strided;
import static dev.soma.backend.MatrixViews.transposed;
import static dev.soma.backend.MatrixViews.view;

/**
 * Embeddings and recurrent layers. Plain LSTMs and GRUs (reset_after=True) run cuDNN's RNN when it is there
 * ({@link CudnnRnn}; {@link VendorPaths#cudnnRnnRefusal} says which); everything else, and every layer on the
 * emulated device or with {@code soma.cuda.vendor=false}, runs cuda-kernels/rnn.cu ({@link #hasLibraryLstm()}
 * stays false: the op's library-LSTM hook is the CPU's oneDNN path). Embeddings: a gather and a deterministic
 * scatter-add (row ownership, no atomics: the CPU's sums in the CPU's order). Our sequences run the CPU backend's
 * loop (CpuRecurrent) on the
 * device: one product for every step's input projection ({@code xs @ W} over all T*N rows), one small product
 * ({@code h @ U}) and one fused gate kernel per step; backward one kernel and one product ({@code dz @ U^T}) per
 * step, then single products over all steps for the weight gradients. The products are rnn.cu's strided GEMM,
 * which reads transposed and column-slice views in place.
 */
final class CudaRecurrent implements RecurrentKernels {
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
    private static final int CELL = 0, ACT = 1, RACT = 2, N = 3, HIDDEN = 4, MASK_STRIDE = 5, Y_STRIDE = 6, XP = 7,
            HU = 8, BIAS = 9, RBIAS = 10, H_PREV = 11, C_PREV = 12, MASK = 13, GATES = 14, H_OUT = 15, C_OUT = 16,
            Y = 17, DC = 18, DZ = 19, DZ_REC = 20, PHASE = 21, H_MM = 22, RDROP = 23, COUNT = 24;

    @Override
    public void sequenceForward(Spec s, Tensor x, Tensor w, Tensor u, Tensor bias, Tensor h0, Tensor c0, Tensor mask,
                                Workspace ws, Tensor y) {
        long n = s.batch(), t = s.steps(), f = s.features(), h = s.hidden();
        long gh = s.cell().gates * h;
        long es = x.dtype().byteSize();
        if (cudnnForward(s, x, w, u, bias, h0, c0, mask, ws, y)) return;
        MatrixViews v = new MatrixViews();
        try {
            reorderTime(s, x.address(), ws.xs().address(), f, x, false);
            Tensor xp = v.add(Tensor.empty(x.dtype(), x.device(), t * n, gh).keep());
            gemm(v.of(ws.xs(), 0, t * n, f), w, xp);
            initialState(ws.h(), h0, n, h);
            if (ws.c() != null) initialState(ws.c(), c0, n, h);
            boolean before = s.cell() == Cell.GRU_RESET_BEFORE;
            Tensor uFirst = before ? v.add(columns(u, 0, 2 * h)) : u;
            Tensor uCand = before ? v.add(columns(u, 2 * h, h)) : null;
            Tensor hu = v.add(Tensor.empty(x.dtype(), x.device(), n, before ? 2 * h : gh).keep());
            Tensor huCand = before ? v.add(Tensor.empty(x.dtype(), x.device(), n, h).keep()) : null;
            Tensor hm = ws.drop() != null ? ws.hm() : ws.h();
            long[] a = baseArgs(s, mask, ws);
            a[Y_STRIDE] = y.size(1) * h;
            if (bias != null) {
                a[BIAS] = bias.address();
                if (s.cell() == Cell.GRU) a[RBIAS] = bias.address() + gh * es;
            }
            for (long k = 0; k < t; k++) {
                long tIn = s.goBackwards() ? t - 1 - k : k;
                boolean recurrent = k > 0 || h0 != null;
                if (ws.drop() != null) {
                    try (Tensor hPrev = view(ws.h(), k * n * h, n, h); Tensor hmk = view(hm, k * n * h, n, h)) {
                        backend.elementwise().binary(BinaryOp.MUL, hPrev, ws.drop(), hmk);
                    }
                }
                a[H_MM] = hm.address() + k * n * h * es;
                if (recurrent) {
                    try (Tensor hPrev = view(hm, k * n * h, n, h)) {
                        gemm(hPrev, uFirst, hu);
                    }
                }
                a[XP] = xp.address() + k * n * gh * es;
                a[HU] = recurrent ? hu.address() : 0;
                a[H_PREV] = ws.h().address() + k * n * h * es;
                a[H_OUT] = a[H_PREV] + n * h * es;
                if (ws.c() != null) {
                    a[C_PREV] = ws.c().address() + k * n * h * es;
                    a[C_OUT] = a[C_PREV] + n * h * es;
                }
                a[MASK] = mask == null ? 0 : mask.address() + tIn * es;
                a[GATES] = ws.gates().address() + k * n * s.cell().saved * h * es;
                a[Y] = y.address() + k * h * es;
                a[PHASE] = 0;
                step(x, false, a);
                if (before) {
                    if (recurrent) {
                        try (Tensor rh = strided(ws.gates(), k * n * 4 * h + 3 * h, n, h, 4 * h)) {
                            gemm(rh, uCand, huCand);
                        }
                    }
                    a[HU] = recurrent ? huCand.address() : 0;
                    a[PHASE] = 1;
                    step(x, false, a);
                }
            }
            if (ws.c() != null && y.size(1) > t) {
                stridedCopy(x, new long[] {n, h}, ws.c().address() + t * n * h * es, new long[] {h, 1},
                        y.address() + t * h * es, new long[] {y.size(1) * h, 1});
            }
        } finally {
            v.close();
        }
    }

    @Override
    public void sequenceBackward(Spec s, Tensor w, Tensor u, Tensor bias, Tensor mask, Workspace ws, Tensor dy,
                                 Grads g) {
        long n = s.batch(), t = s.steps(), f = s.features(), h = s.hidden();
        long gh = s.cell().gates * h;
        long es = dy.dtype().byteSize();
        boolean gru = s.cell() == Cell.GRU;
        if (ws.library() != null && ws.library().get() instanceof CudnnRnn.Saved saved) {
            cudnnBackward(s, ws, saved, dy, g);
            return;
        }
        VendorPaths.ran(family(s, true), shape(s, dy.dtype()), "soma rnn.cu kernels (as the forward)");
        MatrixViews v = new MatrixViews();
        try {
            Tensor dz = v.add(Tensor.empty(dy.dtype(), dy.device(), t * n, gh).keep());
            Tensor dzRec = gru ? v.add(Tensor.empty(dy.dtype(), dy.device(), t * n, gh).keep()) : dz;
            Tensor carry = v.add(zeros(dy, n, h));
            Tensor dc = ws.c() == null ? null : v.add(zeros(dy, n, h));
            Tensor dhMm = v.add(Tensor.empty(dy.dtype(), dy.device(), n, h).keep());
            if (dc != null && dy.size(1) > t) {
                stridedCopy(dy, new long[] {n, h}, dy.address() + t * h * es, new long[] {dy.size(1) * h, 1},
                        dc.address(), new long[] {h, 1});
            }
            boolean before = s.cell() == Cell.GRU_RESET_BEFORE;
            Tensor uT = v.add(transposed(before ? v.add(columns(u, 0, 2 * h)) : u));
            Tensor uCandT = before ? v.add(transposed(v.add(columns(u, 2 * h, h)))) : null;
            Tensor dRh = before ? v.add(Tensor.empty(dy.dtype(), dy.device(), n, h).keep()) : null;
            Tensor hm = ws.drop() != null ? ws.hm() : ws.h();
            long[] a = baseArgs(s, mask, ws);
            a[Y_STRIDE] = dy.size(1) * h;
            for (long k = t - 1; k >= 0; k--) {
                long tIn = s.goBackwards() ? t - 1 - k : k;
                a[GATES] = ws.gates().address() + k * n * s.cell().saved * h * es;
                a[H_PREV] = ws.h().address() + k * n * h * es;
                if (ws.c() != null) {
                    a[C_PREV] = ws.c().address() + k * n * h * es;
                    a[C_OUT] = a[C_PREV] + n * h * es;
                }
                a[MASK] = mask == null ? 0 : mask.address() + tIn * es;
                a[Y] = dy.address() + k * h * es;
                a[HU] = k < t - 1 ? dhMm.address() : 0;
                a[H_OUT] = carry.address();
                a[DC] = dc == null ? 0 : dc.address();
                a[DZ] = dz.address() + k * n * gh * es;
                a[DZ_REC] = gru ? dzRec.address() + k * n * gh * es : 0;
                a[H_MM] = hm.address() + k * n * h * es;
                a[PHASE] = 0;
                step(dy, true, a);
                if (before) {
                    try (Tensor dzCand = strided(dz, k * n * gh + 2 * h, n, h, gh)) {
                        gemm(dzCand, uCandT, dRh);
                    }
                    a[HU] = dRh.address();
                    a[PHASE] = 1;
                    step(dy, true, a);
                }
                if (k > 0 || g.dh0() != null) {
                    try (Tensor dzk = before ? strided(dz, k * n * gh, n, 2 * h, gh) : view(dzRec, k * n * gh, n, gh)) {
                        gemm(dzk, uT, dhMm);
                    }
                }
            }
            if (g.dh0() != null) {
                if (ws.drop() != null) {
                    backend.elementwise().binary(BinaryOp.MUL, dhMm, ws.drop(), g.dh0());
                } else {
                    backend.memory().copy(dhMm, g.dh0());
                }
                backend.memory().accumulate(g.dh0(), carry);
            }
            if (g.dc0() != null) backend.memory().copy(dc, g.dc0());
            if (g.du() != null && before) {
                // U[:, :2H] multiplied h_mm and U[:, 2H:] multiplied r * h_mm (saved gate block 3): two products
                // over all steps, each written straight into its column block of dU.
                try (Tensor hs = view(hm, 0, t * n, h); Tensor hsT = transposed(hs);
                     Tensor dzFirst = strided(dz, 0, t * n, 2 * h, gh); Tensor duFirst = strided(g.du(), 0, h, 2 * h, gh);
                     Tensor rh = strided(ws.gates(), 3 * h, t * n, h, 4 * h); Tensor rhT = transposed(rh);
                     Tensor dzCand = strided(dz, 2 * h, t * n, h, gh); Tensor duCand = strided(g.du(), 2 * h, h, h, gh)) {
                    gemm(hsT, dzFirst, duFirst);
                    gemm(rhT, dzCand, duCand);
                }
            } else if (g.du() != null) {
                try (Tensor hs = view(hm, 0, t * n, h); Tensor hsT = transposed(hs)) {
                    gemm(hsT, dzRec, g.du());
                }
            }
            if (g.dw() != null) {
                try (Tensor xs = view(ws.xs(), 0, t * n, f); Tensor xsT = transposed(xs)) {
                    gemm(xsT, dz, g.dw());
                }
            }
            if (g.db() != null) {
                columnSums(dy, t * n, gh, dz.address(), g.db().address());
                if (gru) columnSums(dy, t * n, gh, dzRec.address(), g.db().address() + gh * es);
            }
            if (g.dx() != null) {
                Tensor dxs = v.add(Tensor.empty(dy.dtype(), dy.device(), t * n, f).keep());
                try (Tensor wT = transposed(w)) {
                    gemm(dz, wT, dxs);
                }
                reorderTime(s, dxs.address(), g.dx().address(), f, g.dx(), true);
            }
        } finally {
            v.close();
        }
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
            reorderTime(s, x.address(), ws.xs().address(), s.features(), x, false);
            initialState(ws.h(), h0, n, h);
            if (ws.c() != null) initialState(ws.c(), c0, n, h);
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
            if (g.dx() != null) reorderTime(s, dxs.address(), g.dx().address(), f, g.dx(), true);
        } finally {
            v.close();
        }
        VendorPaths.ran(family(s, true), shape(s, dy.dtype()), cudnnName(saved.tf32(), true, saved.algo()));
    }

    // ------------------------------------------------------------------ helpers

    private void step(Tensor like, boolean backward, long[] a) {
        backend.bind();
        int status = CudaKernels.soma_cuda_rnn_step(like.dtype().code(), backward ? 1 : 0, a, backend.stream());
        CudaStatus.kernel(status, "soma_cuda_rnn_step", () -> (backward ? "backward" : "forward") + " of cell "
                + a[CELL] + ", rows " + a[N] + ", hidden " + a[HIDDEN] + " in " + like.dtype());
    }

    /** c = a b for 2-d views: a and b with any strides, c with a unit column stride. */
    private void gemm(Tensor a, Tensor b, Tensor c) {
        long m = a.size(0), k = a.size(1), n = b.size(1);
        backend.bind();
        int status = CudaKernels.soma_cuda_rnn_gemm(c.dtype().code(), m, n, k, a.address(), a.strides(), b.address(),
                b.strides(), c.address(), c.strides()[0], backend.stream());
        CudaStatus.kernel(status, "soma_cuda_rnn_gemm", () -> "of " + a.describe() + " (strides "
                + Arrays.toString(a.strides()) + ") and " + b.describe() + " (strides " + Arrays.toString(b.strides())
                + ")");
    }

    private void columnSums(Tensor like, long rows, long cols, long in, long out) {
        backend.bind();
        int status = CudaKernels.soma_cuda_column_sums(like.dtype().code(), rows, cols, in, out, backend.stream());
        CudaStatus.kernel(status, "soma_cuda_column_sums", () -> rows + " x " + cols + " " + like.dtype());
    }

    private void stridedCopy(Tensor like, long[] shape, long from, long[] fromStrides, long to, long[] toStrides) {
        backend.bind();
        int status = CudaKernels.soma_cuda_strided_copy(like.dtype().code(), shape.length, shape, from, fromStrides, to,
                toStrides, backend.stream());
        CudaStatus.kernel(status, "soma_cuda_strided_copy", () -> "of " + Arrays.toString(shape) + " "
                + like.dtype() + " for a recurrent layer");
    }

    private Tensor zeros(Tensor like, long rows, long cols) {
        Tensor z = Tensor.empty(like.dtype(), like.device(), rows, cols).keep();
        backend.memory().fill(z, 0.0);
        return z;
    }

    private static long[] baseArgs(Spec s, Tensor mask, Workspace ws) {
        long[] a = new long[COUNT];
        a[RDROP] = ws.drop() == null ? 0 : ws.drop().address();
        a[CELL] = s.cell().code;
        a[ACT] = s.activation();
        a[RACT] = s.recurrentActivation();
        a[N] = s.batch();
        a[HIDDEN] = s.hidden();
        a[MASK_STRIDE] = mask == null ? 0 : s.steps();
        return a;
    }

    /** Batch-major [N, T, F] to and from time-major [T, N, F] in processing order (as CpuRecurrent). */
    private void reorderTime(Spec s, long from, long to, long f, Tensor like, boolean back) {
        long n = s.batch(), t = s.steps();
        long es = like.dtype().byteSize();
        long[] shape = {t, n, f};
        long[] timeMajor = {n * f, f, 1};
        long tStride = s.goBackwards() ? -f : f;
        long first = s.goBackwards() ? (t - 1) * f * es : 0;
        long[] batchMajor = {tStride, t * f, 1};
        if (!back) {
            stridedCopy(like, shape, from + first, batchMajor, to, timeMajor);
        } else {
            stridedCopy(like, shape, from, timeMajor, to + first, batchMajor);
        }
    }

    private void initialState(Tensor states, Tensor initial, long n, long h) {
        try (Tensor first = view(states, 0, n, h)) {
            if (initial == null) {
                backend.memory().fill(first, 0.0);
            } else {
                backend.memory().copy(initial, first);
            }
        }
    }
}
