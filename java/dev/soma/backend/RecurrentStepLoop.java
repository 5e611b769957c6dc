package dev.soma.backend;

import dev.soma.backend.ElementwiseKernels.BinaryOp;
import dev.soma.backend.RecurrentKernels.Cell;
import dev.soma.backend.RecurrentKernels.Grads;
import dev.soma.backend.RecurrentKernels.Spec;
import dev.soma.backend.RecurrentKernels.Workspace;
import dev.soma.tensor.Tensor;

import static dev.soma.backend.MatrixViews.columns;
import static dev.soma.backend.MatrixViews.strided;
import static dev.soma.backend.MatrixViews.transposed;
import static dev.soma.backend.MatrixViews.view;

/**
 * The recurrence of a recurrent layer as both backends run it with their own kernels: the input projection of every
 * step as one product ({@code xs @ W} over all T*N rows), then per step one small product for the recurrent part and
 * one native kernel for all the gate arithmetic (the argument array of {@code soma_rnn_arg}, native/include/soma.h),
 * where the device has no kernel for the whole sequence; backward the same in reverse, then the weight gradients as
 * single products over all steps. A backend supplies the device operations ({@link Device}); the loops, the
 * argument layout and the order of the products live here once, so the CPU and the CUDA paths cannot drift apart.
 */
public final class RecurrentStepLoop {
    // Indices of soma_rnn_arg (native/include/soma.h).
    public static final int CELL = 0, ACT = 1, RACT = 2, N = 3, HIDDEN = 4, MASK_STRIDE = 5, Y_STRIDE = 6, XP = 7,
            HU = 8, BIAS = 9, RBIAS = 10, H_PREV = 11, C_PREV = 12, MASK = 13, GATES = 14, H_OUT = 15, C_OUT = 16,
            Y = 17, DC = 18, DZ = 19, DZ_REC = 20, PHASE = 21, H_MM = 22, RDROP = 23, COUNT = 24;

    private RecurrentStepLoop() {}

    /** What a backend runs the recurrence on. */
    public interface Device {
        /** One step's cell kernel over the argument array, forward or backward. */
        void step(Tensor like, boolean backward, long[] args);

        /** {@code c = a b} for 2-d views: a and b with any strides, c contiguous. */
        void matmul(Tensor a, Tensor b, Tensor c);

        /** {@code out[j] += sum over rows of in[row, j]} for a contiguous {@code rows x cols} block. */
        void columnSums(Tensor like, long rows, long cols, long in, long out);

        /** Copies {@code shape} elements of like's dtype between two strided layouts. */
        void stridedCopy(Tensor like, long[] shape, long from, long[] fromStrides, long to, long[] toStrides);

        /**
         * Runs the whole forward recurrence in one call where the device has such a kernel for this layer ({@code args}
         * hold the first step's addresses of the buffers that hold every step); false leaves it to the step loop.
         */
        default boolean sequenceForward(Spec s, long[] args, Tensor u, boolean fromState, Tensor like) {
            return false;
        }

        /** As {@link #sequenceForward}, for the backward recurrence (dh_mm = dz_0 U^T left when wantDh0). */
        default boolean sequenceBackward(Spec s, long[] args, Tensor u, boolean wantDh0, Tensor like) {
            return false;
        }

        /** Runs a step loop: the CPU limits the threads of its per-step regions around it. */
        default void stepLoop(Runnable loop) {
            loop.run();
        }
    }

    /** The forward of a recurrent layer: y (and the workspace's saved states and gates) from x. */
    public static void forward(Device d, Spec s, Tensor x, Tensor w, Tensor u, Tensor bias, Tensor h0, Tensor c0,
                               Tensor mask, Workspace ws, Tensor y) {
        long n = s.batch(), t = s.steps(), f = s.features(), h = s.hidden();
        long gh = s.cell().gates * h;
        long es = x.dtype().byteSize();
        MatrixViews v = new MatrixViews();
        try {
            reorderTime(d, s, x.address(), ws.xs().address(), f, x, false);
            Tensor xp = v.add(empty(x, t * n, gh));
            d.matmul(v.of(ws.xs(), 0, t * n, f), w, xp);
            initialState(ws.h(), h0, n, h);
            if (ws.c() != null) initialState(ws.c(), c0, n, h);
            Tensor hm = ws.drop() != null ? ws.hm() : ws.h();
            long[] a = baseArgs(s, mask, ws);
            a[Y_STRIDE] = y.size(1) * h;
            if (bias != null) {
                a[BIAS] = bias.address();
                if (s.cell() == Cell.GRU) a[RBIAS] = bias.address() + gh * es;
            }
            // The first step's addresses: a whole-sequence kernel takes them as they are, the step loop moves them.
            a[XP] = xp.address();
            a[H_PREV] = ws.h().address();
            a[C_PREV] = ws.c() == null ? 0 : ws.c().address();
            a[MASK] = mask == null ? 0 : mask.address();
            a[GATES] = ws.gates().address();
            a[Y] = y.address();
            a[H_MM] = hm.address();
            if (!d.sequenceForward(s, a, u, h0 != null, x)) {
                d.stepLoop(() -> forwardSteps(d, s, x, u, h0, mask, ws, y, xp, hm, a, v));
            }
            if (ws.c() != null && y.size(1) > t) {
                // The final cell state goes into y[:, T, :] for return_state.
                d.stridedCopy(x, new long[] {n, h}, ws.c().address() + t * n * h * es, new long[] {h, 1},
                        y.address() + t * h * es, new long[] {y.size(1) * h, 1});
            }
        } finally {
            v.close();
        }
    }

    private static void forwardSteps(Device d, Spec s, Tensor x, Tensor u, Tensor h0, Tensor mask, Workspace ws,
                                     Tensor y, Tensor xp, Tensor hm, long[] a, MatrixViews v) {
        long n = s.batch(), t = s.steps(), h = s.hidden();
        long gh = s.cell().gates * h;
        long es = x.dtype().byteSize();
        boolean before = s.cell() == Cell.GRU_RESET_BEFORE;
        // reset_after=False multiplies U in two parts per step: U[:, :2H] (z, r), then U[:, 2H:] (candidate).
        Tensor uFirst = before ? v.add(columns(u, 0, 2 * h)) : u;
        Tensor uCand = before ? v.add(columns(u, 2 * h, h)) : null;
        Tensor hu = v.add(empty(x, n, before ? 2 * h : gh));
        Tensor huCand = before ? v.add(empty(x, n, h)) : null;
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
                    d.matmul(hPrev, uFirst, hu);
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
            d.step(x, false, a);
            if (before) {
                if (recurrent) {
                    try (Tensor rh = strided(ws.gates(), k * n * 4 * h + 3 * h, n, h, 4 * h)) {
                        d.matmul(rh, uCand, huCand);
                    }
                }
                a[HU] = recurrent ? huCand.address() : 0;
                a[PHASE] = 1;
                d.step(x, false, a);
            }
        }
    }

    /** The backward of {@link #forward}: the gradients {@code g} asks for, from dy and the saved workspace. */
    public static void backward(Device d, Spec s, Tensor w, Tensor u, Tensor mask, Workspace ws, Tensor dy, Grads g) {
        long n = s.batch(), t = s.steps(), f = s.features(), h = s.hidden();
        long gh = s.cell().gates * h;
        long es = dy.dtype().byteSize();
        boolean gru = s.cell() == Cell.GRU;
        MatrixViews v = new MatrixViews();
        try {
            Tensor dz = v.add(empty(dy, t * n, gh));
            Tensor dzRec = gru ? v.add(empty(dy, t * n, gh)) : dz;
            Tensor carry = v.add(Tensor.zeros(dy.dtype(), dy.device(), n, h).keep());
            Tensor dc = ws.c() == null ? null : v.add(Tensor.zeros(dy.dtype(), dy.device(), n, h).keep());
            Tensor dhMm = v.add(empty(dy, n, h));
            if (dc != null && dy.size(1) > t) {
                d.stridedCopy(dy, new long[] {n, h}, dy.address() + t * h * es, new long[] {dy.size(1) * h, 1},
                        dc.address(), new long[] {h, 1});
            }
            Tensor hm = ws.drop() != null ? ws.hm() : ws.h();
            long[] a = baseArgs(s, mask, ws);
            a[Y_STRIDE] = dy.size(1) * h;
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
            if (!d.sequenceBackward(s, a, u, g.dh0() != null, dy)) {
                d.stepLoop(() -> backwardSteps(d, s, u, mask, ws, dy, g, dz, dzRec, carry, dc, dhMm, hm, a, v));
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
            if (g.du() != null && s.cell() == Cell.GRU_RESET_BEFORE) {
                resetBeforeRecurrentGrad(d, dy, hm, ws.gates(), dz, g.du(), t * n, h, v);
            } else if (g.du() != null) {
                try (Tensor hs = view(hm, 0, t * n, h); Tensor hsT = transposed(hs)) {
                    d.matmul(hsT, dzRec, g.du());
                }
            }
            if (g.dw() != null) {
                try (Tensor xs = view(ws.xs(), 0, t * n, f); Tensor xsT = transposed(xs)) {
                    d.matmul(xsT, dz, g.dw());
                }
            }
            if (g.db() != null) {
                d.columnSums(dy, t * n, gh, dz.address(), g.db().address());
                if (gru) d.columnSums(dy, t * n, gh, dzRec.address(), g.db().address() + gh * es);
            }
            if (g.dx() != null) {
                Tensor dxs = v.add(empty(dy, t * n, f));
                try (Tensor wT = transposed(w)) {
                    d.matmul(dz, wT, dxs);
                }
                reorderTime(d, s, dxs.address(), g.dx().address(), f, g.dx(), true);
            }
        } finally {
            v.close();
        }
    }

    private static void backwardSteps(Device d, Spec s, Tensor u, Tensor mask, Workspace ws, Tensor dy, Grads g,
                                      Tensor dz, Tensor dzRec, Tensor carry, Tensor dc, Tensor dhMm, Tensor hm,
                                      long[] a, MatrixViews v) {
        long n = s.batch(), t = s.steps(), h = s.hidden();
        long gh = s.cell().gates * h;
        long es = dy.dtype().byteSize();
        boolean gru = s.cell() == Cell.GRU;
        boolean before = s.cell() == Cell.GRU_RESET_BEFORE;
        Tensor uT = v.add(transposed(before ? v.add(columns(u, 0, 2 * h)) : u));
        Tensor uCandT = before ? v.add(transposed(v.add(columns(u, 2 * h, h)))) : null;
        Tensor dRh = before ? v.add(empty(dy, n, h)) : null;
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
            d.step(dy, true, a);
            if (before) {
                try (Tensor dzCand = strided(dz, k * n * gh + 2 * h, n, h, gh)) {
                    d.matmul(dzCand, uCandT, dRh);
                }
                a[HU] = dRh.address();
                a[PHASE] = 1;
                d.step(dy, true, a);
            }
            if (k > 0 || g.dh0() != null) {
                try (Tensor dzk = before ? strided(dz, k * n * gh, n, 2 * h, gh) : view(dzRec, k * n * gh, n, gh)) {
                    d.matmul(dzk, uT, dhMm);
                }
            }
        }
    }

    /**
     * dU of reset_after=False: {@code U[:, :2H]} multiplied h_mm and {@code U[:, 2H:]} multiplied r * h_mm (saved
     * gate block 3), so the two column blocks come from two products over all steps, copied into place.
     */
    private static void resetBeforeRecurrentGrad(Device d, Tensor like, Tensor hm, Tensor gates, Tensor dz, Tensor du,
                                                 long rows, long h, MatrixViews v) {
        long gh = 3 * h;
        long es = like.dtype().byteSize();
        Tensor first = v.add(empty(like, h, 2 * h));
        Tensor cand = v.add(empty(like, h, h));
        try (Tensor hs = view(hm, 0, rows, h); Tensor hsT = transposed(hs);
             Tensor dzFirst = strided(dz, 0, rows, 2 * h, gh); Tensor rh = strided(gates, 3 * h, rows, h, 4 * h);
             Tensor rhT = transposed(rh);
             Tensor dzCand = strided(dz, 2 * h, rows, h, gh)) {
            d.matmul(hsT, dzFirst, first);
            d.matmul(rhT, dzCand, cand);
        }
        d.stridedCopy(like, new long[] {h, 2 * h}, first.address(), new long[] {2 * h, 1}, du.address(),
                new long[] {gh, 1});
        d.stridedCopy(like, new long[] {h, h}, cand.address(), new long[] {h, 1}, du.address() + 2 * h * es,
                new long[] {gh, 1});
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

    /** Scratch for one call, closed with its views (out of any scope, so that the views alone free it). */
    private static Tensor empty(Tensor like, long rows, long cols) {
        return Tensor.empty(like.dtype(), like.device(), rows, cols).keep();
    }

    /**
     * Copies between batch-major {@code [N, T, F]} and time-major in processing order {@code [T, N, F]}: step k of the
     * run is input step k, or T-1-k with go_backwards. {@code back}: from time-major into batch-major.
     */
    public static void reorderTime(Device d, Spec s, long from, long to, long f, Tensor like, boolean back) {
        long n = s.batch(), t = s.steps();
        long es = like.dtype().byteSize();
        long[] shape = {t, n, f};
        long[] timeMajor = {n * f, f, 1};
        long tStride = s.goBackwards() ? -f : f;
        long first = s.goBackwards() ? (t - 1) * f * es : 0;
        long[] batchMajor = {tStride, t * f, 1};
        if (!back) {
            d.stridedCopy(like, shape, from + first, batchMajor, to, timeMajor);
        } else {
            d.stridedCopy(like, shape, from, timeMajor, to + first, batchMajor);
        }
    }

    /** The first {@code [n, h]} state of {@code states}: the given initial state, or zeros. */
    public static void initialState(Tensor states, Tensor initial, long n, long h) {
        try (Tensor first = view(states, 0, n, h)) {
            if (initial == null) {
                states.backend().memory().fill(first, 0.0);
            } else {
                states.backend().memory().copy(initial, first);
            }
        }
    }
}
