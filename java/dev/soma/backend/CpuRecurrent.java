package dev.soma.backend;

import dev.soma.backend.dnnl.DnnlLstm;

import dev.soma.backend.ElementwiseKernels.BinaryOp;
import dev.soma.jni.CpuKernels;
import dev.soma.tensor.Tensor;


import static dev.soma.backend.MatrixViews.columns;
import static dev.soma.backend.MatrixViews.strided;
import static dev.soma.backend.MatrixViews.transposed;
import static dev.soma.backend.MatrixViews.view;

/**
 * Recurrent layers on the CPU as our own fused kernels around matrix products: one oneDNN product for every
 * timestep's input projection ({@code xs @ W} over all T*N rows), then the recurrence. For float32 that is one
 * native call for the whole sequence ({@link RecurrentSequence}: a thread runs every step for a block of rows, its
 * own {@code h @ U} products included); float64 (gradient checks) and {@code -Dsoma.rnn.sequenceLoop=false} run the
 * step loop here, one small product per step for the recurrent part and one native kernel per step for all the gate
 * arithmetic (native/src/rnn.cpp). Backward mirrors it: the recurrence (one kernel and one product
 * {@code dz @ U^T} per step), then single large products for the weight gradients over all steps.
 */
final class CpuRecurrent implements RecurrentKernels {
    /**
     * Threads for the step loop's per-timestep work (one small product and one kernel per step, hundreds of parallel
     * regions per batch): all of OpenMP's by default. Measured on the quiet 2-core host (LSTM 64 -> 128, T=100, N=32,
     * forward + backward): 14.6 ms with 2 threads against 20.7 ms with 1. On a host whose cores other processes
     * hold, one thread is steadier (every per-step region waits for a busy core): {@code -Dsoma.rnn.stepThreads=1}.
     */
    private static final int STEP_THREADS = Integer.getInteger("soma.rnn.stepThreads", Integer.MAX_VALUE);

    // Indices of soma_rnn_arg (native/include/soma.h).
    private static final int CELL = 0, ACT = 1, RACT = 2, N = 3, HIDDEN = 4, MASK_STRIDE = 5, Y_STRIDE = 6, XP = 7,
            HU = 8, BIAS = 9, RBIAS = 10, H_PREV = 11, C_PREV = 12, MASK = 13, GATES = 14, H_OUT = 15, C_OUT = 16,
            Y = 17, DC = 18, DZ = 19, DZ_REC = 20, PHASE = 21, H_MM = 22, RDROP = 23, COUNT = 24;

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
        long n = s.batch(), t = s.steps(), f = s.features(), h = s.hidden();
        long gh = s.cell().gates * h;
        long es = x.dtype().byteSize();
        MatrixViews v = new MatrixViews();
        try {
            reorderTime(s, x.address(), ws.xs().address(), f, es, x, false);
            Tensor xp = v.add(Tensor.empty(x.dtype(), x.device(), t * n, gh));
            x.backend().linalg().matmul(v.of(ws.xs(), 0, t * n, f), w, xp);
            initialState(ws.h(), h0, n * h, es);
            if (ws.c() != null) initialState(ws.c(), c0, n * h, es);
            Tensor hm = ws.drop() != null ? ws.hm() : ws.h();
            long[] a = baseArgs(s, mask, ws);
            a[Y_STRIDE] = y.size(1) * h;
            setBiases(a, s, bias, es);
            if (RecurrentSequence.applies(x, u)) {
                a[XP] = xp.address();
                a[H_PREV] = ws.h().address();
                a[C_PREV] = ws.c() == null ? 0 : ws.c().address();
                a[MASK] = mask == null ? 0 : mask.address();
                a[GATES] = ws.gates().address();
                a[Y] = y.address();
                a[H_MM] = hm.address();
                RecurrentSequence.forward(s, a, u, h0 != null, x);
            } else {
                boolean before = s.cell() == Cell.GRU_RESET_BEFORE;
                // reset_after=False multiplies U in two parts per step: U[:, :2H] (z, r), then U[:, 2H:] (candidate).
                Tensor uFirst = before ? v.add(columns(u, 0, 2 * h)) : u;
                Tensor uCand = before ? v.add(columns(u, 2 * h, h)) : null;
                Tensor hu = v.add(Tensor.empty(x.dtype(), x.device(), n, before ? 2 * h : gh));
                Tensor huCand = before ? v.add(Tensor.empty(x.dtype(), x.device(), n, h)) : null;
                int threads = CpuKernels.soma_cpu_get_max_threads();
                CpuKernels.soma_cpu_set_max_threads(Math.min(threads, STEP_THREADS));
                try {
                    for (long k = 0; k < t; k++) {
                        long tIn = s.goBackwards() ? t - 1 - k : k;
                        boolean recurrent = k > 0 || h0 != null;
                        if (ws.drop() != null) {
                            try (Tensor hPrev = view(ws.h(), k * n * h, n, h); Tensor hmk = view(hm, k * n * h, n, h)) {
                                x.backend().elementwise().binary(BinaryOp.MUL, hPrev, ws.drop(), hmk);
                            }
                        }
                        a[H_MM] = hm.address() + k * n * h * es;
                        if (recurrent) {
                            try (Tensor hPrev = view(hm, k * n * h, n, h)) {
                                x.backend().linalg().matmul(hPrev, uFirst, hu);
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
                        CpuKernels.soma_cpu_rnn_step_forward(x.dtype().code(), a);
                        if (before) {
                            if (recurrent) {
                                try (Tensor rh = strided(ws.gates(), k * n * 4 * h + 3 * h, n, h, 4 * h)) {
                                    x.backend().linalg().matmul(rh, uCand, huCand);
                                }
                            }
                            a[HU] = recurrent ? huCand.address() : 0;
                            a[PHASE] = 1;
                            CpuKernels.soma_cpu_rnn_step_forward(x.dtype().code(), a);
                        }
                    }
                } finally {
                    CpuKernels.soma_cpu_set_max_threads(threads);
                }
            }
            if (ws.c() != null && y.size(1) > t) {
                // The final cell state goes into y[:, T, :] for return_state.
                long[] shape = {n, h};
                CpuKernels.soma_cpu_strided_copy(x.dtype().code(), 2, shape, ws.c().address() + t * n * h * es,
                        new long[] {h, 1}, y.address() + t * h * es, new long[] {y.size(1) * h, 1});
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
        MatrixViews v = new MatrixViews();
        try {
            Tensor dz = v.add(Tensor.empty(dy.dtype(), dy.device(), t * n, gh));
            Tensor dzRec = gru ? v.add(Tensor.empty(dy.dtype(), dy.device(), t * n, gh)) : dz;
            Tensor carry = v.add(Tensor.zeros(dy.dtype(), dy.device(), n, h));
            Tensor dc = ws.c() == null ? null : v.add(Tensor.zeros(dy.dtype(), dy.device(), n, h));
            Tensor dhMm = v.add(Tensor.empty(dy.dtype(), dy.device(), n, h));
            if (dc != null && dy.size(1) > t) {
                CpuKernels.soma_cpu_strided_copy(dy.dtype().code(), 2, new long[] {n, h}, dy.address() + t * h * es,
                        new long[] {dy.size(1) * h, 1}, dc.address(), new long[] {h, 1});
            }
            boolean before = s.cell() == Cell.GRU_RESET_BEFORE;
            Tensor hm = ws.drop() != null ? ws.hm() : ws.h();
            long[] a = baseArgs(s, mask, ws);
            a[Y_STRIDE] = dy.size(1) * h;
            if (RecurrentSequence.applies(dy, u)) {
                a[GATES] = ws.gates().address();
                a[H_PREV] = ws.h().address();
                a[C_PREV] = ws.c() == null ? 0 : ws.c().address();
                a[MASK] = mask == null ? 0 : mask.address();
                a[Y] = dy.address();
                a[HU] = dhMm.address();
                a[H_OUT] = carry.address();
                a[DC] = dc == null ? 0 : dc.address();
                a[DZ] = dz.address();
                a[DZ_REC] = gru ? dzRec.address() : 0;
                a[H_MM] = hm.address();
                RecurrentSequence.backward(s, a, u, g.dh0() != null, dy);
            } else {
                Tensor uT = v.add(transposed(before ? v.add(columns(u, 0, 2 * h)) : u));
                Tensor uCandT = before ? v.add(transposed(v.add(columns(u, 2 * h, h)))) : null;
                Tensor dRh = before ? v.add(Tensor.empty(dy.dtype(), dy.device(), n, h)) : null;
                int threads = CpuKernels.soma_cpu_get_max_threads();
                CpuKernels.soma_cpu_set_max_threads(Math.min(threads, STEP_THREADS));
                try {
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
                        CpuKernels.soma_cpu_rnn_step_backward(dy.dtype().code(), a);
                        if (before) {
                            try (Tensor dzCand = strided(dz, k * n * gh + 2 * h, n, h, gh)) {
                                dy.backend().linalg().matmul(dzCand, uCandT, dRh);
                            }
                            a[HU] = dRh.address();
                            a[PHASE] = 1;
                            CpuKernels.soma_cpu_rnn_step_backward(dy.dtype().code(), a);
                        }
                        if (k > 0 || g.dh0() != null) {
                            try (Tensor dzk = before ? strided(dz, k * n * gh, n, 2 * h, gh) : view(dzRec, k * n * gh, n, gh)) {
                                dy.backend().linalg().matmul(dzk, uT, dhMm);
                            }
                        }
                    }
                } finally {
                    CpuKernels.soma_cpu_set_max_threads(threads);
                }
            }
            if (g.dh0() != null) {
                if (ws.drop() != null) {
                    dy.backend().elementwise().binary(BinaryOp.MUL, dhMm, ws.drop(), g.dh0());
                } else {
                    dy.backend().memory().copy(dhMm, g.dh0());
                }
                dy.backend().memory().accumulate(g.dh0(), carry);
            }
            if (g.dc0() != null) dy.backend().memory().copy(dc, g.dc0());
            if (g.du() != null && before) {
                resetBeforeRecurrentGrad(dy, hm, ws.gates(), dz, g.du(), t * n, h, v);
            } else if (g.du() != null) {
                try (Tensor hs = view(hm, 0, t * n, h); Tensor hsT = transposed(hs)) {
                    dy.backend().linalg().matmul(hsT, dzRec, g.du());
                }
            }
            if (g.dw() != null) {
                try (Tensor xs = view(ws.xs(), 0, t * n, f); Tensor xsT = transposed(xs)) {
                    dy.backend().linalg().matmul(xsT, dz, g.dw());
                }
            }
            if (g.db() != null) {
                CpuKernels.soma_cpu_column_sums(dy.dtype().code(), t * n, gh, dz.address(), g.db().address());
                if (gru) {
                    CpuKernels.soma_cpu_column_sums(dy.dtype().code(), t * n, gh, dzRec.address(),
                            g.db().address() + gh * es);
                }
            }
            if (g.dx() != null) {
                Tensor dxs = v.add(Tensor.empty(dy.dtype(), dy.device(), t * n, f));
                try (Tensor wT = transposed(w)) {
                    dy.backend().linalg().matmul(dz, wT, dxs);
                }
                reorderTime(s, dxs.address(), g.dx().address(), f, es, g.dx(), true);
            }
        } finally {
            v.close();
        }
    }

    // ------------------------------------------------------------------ helpers

    /**
     * dU of reset_after=False: {@code U[:, :2H]} multiplied h_mm and {@code U[:, 2H:]} multiplied r * h_mm (saved
     * gate block 3), so the two column blocks come from two products over all steps, copied into place.
     */
    private static void resetBeforeRecurrentGrad(Tensor like, Tensor hm, Tensor gates, Tensor dz, Tensor du, long rows,
                                                 long h, MatrixViews v) {
        long gh = 3 * h;
        long es = like.dtype().byteSize();
        Tensor first = v.add(Tensor.empty(like.dtype(), like.device(), h, 2 * h));
        Tensor cand = v.add(Tensor.empty(like.dtype(), like.device(), h, h));
        try (Tensor hs = view(hm, 0, rows, h); Tensor hsT = transposed(hs); Tensor dzFirst = strided(dz, 0, rows, 2 * h, gh);
             Tensor rh = strided(gates, 3 * h, rows, h, 4 * h); Tensor rhT = transposed(rh);
             Tensor dzCand = strided(dz, 2 * h, rows, h, gh)) {
            like.backend().linalg().matmul(hsT, dzFirst, first);
            like.backend().linalg().matmul(rhT, dzCand, cand);
        }
        int code = like.dtype().code();
        CpuKernels.soma_cpu_strided_copy(code, 2, new long[] {h, 2 * h}, first.address(), new long[] {2 * h, 1},
                du.address(), new long[] {gh, 1});
        CpuKernels.soma_cpu_strided_copy(code, 2, new long[] {h, h}, cand.address(), new long[] {h, 1},
                du.address() + 2 * h * es, new long[] {gh, 1});
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

    private static void setBiases(long[] a, Spec s, Tensor bias, long es) {
        if (bias == null) return;
        a[BIAS] = bias.address();
        if (s.cell() == Cell.GRU) a[RBIAS] = bias.address() + s.cell().gates * s.hidden() * es;
    }

    /**
     * Copies between batch-major {@code [N, T, F]} (at {@code batchMajor}) and time-major in processing order
     * {@code [T, N, F]}: step k of the run is input step k, or T-1-k with go_backwards. {@code back}: from
     * time-major into batch-major.
     */
    private static void reorderTime(Spec s, long from, long to, long f, long es, Tensor like, boolean back) {
        long n = s.batch(), t = s.steps();
        long[] shape = {t, n, f};
        long[] timeMajor = {n * f, f, 1};
        long tStride = s.goBackwards() ? -f : f;
        long first = s.goBackwards() ? (t - 1) * f * es : 0;
        long[] batchMajor = {tStride, t * f, 1};
        if (!back) {
            CpuKernels.soma_cpu_strided_copy(like.dtype().code(), 3, shape, from + first, batchMajor, to, timeMajor);
        } else {
            CpuKernels.soma_cpu_strided_copy(like.dtype().code(), 3, shape, from, timeMajor, to + first, batchMajor);
        }
    }

    private static void initialState(Tensor states, Tensor initial, long count, long es) {
        if (initial == null) {
            CpuKernels.soma_cpu_fill(states.dtype().code(), states.address(), count, 0.0);
        } else {
            CpuKernels.soma_cpu_copy(states.address(), initial.address(), count * es);
        }
    }
}
