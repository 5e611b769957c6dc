package dev.soma.cuda;

import dev.soma.backend.Backend;
import dev.soma.backend.Backends;
import dev.soma.backend.ReductionKernels;
import dev.soma.backend.ReductionKernels.RowOp;
import dev.soma.backend.Transfers;
import dev.soma.memory.Scope;
import dev.soma.ops.Reductions;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.Reference;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static dev.soma.cuda.GpuTesting.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CUDA reductions, arg-extrema and softmax kernels (cuda-kernels/reduce.cu) against the CPU backend: fresh
 * random inputs, outputs poisoned with NaN, rows from 1 x 1 to long rows that take the block-per-row and the
 * split-row paths; NaN rows for MAX / MIN, ties for the arg-extrema; f32 (1e-4 relative) and f64 (1e-12); two
 * runs bit-identical (no atomics); op-level sums and softmax through autograd on cuda:0 against the CPU.
 */
@Tag("gpu")
@ExtendWith({NoLeaks.class, GpuSeeds.class})
class CudaReductionsTest {
    private static final List<DType> DTYPES = List.of(DType.F32, DType.F64);

    /** rows x cols: warp per row (<= 1024 columns), block per row, and split rows (<= 64 rows of >= 16384). */
    private static final long[][] SHAPES = {
        {1, 1}, {1, 7}, {3, 32}, {5, 33}, {37, 1000}, {300, 7}, {2, 1025}, {3, 5000}, {2, 17000}, {1, 40000},
    };

    private static Tensor device(double[] v, DType dtype, long... shape) {
        Tensor host = Tensor.of(v, shape);
        return Transfers.to(dtype == DType.F64 ? host : host.to(dtype), GPU);
    }

    /** The values as the device holds them in dtype (f32 rounding applied), as f64 for the CPU reference. */
    private static double[] rounded(double[] v, DType dtype) {
        if (dtype == DType.F64) return v;
        double[] r = new double[v.length];
        for (int i = 0; i < v.length; i++) r[i] = (float) v[i];
        return r;
    }

    private static double[] gaussianD(SplittableRandom r, int n) {
        return widen(gaussian(r, n));
    }

    /** Relative error with NaN where and only where the reference has one. */
    static void compare(String what, DType dtype, double[] out, double[] ref, double f32Bound) {
        assertEquals(ref.length, out.length, what + ": element count");
        double d = 0;
        double n = 0;
        for (int i = 0; i < ref.length; i++) {
            if (Double.isNaN(ref[i]) || Double.isNaN(out[i])) {
                assertEquals(Double.isNaN(ref[i]), Double.isNaN(out[i]), what + ": NaN mismatch at " + i
                        + " (out " + out[i] + ", ref " + ref[i] + ")");
                continue;
            }
            double e = out[i] - ref[i];
            d += e * e;
            n += ref[i] * ref[i];
        }
        double err = n == 0 ? Math.sqrt(d) : Math.sqrt(d / n);
        double bound = dtype == DType.F32 ? f32Bound : 1e-12;
        assertTrue(err <= bound, what + ": relative error " + err + " exceeds " + bound);
    }

    @ParameterizedTest
    @EnumSource(RowOp.class)
    void reduceRowsMatchesTheCpuBackend(RowOp op) {
        Backend gpu = gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        for (DType dtype : DTYPES) {
            for (long[] s : SHAPES) {
                try (Scope sc = Scope.open()) {
                    int n = (int) (s[0] * s[1]);
                    double[] v = gaussianD(r, n);
                    for (int i = 0; i < n; i++) v[i] += 0.5;  // a mean away from zero: VAR sees cancellation
                    Tensor ref = Tensor.empty(DType.F64, Device.cpu(), s[0]);
                    Backends.cpu().reductions().reduceRows(op, Tensor.of(rounded(v, dtype), s), s[0], s[1], ref);
                    Tensor out = poisoned(dtype, s[0]);
                    gpu.reductions().reduceRows(op, device(v, dtype, s), s[0], s[1], out);
                    compare(op + " " + dtype + " " + Arrays.toString(s), dtype, out.toDoubleArray(),
                            ref.toDoubleArray(), Reference.REDUCTION_F32);
                }
            }
        }
        assertNoGpuLeak(before);
    }

    @Test
    void sumOverNoColumnsIsZero() {
        Backend gpu = gpu();
        long before = gpuLiveBytes();
        try (Scope sc = Scope.open()) {
            Tensor out = poisoned(DType.F32, 3);
            gpu.reductions().reduceRows(RowOp.SUM, Tensor.empty(DType.F32, GPU, 3, 0), 3, 0, out);
            assertArrayEquals(new double[] {0, 0, 0}, out.toDoubleArray());
        }
        assertNoGpuLeak(before);
    }

    /** NaN propagates through MAX and MIN (the whole row), whichever path the row takes; other rows exact. */
    @Test
    void maxAndMinPropagateNaN() {
        Backend gpu = gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        long[][] shapes = {{1, 1}, {9, 33}, {6, 3000}, {2, 20000}};
        for (DType dtype : DTYPES) {
            for (long[] s : shapes) {
                for (RowOp op : new RowOp[] {RowOp.MAX, RowOp.MIN}) {
                    try (Scope sc = Scope.open()) {
                        int n = (int) (s[0] * s[1]);
                        double[] v = gaussianD(r, n);
                        for (int row = 0; row < s[0]; row += 2) v[(int) (row * s[1] + r.nextLong(s[1]))] = Double.NaN;
                        Tensor ref = Tensor.empty(DType.F64, Device.cpu(), s[0]);
                        Backends.cpu().reductions().reduceRows(op, Tensor.of(rounded(v, dtype), s), s[0], s[1], ref);
                        Tensor out = poisoned(dtype, s[0]);
                        gpu.reductions().reduceRows(op, device(v, dtype, s), s[0], s[1], out);
                        // the extrema are values of the input: exactly equal, NaN in the same rows
                        assertArrayEquals(ref.toDoubleArray(), out.toDoubleArray(), op + " " + dtype + " "
                                + Arrays.toString(s));
                        assertTrue(Double.isNaN(out.toDoubleArray()[0]));
                    }
                }
            }
        }
        assertNoGpuLeak(before);
    }

    /** First index of the extremum: ties (small integers) and NaN rows, f32, f64 and int32, exactly the CPU's. */
    @Test
    void argExtremaMatchTheCpuBackendWithTiesAndNaN() {
        Backend gpu = gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        long[][] shapes = {{1, 1}, {4, 5}, {37, 1000}, {300, 7}, {3, 2500}, {1, 20000}};
        for (DType dtype : List.of(DType.F32, DType.F64, DType.I32)) {
            for (long[] s : shapes) {
                for (RowOp op : new RowOp[] {RowOp.MAX, RowOp.MIN}) {
                    try (Scope sc = Scope.open()) {
                        int n = (int) (s[0] * s[1]);
                        float[] f = smallInts(r, n);
                        Tensor host;
                        if (dtype == DType.I32) {
                            int[] iv = new int[n];
                            for (int i = 0; i < n; i++) iv[i] = (int) f[i];
                            host = Tensor.ofInts(iv, s);
                        } else {
                            double[] v = widen(f);
                            // NaN rows: one NaN in every third row, two in some (the first wins)
                            for (int row = 1; row < s[0]; row += 3) {
                                v[(int) (row * s[1] + r.nextLong(s[1]))] = Double.NaN;
                                v[(int) (row * s[1] + r.nextLong(s[1]))] = Double.NaN;
                            }
                            host = Tensor.of(v, s).to(dtype);
                        }
                        Tensor ref = Tensor.empty(DType.I32, Device.cpu(), s[0]);
                        Backends.cpu().reductions().argReduceRows(op, host, s[0], s[1], ref);
                        Tensor out = Tensor.empty(DType.I32, GPU, s[0]);
                        gpu.memory().fill(out, -7);
                        gpu.reductions().argReduceRows(op, Transfers.to(host, GPU), s[0], s[1], out);
                        assertArrayEquals(ref.toIntArray(), out.toIntArray(), "arg" + op + " " + dtype + " "
                                + Arrays.toString(s));
                    }
                }
            }
        }
        assertNoGpuLeak(before);
    }

    @Test
    void reduceLeadingMatchesTheCpuBackend() {
        Backend gpu = gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        // outer x inner: one chunk, and several row chunks through the workspace (few columns, many rows)
        long[][] shapes = {{1, 1}, {7, 3}, {37, 1000}, {1000, 5}, {3000, 33}, {5000, 2}, {2048, 300}};
        for (DType dtype : DTYPES) {
            for (long[] s : shapes) {
                for (RowOp op : new RowOp[] {RowOp.SUM, RowOp.MEAN}) {
                    try (Scope sc = Scope.open()) {
                        double[] v = gaussianD(r, (int) (s[0] * s[1]));
                        Tensor ref = Tensor.empty(DType.F64, Device.cpu(), s[1]);
                        assertTrue(Backends.cpu().reductions().reduceLeading(op, Tensor.of(rounded(v, dtype), s),
                                s[0], s[1], ref));
                        Tensor out = poisoned(dtype, s[1]);
                        assertTrue(gpu.reductions().reduceLeading(op, device(v, dtype, s), s[0], s[1], out));
                        compare("leading " + op + " " + dtype + " " + Arrays.toString(s), dtype, out.toDoubleArray(),
                                ref.toDoubleArray(), Reference.REDUCTION_F32);
                    }
                }
            }
        }
        try (Scope sc = Scope.open()) {
            assertFalse(gpu.reductions().reduceLeading(RowOp.MAX, Tensor.empty(DType.F32, GPU, 4, 3), 4, 3,
                    Tensor.empty(DType.F32, GPU, 3)));
        }
        assertNoGpuLeak(before);
    }

    @Test
    void reduceMiddleAndItsBackwardMatchTheCpuBackend() {
        Backend gpu = gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        // batches x reduced x inner: a mean over time, one batch (the leading kernel), one row, one column, many rows,
        // more columns than one block of 32
        long[][] shapes = {{2, 1, 1}, {3, 7, 5}, {16, 100, 64}, {1, 300, 7}, {2, 700, 3}, {4, 3, 100}, {9, 1, 33}};
        for (DType dtype : DTYPES) {
            for (long[] s : shapes) {
                for (RowOp op : new RowOp[] {RowOp.SUM, RowOp.MEAN}) {
                    try (Scope sc = Scope.open()) {
                        String what = "middle " + op + " " + dtype + " " + Arrays.toString(s);
                        long[] outShape = {s[0], s[2]};
                        double[] v = gaussianD(r, (int) (s[0] * s[1] * s[2]));
                        Tensor ref = Tensor.empty(DType.F64, Device.cpu(), outShape);
                        assertTrue(Backends.cpu().reductions().reduceMiddle(op, Tensor.of(rounded(v, dtype), s), s[0],
                                s[1], s[2], ref));
                        Tensor out = poisoned(dtype, outShape);
                        assertTrue(gpu.reductions().reduceMiddle(op, device(v, dtype, s), s[0], s[1], s[2], out));
                        compare(what, dtype, out.toDoubleArray(), ref.toDoubleArray(), Reference.REDUCTION_F32);
                        double[] g = gaussianD(r, (int) (s[0] * s[2]));
                        Tensor gradRef = Tensor.empty(DType.F64, Device.cpu(), s);
                        assertTrue(Backends.cpu().reductions().reduceMiddleBackward(op, Tensor.of(rounded(g, dtype),
                                outShape), s[0], s[1], s[2], gradRef));
                        Tensor grad = poisoned(dtype, s);
                        assertTrue(gpu.reductions().reduceMiddleBackward(op, device(g, dtype, outShape), s[0], s[1],
                                s[2], grad));
                        compare(what + " backward", dtype, grad.toDoubleArray(), gradRef.toDoubleArray(),
                                Reference.ELEMENTWISE_F32);
                    }
                }
            }
        }
        try (Scope sc = Scope.open()) {
            assertFalse(gpu.reductions().reduceMiddle(RowOp.MAX, Tensor.empty(DType.F32, GPU, 2, 4, 3), 2, 4, 3,
                    Tensor.empty(DType.F32, GPU, 2, 3)));
            assertFalse(gpu.reductions().reduceMiddleBackward(RowOp.VAR, Tensor.empty(DType.F32, GPU, 2, 3), 2, 4, 3,
                    Tensor.empty(DType.F32, GPU, 2, 4, 3)));
        }
        assertNoGpuLeak(before);
    }

    @ParameterizedTest
    @EnumSource(RowOp.class)
    void reduceRowsBackwardMatchesTheCpuBackend(RowOp op) {
        Backend gpu = gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        boolean readsInput = op != RowOp.SUM && op != RowOp.MEAN;
        for (DType dtype : DTYPES) {
            for (long[] s : SHAPES) {
                try (Scope sc = Scope.open()) {
                    int n = (int) (s[0] * s[1]);
                    // ties for MAX / MIN: the gradient goes to the first extremum
                    double[] v = op == RowOp.MAX || op == RowOp.MIN ? widen(smallInts(r, n)) : gaussianD(r, n);
                    double[] g = gaussianD(r, (int) s[0]);
                    Tensor ref = Tensor.empty(DType.F64, Device.cpu(), s);
                    Backends.cpu().reductions().reduceRowsBackward(op, readsInput ? Tensor.of(rounded(v, dtype), s)
                            : null, Tensor.of(rounded(g, dtype), s[0]), s[0], s[1], ref);
                    Tensor out = poisoned(dtype, s);
                    gpu.reductions().reduceRowsBackward(op, readsInput ? device(v, dtype, s) : null,
                            device(g, dtype, s[0]), s[0], s[1], out);
                    compare(op + " backward " + dtype + " " + Arrays.toString(s), dtype, out.toDoubleArray(),
                            ref.toDoubleArray(), Reference.ELEMENTWISE_F32);
                }
            }
        }
        assertNoGpuLeak(before);
    }

    @Test
    void softmaxAndLogSoftmaxAndTheirBackwardMatchTheCpuBackend() {
        Backend gpu = gpu();
        Backend cpu = Backends.cpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        for (boolean log : new boolean[] {false, true}) {
            for (DType dtype : DTYPES) {
                for (long[] s : SHAPES) {
                    try (Scope sc = Scope.open()) {
                        int n = (int) (s[0] * s[1]);
                        double[] v = gaussianD(r, n);
                        for (int i = 0; i < n; i++) v[i] *= 4;
                        v[0] = 80;  // a large logit: exp(x) alone would overflow f32
                        double[] g = gaussianD(r, n);
                        String what = (log ? "logSoftmax " : "softmax ") + dtype + " " + Arrays.toString(s);
                        Tensor ref = Tensor.empty(DType.F64, Device.cpu(), s);
                        cpu.reductions().softmaxRows(log, Tensor.of(rounded(v, dtype), s), s[0], s[1], ref);
                        Tensor y = poisoned(dtype, s);
                        gpu.reductions().softmaxRows(log, device(v, dtype, s), s[0], s[1], y);
                        compare(what, dtype, y.toDoubleArray(), ref.toDoubleArray(), Reference.REDUCTION_F32);
                        // the backward's reference takes the device's y (its own rounding is not the backward's)
                        Tensor giRef = Tensor.empty(DType.F64, Device.cpu(), s);
                        cpu.reductions().softmaxRowsBackward(log, Tensor.of(y.toDoubleArray(), s),
                                Tensor.of(rounded(g, dtype), s), s[0], s[1], giRef);
                        Tensor gi = poisoned(dtype, s);
                        gpu.reductions().softmaxRowsBackward(log, y, device(g, dtype, s), s[0], s[1], gi);
                        compare(what + " backward", dtype, gi.toDoubleArray(), giRef.toDoubleArray(),
                                Reference.REDUCTION_F32);
                    }
                }
            }
        }
        assertNoGpuLeak(before);
    }

    /**
     * Softmax's own layouts (cuda-kernels/softmax.cu): a warp's row in 16-byte packs (100, 1024 columns), a block's
     * row in registers with packs (1028, 4096) and element by element (1031), the long-row loop with packs (16384,
     * 16388) and without (20001); each also with rows starting one element past a 16-byte boundary (a view at an
     * offset), and with a very negative and a very large logit in the row.
     */
    @Test
    void softmaxLayoutsMatchTheCpuBackend() {
        Backend gpu = gpu();
        Backend cpu = Backends.cpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        long[][] shapes = {{3, 100}, {4, 1024}, {3, 1028}, {3, 1031}, {2, 4096}, {2, 16384}, {2, 16388}, {1, 20001}};
        for (boolean log : new boolean[] {false, true}) {
            for (DType dtype : DTYPES) {
                for (long[] s : shapes) {
                    for (boolean misaligned : new boolean[] {false, true}) {
                        try (Scope sc = Scope.open()) {
                            int n = (int) (s[0] * s[1]);
                            double[] v = gaussianD(r, n);
                            for (int i = 0; i < n; i++) v[i] *= 4;
                            v[0] = -1e4;
                            v[1] = 85;
                            double[] g = gaussianD(r, n);
                            String what = (log ? "logSoftmax " : "softmax ") + dtype + " " + Arrays.toString(s)
                                    + (misaligned ? " misaligned" : "");
                            Tensor ref = Tensor.empty(DType.F64, Device.cpu(), s);
                            cpu.reductions().softmaxRows(log, Tensor.of(rounded(v, dtype), s), s[0], s[1], ref);
                            Tensor x = misaligned ? offsetByOne(device(v, dtype, n), s) : device(v, dtype, s);
                            Tensor y = misaligned ? offsetByOne(poisoned(dtype, n), s) : poisoned(dtype, s);
                            gpu.reductions().softmaxRows(log, x, s[0], s[1], y);
                            compare(what, dtype, y.toDoubleArray(), ref.toDoubleArray(), Reference.REDUCTION_F32);
                            Tensor giRef = Tensor.empty(DType.F64, Device.cpu(), s);
                            cpu.reductions().softmaxRowsBackward(log, Tensor.of(y.toDoubleArray(), s),
                                    Tensor.of(rounded(g, dtype), s), s[0], s[1], giRef);
                            Tensor dy = misaligned ? offsetByOne(device(g, dtype, n), s) : device(g, dtype, s);
                            Tensor gi = misaligned ? offsetByOne(poisoned(dtype, n), s) : poisoned(dtype, s);
                            gpu.reductions().softmaxRowsBackward(log, y, dy, s[0], s[1], gi);
                            compare(what + " backward", dtype, gi.toDoubleArray(), giRef.toDoubleArray(),
                                    Reference.REDUCTION_F32);
                        }
                    }
                }
            }
        }
        assertNoGpuLeak(before);
    }

    /** The flat device tensor's values moved one element along in a fresh buffer, seen as a contiguous view. */
    private static Tensor offsetByOne(Tensor flat, long[] shape) {
        long n = flat.numel();
        Tensor wider = Tensor.empty(flat.dtype(), flat.device(), n + 1);
        Tensor view = wider.slice(0, 1, n + 1, 1);
        flat.backend().memory().copy(flat, view);
        Tensor rows = view.reshape(shape);
        if (!rows.isContiguous() || rows.address() % 16 == 0) throw new AssertionError("not a misaligned view");
        return rows;
    }

    /** No atomics: the same input gives bit-identical outputs, on every path (split rows, leading chunks). */
    @Test
    void twoRunsAreBitIdentical() {
        Backend gpu = gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        ReductionKernels k = gpu.reductions();
        for (long[] s : new long[][] {{37, 1000}, {3, 5000}, {1, 40000}, {3000, 33}}) {
            try (Scope sc = Scope.open()) {
                Tensor x = device(gaussianD(r, (int) (s[0] * s[1])), DType.F32, s);
                for (RowOp op : RowOp.values()) {
                    Tensor a = poisoned(DType.F32, s[0]);
                    Tensor b = poisoned(DType.F32, s[0]);
                    k.reduceRows(op, x, s[0], s[1], a);
                    k.reduceRows(op, x, s[0], s[1], b);
                    assertArrayEquals(a.toFloatArray(), b.toFloatArray(), op + " " + Arrays.toString(s));
                }
                Tensor a = poisoned(DType.F32, s[1]);
                Tensor b = poisoned(DType.F32, s[1]);
                k.reduceLeading(RowOp.SUM, x, s[0], s[1], a);
                k.reduceLeading(RowOp.SUM, x, s[0], s[1], b);
                assertArrayEquals(a.toFloatArray(), b.toFloatArray(), "leading " + Arrays.toString(s));
                Tensor ya = poisoned(DType.F32, s);
                Tensor yb = poisoned(DType.F32, s);
                k.softmaxRows(false, x, s[0], s[1], ya);
                k.softmaxRows(false, x, s[0], s[1], yb);
                assertArrayEquals(ya.toFloatArray(), yb.toFloatArray(), "softmax " + Arrays.toString(s));
            }
        }
        assertNoGpuLeak(before);
    }

    /** Through dev.soma.ops and autograd on cuda:0: sums and means over axes, max, softmax; forward and backward. */
    @Test
    void opsOnCudaMatchTheCpu() {
        gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        long[] shape = {6, 5, 40};
        double[] v = gaussianD(r, (int) numel(shape));
        double[] w = gaussianD(r, (int) numel(shape));
        double[][] results = new double[2][];
        double[][] grads = new double[2][];
        for (int pass = 0; pass < 2; pass++) {
            Device dev = pass == 0 ? Device.cpu() : GPU;
            try (Scope sc = Scope.open()) {
                Tensor x = Transfers.to(Tensor.of(v, shape), dev).setRequiresGrad(true);
                Tensor wt = Transfers.to(Tensor.of(w, shape), dev);
                Tensor s1 = Reductions.sum(x, new int[] {0}, false);           // leading axis: reduceLeading
                Tensor s2 = Reductions.mean(x, new int[] {1}, true);           // a middle axis: reduceMiddle
                Tensor m = Reductions.max(x, new int[] {2}, false);            // last axis
                Tensor sm = Reductions.softmax(x, 2);
                Tensor ls = Reductions.logSoftmax(x, 1);
                Tensor total = Reductions.sum(Reductions.sum(s1).add(Reductions.sum(s2.mul(s2)))
                        .add(Reductions.sum(m)).add(Reductions.sum(sm.mul(wt))).add(Reductions.sum(ls.mul(wt))));
                total.backward();
                results[pass] = concat(s1.toDoubleArray(), s2.toDoubleArray(), m.toDoubleArray(),
                        sm.toDoubleArray(), ls.toDoubleArray(), total.toDoubleArray());
                grads[pass] = x.grad().toDoubleArray();
                int[] am = Reductions.argmax(x, 2, false).toIntArray();
                if (pass == 0) argmaxCpu = am;
                else assertArrayEquals(argmaxCpu, am, "argmax");
            }
        }
        Reference.assertClose(results[1], results[0], 1e-12);
        Reference.assertClose(grads[1], grads[0], 1e-12);
        assertNoGpuLeak(before);
    }

    private int[] argmaxCpu;
}
