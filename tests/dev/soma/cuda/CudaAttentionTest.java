package dev.soma.cuda;

import dev.soma.backend.AttentionKernels;
import dev.soma.backend.AttentionKernels.Spec;
import dev.soma.backend.Backend;
import dev.soma.backend.Backends;
import dev.soma.backend.Transfers;
import dev.soma.memory.Scope;
import dev.soma.ops.Attention;
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

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static dev.soma.cuda.GpuTesting.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The fused CUDA attention kernels (cuda-kernels/attention.cu) against the CPU kernels: forward (out, lse,
 * weights) and backward (dq, dk, dv), f32 (1e-4, products) and f64 (1e-11), fresh random inputs, outputs
 * poisoned with NaN, every mask kind (causal, key lengths with an empty batch entry, key mask, full mask with a
 * fully masked row, dropout from the Philox stream), time lengths below, at and past a tile of 32, head-split
 * strided layouts, and feature widths that need several chunks and column slices; the register-blocked f32
 * forward (heads of 32, 64, 128) with times not multiples of its tiles; large logits. Then the op on cuda:0.
 */
@Tag("gpu")
@ExtendWith({NoLeaks.class, GpuSeeds.class})
class CudaAttentionTest {
    enum Masks { NONE, CAUSAL, LENGTHS, KEY_MASK, FULL_MASK_CAUSAL, DROPOUT }

    /** b, h, tq, tk, d, dv. */
    private static final long[][] SHAPES = {
        {2, 1, 1, 1, 8, 8}, {2, 3, 7, 7, 16, 16}, {2, 1, 33, 33, 8, 8}, {2, 3, 33, 7, 16, 8}, {2, 1, 7, 33, 8, 16},
    };

    private static double bound(DType dtype) {
        return dtype == DType.F32 ? Reference.REDUCTION_F32 : 1e-11;
    }

    /** A [b, h, t, last] tensor on the device: contiguous, or a head-split [b, t, h, last] buffer seen permuted. */
    private static Tensor place(double[] values, DType dtype, Device device, boolean headSplit, long... shape) {
        Tensor host = Tensor.of(values, shape);
        Tensor typed = dtype == DType.F64 ? host : host.to(dtype);
        if (headSplit) typed = typed.permute(0, 2, 1, 3).contiguous();
        Tensor placed = device.isCpu() ? typed : Transfers.to(typed, device);
        return headSplit ? placed.permute(0, 2, 1, 3) : placed;
    }

    /** An output buffer as the op makes it: contiguous, or time-major [b, t, h, last] seen as [b, h, t, last]. */
    private static Tensor output(DType dtype, Device device, boolean headSplit, long b, long h, long t, long last) {
        Tensor base = device.isCpu() ? Tensor.empty(dtype, device, headSplit ? new long[] {b, t, h, last}
                : new long[] {b, h, t, last}) : poisoned(dtype, headSplit ? new long[] {b, t, h, last}
                : new long[] {b, h, t, last});
        return headSplit ? base.permute(0, 2, 1, 3) : base;
    }

    private static double[] gaussian64(SplittableRandom r, long n) {
        double[] v = new double[(int) n];
        for (int i = 0; i < v.length; i++) v[i] = r.nextGaussian();
        return v;
    }

    /** One comparison: CPU kernels and CUDA kernels on the same inputs. */
    private static void compareKernels(DType dtype, long[] sh, Masks masks, boolean headSplit, SplittableRandom r) {
        compareKernels(dtype, sh, masks, headSplit, r, 1);
    }

    /** As above, with the queries multiplied by {@code spread} (large spreads: logits far apart, big exponents). */
    private static void compareKernels(DType dtype, long[] sh, Masks masks, boolean headSplit, SplittableRandom r,
                                       double spread) {
        long b = sh[0], h = sh[1], tq = sh[2], tk = sh[3], d = sh[4], dv = sh[5];
        String what = dtype + " " + Arrays.toString(sh) + " " + masks + (headSplit ? " head-split" : "")
                + (spread != 1 ? " spread " + spread : "");
        Backend cpu = Backends.cpu();
        Backend gpu = gpu();
        double[] qv = gaussian64(r, b * h * tq * d), kv = gaussian64(r, b * h * tk * d);
        for (int i = 0; i < qv.length; i++) qv[i] *= spread;
        double[] vv = gaussian64(r, b * h * tk * dv), gv = gaussian64(r, b * h * tq * dv);
        int[] lengths = null;
        int[] mask = null;
        long mbs = 0, mqs = 0;
        boolean causal = masks == Masks.CAUSAL || masks == Masks.FULL_MASK_CAUSAL || masks == Masks.DROPOUT;
        if (masks == Masks.LENGTHS || masks == Masks.DROPOUT) {
            lengths = new int[(int) b];
            lengths[0] = (int) Math.max(1, tk - 2);
            if (b > 1) lengths[1] = masks == Masks.LENGTHS ? 0 : (int) tk;  // an empty entry: every row masked
        }
        if (masks == Masks.KEY_MASK) {
            mask = new int[(int) (b * tk)];
            for (int i = 0; i < mask.length; i++) mask[i] = r.nextInt(10) < 7 ? 1 : 0;
            mbs = tk;
        }
        if (masks == Masks.FULL_MASK_CAUSAL) {
            mask = new int[(int) (b * tq * tk)];
            for (int i = 0; i < mask.length; i++) mask[i] = r.nextInt(10) < 7 ? 1 : 0;
            for (int j = 0; j < tk; j++) mask[j] = 0;  // query 0 of batch 0 sees nothing
            mbs = tq * tk;
            mqs = tk;
        }
        double dropout = masks == Masks.DROPOUT ? 0.3 : 0;
        long seed = r.nextLong(), stream = r.nextInt(100);
        double scale = 1 / Math.sqrt(d) * (0.5 + r.nextDouble());
        try (Scope s = Scope.open()) {
            Tensor[] cpuIn = {place(qv, dtype, Device.cpu(), headSplit, b, h, tq, d),
                place(kv, dtype, Device.cpu(), headSplit, b, h, tk, d), place(vv, dtype, Device.cpu(), headSplit, b, h, tk, dv),
                place(gv, dtype, Device.cpu(), headSplit, b, h, tq, dv)};
            Tensor[] gpuIn = {place(qv, dtype, GPU, headSplit, b, h, tq, d), place(kv, dtype, GPU, headSplit, b, h, tk, d),
                place(vv, dtype, GPU, headSplit, b, h, tk, dv), place(gv, dtype, GPU, headSplit, b, h, tq, dv)};
            Tensor lenCpu = lengths == null ? null : Tensor.ofInts(lengths, b);
            Tensor maskCpu = mask == null ? null : Tensor.ofInts(mask, mask.length);
            Spec cs = new Spec(scale, causal, lenCpu, maskCpu, mbs, mqs, dropout, seed, stream);
            Spec gs = new Spec(scale, causal, lenCpu == null ? null : Transfers.to(lenCpu, GPU),
                    maskCpu == null ? null : Transfers.to(maskCpu, GPU), mbs, mqs, dropout, seed, stream);

            Tensor outC = output(dtype, Device.cpu(), headSplit, b, h, tq, dv);
            Tensor lseC = Tensor.empty(dtype, Device.cpu(), b, h, tq);
            Tensor wC = Tensor.empty(dtype, Device.cpu(), b, h, tq, tk);
            cpu.attention().forward(cs, cpuIn[0], cpuIn[1], cpuIn[2], outC, lseC, wC);
            Tensor outG = output(dtype, GPU, headSplit, b, h, tq, dv);
            Tensor lseG = poisoned(dtype, b, h, tq);
            Tensor wG = poisoned(dtype, b, h, tq, tk);
            AttentionKernels ga = gpu.attention();
            ga.forward(gs, gpuIn[0], gpuIn[1], gpuIn[2], outG, lseG, wG);
            close(what + " out", dtype, outG, outC);
            close(what + " weights", dtype, wG, wC);
            double[] lg = lseG.toDoubleArray(), lc = lseC.toDoubleArray();
            List<Integer> finite = new ArrayList<>();
            for (int i = 0; i < lc.length; i++) {
                if (lc[i] == Double.NEGATIVE_INFINITY) {
                    assertEquals(Double.NEGATIVE_INFINITY, lg[i], what + " lse of a fully masked row " + i);
                } else {
                    finite.add(i);
                }
            }
            if (masks == Masks.LENGTHS && b > 1 || masks == Masks.FULL_MASK_CAUSAL) {
                assertTrue(finite.size() < lc.length, what + ": expected a fully masked row");
            }
            double[] fg = finite.stream().mapToDouble(i -> lg[i]).toArray();
            double[] fc = finite.stream().mapToDouble(i -> lc[i]).toArray();
            double e = Reference.relativeError(fg, fc);
            assertTrue(e <= bound(dtype), what + " lse: relative error " + e);

            Tensor[] gradsC = {output(dtype, Device.cpu(), headSplit, b, h, tq, d),
                output(dtype, Device.cpu(), headSplit, b, h, tk, d), output(dtype, Device.cpu(), headSplit, b, h, tk, dv)};
            cpu.attention().backward(cs, cpuIn[0], cpuIn[1], cpuIn[2], outC, lseC, cpuIn[3], gradsC[0], gradsC[1], gradsC[2]);
            Tensor[] gradsG = {output(dtype, GPU, headSplit, b, h, tq, d), output(dtype, GPU, headSplit, b, h, tk, d),
                output(dtype, GPU, headSplit, b, h, tk, dv)};
            ga.backward(gs, gpuIn[0], gpuIn[1], gpuIn[2], outG, lseG, gpuIn[3], gradsG[0], gradsG[1], gradsG[2]);
            String[] names = {"dq", "dk", "dv"};
            for (int i = 0; i < 3; i++) close(what + " " + names[i], dtype, gradsG[i], gradsC[i]);
        }
    }

    private static void close(String what, DType dtype, Tensor gpuOut, Tensor cpuOut) {
        double[] o = gpuOut.toDoubleArray(), ref = cpuOut.toDoubleArray();
        for (int i = 0; i < o.length; i++) {
            assertTrue(Double.isFinite(o[i]), () -> what + ": non-finite element (unwritten?)");
        }
        double norm = 0;
        for (double x : ref) norm += x * x;
        if (ref.length > 0 && Math.sqrt(norm / ref.length) < 1e-4) {
            // An analytically zero result (one visible key: dq = dk = 0) holds only rounding noise: absolute.
            double worst = 0;
            for (int i = 0; i < o.length; i++) worst = Math.max(worst, Math.abs(o[i] - ref[i]));
            double abs = dtype == DType.F32 ? 1e-5 : 1e-13;
            assertTrue(worst <= abs, what + ": absolute error " + worst + " on a zero result exceeds " + abs);
            return;
        }
        double e = Reference.relativeError(o, ref);
        assertTrue(e <= bound(dtype), what + ": relative error " + e + " exceeds " + bound(dtype));
    }

    @ParameterizedTest
    @EnumSource(Masks.class)
    void kernelsMatchTheCpuBackend(Masks masks) {
        gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        int n = 0;
        for (DType dtype : new DType[] {DType.F32, DType.F64}) {
            for (long[] sh : SHAPES) compareKernels(dtype, sh, masks, (n++ % 2) == 1, r);
        }
        assertNoGpuLeak(before);
    }

    /**
     * The register-blocked f32 forward (heads of 32, 64 and 128 features, D == Dv, rows 16-byte aligned): query
     * counts below, at and past its 64-row block, key counts below, at and past its key tile (64; 32 for heads of
     * 128) and over several double-buffered tiles; contiguous and head-split (strided) layouts; every mask kind.
     */
    @ParameterizedTest
    @EnumSource(Masks.class)
    void registerBlockedForwardMatchesTheCpuBackend(Masks masks) {
        gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        long[][] shapes = {{2, 2, 70, 70, 64, 64}, {1, 2, 64, 129, 32, 32}, {2, 1, 130, 37, 128, 128},
            {1, 1, 5, 200, 64, 64}};
        int n = 0;
        for (long[] sh : shapes) compareKernels(DType.F32, sh, masks, (n++ % 2) == 1, r);
        assertNoGpuLeak(before);
    }

    /** Logits far apart (queries scaled by 30: scores in the hundreds) through both forward kernels. */
    @Test
    void largeLogitsStayFinite() {
        gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        compareKernels(DType.F32, new long[] {1, 2, 67, 90, 64, 64}, Masks.CAUSAL, false, r, 30);
        compareKernels(DType.F32, new long[] {1, 2, 67, 90, 16, 16}, Masks.KEY_MASK, true, r, 30);
        assertNoGpuLeak(before);
    }

    /** Heads wider than one feature chunk (several dot-product chunks) and than one column slice (grid.y > 1). */
    @Test
    void wideHeadsUseSeveralChunksAndSlices() {
        gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        compareKernels(DType.F32, new long[] {1, 2, 9, 35, 130, 200}, Masks.CAUSAL, false, r);
        compareKernels(DType.F64, new long[] {1, 1, 5, 40, 70, 150}, Masks.KEY_MASK, true, r);
        compareKernels(DType.F64, new long[] {2, 1, 3, 4, 1, 1}, Masks.DROPOUT, false, r);
        assertNoGpuLeak(before);
    }

    /** The op through dev.soma.ops on cuda:0: forward and backward through autograd against the same on the CPU. */
    @Test
    void attentionOpTrainsOnTheDevice() {
        gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        for (DType dtype : new DType[] {DType.F32, DType.F64}) {
            try (Scope s = Scope.open()) {
                long b = 2, h = 3, t = 9, d = 8;
                double[] qv = gaussian64(r, b * h * t * d), kv = gaussian64(r, b * h * t * d);
                double[] vv = gaussian64(r, b * h * t * d), gv = gaussian64(r, b * h * t * d);
                Tensor[] outs = new Tensor[2];
                double[][][] grads = new double[2][][];
                Device[] devices = {Device.cpu(), GPU};
                for (int k = 0; k < 2; k++) {
                    Device dev = devices[k];
                    Tensor q = place(qv, dtype, dev, false, b, h, t, d).setRequiresGrad(true);
                    Tensor kk = place(kv, dtype, dev, false, b, h, t, d).setRequiresGrad(true);
                    Tensor v = place(vv, dtype, dev, false, b, h, t, d).setRequiresGrad(true);
                    Tensor lengths = Tensor.ofInts(new int[] {(int) t, 4}, b);
                    if (!dev.isCpu()) lengths = Transfers.to(lengths, dev);
                    Attention.Options o = new Attention.Options().causal(true).keyLengths(lengths).dropout(0.2, 11, 3);
                    Tensor out = Attention.scaledDotProduct(q, kk, v, o);
                    out.backward(place(gv, dtype, dev, false, b, h, t, d));
                    outs[k] = out;
                    grads[k] = new double[][] {q.grad().toDoubleArray(), kk.grad().toDoubleArray(),
                        v.grad().toDoubleArray()};
                }
                assertEquals(GPU, outs[1].device());
                assertArrayEquals(outs[0].shape(), outs[1].shape());
                double e = Reference.relativeError(outs[1].toDoubleArray(), outs[0].toDoubleArray());
                assertTrue(e <= bound(dtype), dtype + " op forward: " + e);
                for (int i = 0; i < 3; i++) {
                    double g = Reference.relativeError(grads[1][i], grads[0][i]);
                    assertTrue(g <= bound(dtype), dtype + " op gradient " + i + ": " + g);
                }
            }
        }
        assertNoGpuLeak(before);
    }
}
