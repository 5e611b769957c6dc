package dev.soma.backend;

import dev.soma.data.ArrayDataset;
import dev.soma.memory.Scope;
import dev.soma.model.FitOptions;
import dev.soma.model.History;
import dev.soma.model.Sequential;
import dev.soma.nn.Conv2D;
import dev.soma.nn.Dense;
import dev.soma.nn.Flatten;
import dev.soma.nn.MaxPooling2D;
import dev.soma.nn.Param;
import dev.soma.ops.Convolution;
import dev.soma.optim.Adam;
import dev.soma.tensor.DType;
import dev.soma.tensor.Precision;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.util.CpuInfo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * bf16 mixed precision on the CPU. The bound: a bf16 product run rounds each input to bf16 (nearest even) and
 * multiplies those exactly into f32 sums (two 8-bit significands make 16 bits), so it must equal the f32 op on
 * inputs rounded to bf16 here, in Java, up to the two f32 summations' rounding: |y16 - y| <= 2 gamma_K * sum |a||b|
 * with gamma_K = K u32 / (1 - K u32), u32 = 2^-24, K the length of the sums; sum |a||b| is the same op on the
 * rounded inputs' absolute values. That is ~1000x tighter than the bf16 rounding itself (2^-8 per input), so
 * truncation instead of rounding, a missed conversion or bf16 outputs would all fail it; and the results must
 * differ from f32 on the raw inputs, or the bf16 path did not run.
 */
@ExtendWith(NoLeaks.class)
class MixedPrecisionTest {
    private static final int[] ONE = {1, 1};

    /** Skips the test on a CPU without native bf16 products (also used by Bf16CopyTest). */
    static void assumeBf16() {
        String why = MixedPrecision.bf16UnsupportedReason();
        assumeTrue(why == null, () -> "bf16: " + why);
    }

    /** float32 to bf16 and back, round to nearest even (the reference conversion). */
    static float bf16(float v) {
        if (Float.isNaN(v)) return v;
        int b = Float.floatToRawIntBits(v);
        b += 0x7FFF + ((b >>> 16) & 1);
        return Float.intBitsToFloat(b & 0xFFFF0000);
    }

    @Test
    void roundingReferenceIsNearestEven() {
        assertEquals(1.0f, bf16(1.0f + 0x1p-9f), "a tie rounds to the even significand");
        assertEquals(1.0f + 0x1p-6f, bf16(1.0f + 0x1p-7f + 0x1p-8f), "a tie rounds up to even");
        assertEquals(1.0f + 0x1p-7f, bf16(1.0f + 0x1p-8f + 0x1p-12f), "above the tie rounds up");
        assertEquals(-3.0f, bf16(-3.0f));
    }

    private static float[] random(SplittableRandom r, int n, double scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (r.nextGaussian() * scale);
        return v;
    }

    private static float[] map(float[] v, Function<Float, Float> f) {
        float[] o = new float[v.length];
        for (int i = 0; i < v.length; i++) o[i] = f.apply(v[i]);
        return o;
    }

    private static float[] rounded(float[] v) {
        return map(v, MixedPrecisionTest::bf16);
    }

    private static float[] abs(float[] v) {
        return map(v, Math::abs);
    }

    private static int numel(long[] s) {
        return (int) Arrays.stream(s).reduce(1, (a, b) -> a * b);
    }

    /** Checks every element of {@code got} against {@code want} within 2 gamma_K |sum|, and returns the largest gap. */
    private static double assertWithinSummationBound(String what, float[] got, float[] want, float[] absSum, long k) {
        double gamma = k * 0x1p-24 / (1 - k * 0x1p-24);
        double worst = 0;
        for (int i = 0; i < got.length; i++) {
            double bound = 2 * gamma * absSum[i] + 1e-30;
            double gap = Math.abs(got[i] - want[i]);
            worst = Math.max(worst, gap / bound);
            if (!(gap <= bound)) {
                fail(what + "[" + i + "]: bf16 " + got[i] + " vs f32 on bf16-rounded inputs " + want[i] + ", gap " + gap
                        + " > 2 gamma_" + k + " sum|a||b| = " + bound);
            }
        }
        return worst;
    }

    private static void assertDiffers(String what, float[] bf16Run, float[] f32Run) {
        assertFalse(Arrays.equals(bf16Run, f32Run), what + ": the bf16 run equals the f32 run; bf16 did not run");
    }

    // ------------------------------------------------------------------ convolution

    /** y = conv(x, k) + b, loss = sum(y * g): returns y and the gradients of x, k and b. */
    private static float[][] convStep(long[] xs, float[] x, long[] ks, float[] k, float[] b, float[] g, long[] ys) {
        try (Scope s = Scope.open()) {
            Tensor tx = Tensor.of(x, xs).setRequiresGrad(true);
            Tensor tk = Tensor.of(k, ks).setRequiresGrad(true);
            Tensor tb = Tensor.of(b, ks[3]).setRequiresGrad(true);
            Tensor y = Convolution.conv2d(tx, tk, tb, ONE, "same", ONE);
            assertArrayEquals(ys, y.shape());
            y.mul(Tensor.of(g, ys)).sum().backward();
            return new float[][] {y.toFloatArray(), tx.grad().toFloatArray(), tk.grad().toFloatArray(), tb.grad().toFloatArray()};
        }
    }

    @Test
    void bf16ConvolutionPassesEqualF32OnBf16RoundedInputs() {
        assumeBf16();
        SplittableRandom r = new SplittableRandom(7);
        long[] xs = {4, 9, 9, 16}, ks = {3, 3, 16, 24}, ys = {4, 9, 9, 24};
        float[] x = random(r, numel(xs), 1), k = random(r, numel(ks), 0.2), b = random(r, 24, 0.1), g = random(r, numel(ys), 1);
        float[][] got;
        try (MixedPrecision.Scope p = MixedPrecision.use(Precision.BF16)) {
            got = convStep(xs, x, ks, k, b, g, ys);
        }
        float[][] want = convStep(xs, rounded(x), ks, rounded(k), b, rounded(g), ys);
        float[][] sums = convStep(xs, abs(rounded(x)), ks, abs(rounded(k)), abs(b), abs(rounded(g)), ys);
        float[][] f32 = convStep(xs, x, ks, k, b, g, ys);
        String[] names = {"forward", "backward data", "backward weights", "bias gradient"};
        long[] lengths = {3 * 3 * 16 + 1, 3 * 3 * 24, 4 * 9 * 9, 4 * 9 * 9}; // +1: the bias term
        for (int i = 0; i < 4; i++) {
            assertWithinSummationBound("conv " + names[i], got[i], want[i], sums[i], lengths[i]);
            if (i < 3) assertDiffers("conv " + names[i], got[i], f32[i]);
        }
    }

    @Test
    void aThinConvolutionStaysF32() {
        assumeBf16();
        SplittableRandom r = new SplittableRandom(5);
        // 3 input channels (an RGB image), then 16 in and 8 out: both below the 16 channels bf16 needs on each side.
        long[][][] shapes = {{{2, 7, 7, 3}, {3, 3, 3, 24}, {2, 7, 7, 24}}, {{2, 7, 7, 16}, {3, 3, 16, 8}, {2, 7, 7, 8}}};
        for (long[][] sh : shapes) {
            long[] xs = sh[0], ks = sh[1], ys = sh[2];
            float[] x = random(r, numel(xs), 1), k = random(r, numel(ks), 0.2), b = random(r, (int) ks[3], 0.1);
            float[] g = random(r, numel(ys), 1);
            float[][] inBf16Scope;
            long before = dev.soma.backend.dnnl.Bf16Conversion.convertedElementsOnThisThread();
            try (Scope s = Scope.open(); MixedPrecision.Scope p = MixedPrecision.use(Precision.BF16)) {
                inBf16Scope = convStep(xs, x, ks, k, b, g, ys);
                String[] impl = Convolution.implementations(Tensor.zeros(xs), Tensor.zeros(ks), Tensor.zeros(ks[3]), ONE,
                        "same", ONE);
                for (String i : impl) assertFalse(i.contains("bf16"), Arrays.toString(xs) + " * " + Arrays.toString(ks) + ": " + i);
            }
            assertEquals(0, dev.soma.backend.dnnl.Bf16Conversion.convertedElementsOnThisThread() - before, "rounded elements");
            float[][] f32 = convStep(xs, x, ks, k, b, g, ys);
            for (int i = 0; i < f32.length; i++) {
                assertArrayEquals(f32[i], inBf16Scope[i], Arrays.toString(ks) + ": result " + i + " differs from the f32 run");
            }
        }
    }

    @Test
    void bf16ConvolutionRunsOnBf16JitKernels() {
        assumeBf16();
        try (Scope s = Scope.open(); MixedPrecision.Scope p = MixedPrecision.use(Precision.BF16)) {
            // The reference CNN's conv2: batch 32, 28x28x32 -> 64, 3x3 same.
            String[] impl = Convolution.implementations(Tensor.zeros(32, 28, 28, 32), Tensor.zeros(3, 3, 32, 64),
                    Tensor.zeros(64), ONE, "same", ONE);
            System.out.println("bf16 conv2 passes: " + Arrays.toString(impl));
            for (String i : impl) {
                // oneDNN names AVX-512 kernels by their bf16 ISA, AMX ones by "amx" alone (AMX computes only in
                // bf16, fp16 and int8; here bf16).
                assertTrue((i.contains("bf16") || i.contains("amx")) && !i.contains("ref"), "not a bf16 JIT kernel: "
                        + Arrays.toString(impl));
            }
            assertTrue(dev.soma.backend.dnnl.Bf16Conversion.vectorized(), "f32 -> bf16 conversion without AVX512_BF16");
        }
    }

    // ------------------------------------------------------------------ matmul

    /** y = a @ b (b given as [K, N] or, when {@code bTransposed}, stored [N, K] and transposed), loss = sum(y * g). */
    private static float[][] matmulStep(long[] as, float[] a, long[] bs, float[] b, boolean bTransposed, float[] g, long[] ys) {
        try (Scope s = Scope.open()) {
            Tensor ta = Tensor.of(a, as).setRequiresGrad(true);
            Tensor tb = Tensor.of(b, bs).setRequiresGrad(true);
            Tensor y = ta.matmul(bTransposed ? tb.transpose(-1, -2) : tb);
            assertArrayEquals(ys, y.shape());
            y.mul(Tensor.of(g, ys)).sum().backward();
            return new float[][] {y.toFloatArray(), ta.grad().toFloatArray(), tb.grad().toFloatArray()};
        }
    }

    private static void checkMatmul(String what, long[] as, long[] bs, boolean bTransposed, long[] ys, long[] lengths) {
        SplittableRandom r = new SplittableRandom(11);
        float[] a = random(r, numel(as), 1), b = random(r, numel(bs), 1), g = random(r, numel(ys), 1);
        float[][] got;
        try (MixedPrecision.Scope p = MixedPrecision.use(Precision.BF16)) {
            got = matmulStep(as, a, bs, b, bTransposed, g, ys);
        }
        float[][] want = matmulStep(as, rounded(a), bs, rounded(b), bTransposed, rounded(g), ys);
        float[][] sums = matmulStep(as, abs(rounded(a)), bs, abs(rounded(b)), bTransposed, abs(rounded(g)), ys);
        float[][] f32 = matmulStep(as, a, bs, b, bTransposed, g, ys);
        String[] names = {"forward", "gradient of a", "gradient of b"};
        for (int i = 0; i < 3; i++) {
            assertWithinSummationBound(what + " " + names[i], got[i], want[i], sums[i], lengths[i]);
            assertDiffers(what + " " + names[i], got[i], f32[i]);
        }
    }

    @Test
    void bf16MatmulAndItsBackwardEqualF32OnBf16RoundedInputs() {
        assumeBf16();
        // Dense-like: [M, K] @ [K, N]; the backward multiplies by transposed views (strided bf16 copies).
        checkMatmul("2-d", new long[] {33, 70}, new long[] {70, 19}, false, new long[] {33, 19}, new long[] {70, 19, 33});
        // b stored transposed: a strided operand in the forward too.
        checkMatmul("b transposed", new long[] {17, 40}, new long[] {23, 40}, true, new long[] {17, 23}, new long[] {40, 23, 17});
        // Batched [2, M, K] @ [2, K, N] and batch against a shared matrix (broadcast; merged into one GEMM).
        checkMatmul("batched", new long[] {2, 9, 30}, new long[] {2, 30, 12}, false, new long[] {2, 9, 12}, new long[] {30, 12, 9});
        checkMatmul("broadcast b", new long[] {3, 9, 30}, new long[] {30, 12}, false, new long[] {3, 9, 12}, new long[] {30, 12, 27});
    }

    @Test
    void bf16MatmulRunsOnABf16JitKernel() {
        assumeBf16();
        try (Scope s = Scope.open(); MixedPrecision.Scope p = MixedPrecision.use(Precision.BF16)) {
            // The reference CNN's dense layer, forward: [32, 12544] @ [12544, 128].
            Tensor a = Tensor.zeros(32, 12544), b = Tensor.zeros(12544, 128), out = Tensor.zeros(32, 128);
            String impl = Backends.cpu().linalg().matmulImplementation(a, b, out);
            System.out.println("bf16 dense forward: " + impl);
            assertTrue(impl.contains("bf16") && !impl.contains("ref"), impl);
        }
    }

    // ------------------------------------------------------------------ policy and training

    @Test
    void scopesNestAndRestoreAndOnlyF32ChangesF64Not() {
        assertEquals(Precision.F32, MixedPrecision.current());
        assertThrows(IllegalArgumentException.class, () -> MixedPrecision.use(null));
        assumeBf16();
        try (MixedPrecision.Scope outer = MixedPrecision.use(Precision.BF16)) {
            assertTrue(MixedPrecision.bf16());
            try (MixedPrecision.Scope inner = MixedPrecision.use(Precision.F32)) {
                assertFalse(MixedPrecision.bf16());
            }
            assertTrue(MixedPrecision.bf16());
            // f64 products ignore the policy: exactly the f64 result.
            try (Scope s = Scope.open()) {
                Tensor a = Tensor.of(new double[] {1 + 1e-9, 2}, 1, 2), b = Tensor.of(new double[] {3, 4}, 2, 1);
                assertEquals(3 * (1 + 1e-9) + 8, a.matmul(b).toDoubleArray()[0], 0);
            }
        }
        assertEquals(Precision.F32, MixedPrecision.current());
    }

    @Test
    void aCpuWithoutBf16InstructionsIsNamedWithTheReason() {
        String none = MixedPrecision.reason(new CpuInfo("Test CPU", "AVX2+FMA", 2), true);
        assertTrue(none != null && none.contains("Test CPU") && none.contains("avx512_bf16") && none.contains("amx_bf16"), none);
        String capped = MixedPrecision.reason(new CpuInfo("Test CPU", "AVX-512+AVX512_BF16", 2), false);
        assertTrue(capped != null && capped.contains("ONEDNN_MAX_CPU_ISA"), capped);
        assertNull(MixedPrecision.reason(new CpuInfo("Test CPU", "AVX-512+AVX512_BF16+AMX-BF16", 2), true));
        assertFalse(new CpuInfo("x", "AVX-512+AVX512_VNNI", 2).hasBf16());
        assertTrue(new CpuInfo("x", "AVX-512+AVX512_BF16+AVX512_VNNI", 2).hasBf16());
    }

    /** 12x12 images: class c has a bright 4x4 square at one of four corners (c = 0..3) plus noise. */
    private static ArrayDataset corners(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[n * 144];
        int[] y = new int[n];
        for (int i = 0; i < n; i++) {
            y[i] = r.nextInt(4);
            int r0 = y[i] < 2 ? 1 : 7, c0 = y[i] % 2 == 0 ? 1 : 7;
            for (int p = 0; p < 144; p++) x[i * 144 + p] = (float) (0.3 * r.nextGaussian());
            for (int dr = 0; dr < 4; dr++) for (int dc = 0; dc < 4; dc++) x[i * 144 + (r0 + dr) * 12 + c0 + dc] += 1;
        }
        return ArrayDataset.withLabels(x, new long[] {12, 12, 1}, y);
    }

    private static Sequential smallCnn() {
        return new Sequential(new Conv2D(8, 3, "relu").padding("same"), new MaxPooling2D(2), new Flatten(),
                new Dense(4, "softmax"));
    }

    @Test
    void fitInBf16ReducesTheLossAndKeepsF32MasterWeights() {
        assumeBf16();
        try (Sequential m = smallCnn()) {
            m.seed(3).compile(new Adam(3e-3), "sparse_categorical_crossentropy", "accuracy");
            History h = m.fit(corners(256, 1), new FitOptions().precision(Precision.BF16).epochs(4).batchSize(32).verbose(0));
            List<Double> loss = h.get("loss");
            assertTrue(loss.get(3) < 0.5 * loss.get(0), "bf16 training loss per epoch: " + loss);
            assertTrue(h.get("accuracy").get(3) > 0.9, "bf16 training accuracy per epoch: " + h.get("accuracy"));
            for (Param p : m.params()) assertEquals(DType.F32, p.value().dtype(), p.name());
            assertEquals(Precision.F32, MixedPrecision.current(), "fit closes its precision scope");
        }
    }

    @Test
    void bf16RefusesAFloat64Model() {
        try (Sequential m = smallCnn()) {
            m.dtype(DType.F64).seed(3).compile(new Adam(1e-3), "sparse_categorical_crossentropy");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> m.fit(corners(8, 1), new FitOptions().precision(Precision.BF16).verbose(0)));
            assertTrue(e.getMessage().contains("float32") && e.getMessage().contains("float64"), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> new FitOptions().precision(null));
    }
}
