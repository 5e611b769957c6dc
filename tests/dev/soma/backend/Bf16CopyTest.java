package dev.soma.backend;

import dev.soma.backend.dnnl.Bf16Conversion;
import dev.soma.memory.Scope;
import dev.soma.ops.Convolution;
import dev.soma.tensor.Precision;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.SplittableRandom;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.*;

/**
 * bf16 copies kept between the products that read the same values ({@link Bf16Copy}): a matmul's forward keeps its
 * operands for the backward, a backward rounds the output gradient once for both of its products. Checked by
 * counting the elements rounded on this thread and by comparing with the same step whose copies were closed before
 * its backward (every product then rounds for itself): the results must be identical bit for bit, since both paths
 * multiply the same bf16 values. That the values are the right ones is MixedPrecisionTest's bound, whose steps now
 * run with kept copies.
 */
@ExtendWith(NoLeaks.class)
class Bf16CopyTest {
    private static final int[] ONE = {1, 1};

    private static float[] random(SplittableRandom r, long n) {
        float[] v = new float[(int) n];
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
        return v;
    }

    /** Elements rounded to bf16 on this thread while {@code step} runs, and the step's results. */
    private record Counted(long converted, float[][] results) {}

    private static Counted count(Supplier<float[][]> step) {
        long before = Bf16Conversion.convertedElementsOnThisThread();
        float[][] out = step.get();
        return new Counted(Bf16Conversion.convertedElementsOnThisThread() - before, out);
    }

    /**
     * y = a @ b, loss = sum(y * g) in bf16. {@code closeCopiesEarly}: the forward runs in an inner scope that owns
     * the copies it keeps and is closed before the backward, so no product can use them.
     */
    private static float[][] matmulStep(long m, long k, long n, boolean closeCopiesEarly) {
        SplittableRandom r = new SplittableRandom(5);
        try (Scope s = Scope.open(); MixedPrecision.Scope p = MixedPrecision.use(Precision.BF16)) {
            Tensor a = Tensor.of(random(r, m * k), m, k).setRequiresGrad(true);
            Tensor b = Tensor.of(random(r, k * n), k, n).setRequiresGrad(true);
            Tensor g = Tensor.of(random(r, m * n), m, n);
            Tensor y;
            if (closeCopiesEarly) {
                try (Scope forward = Scope.open()) {
                    y = forward.escape(a.matmul(b));
                }
            } else {
                y = a.matmul(b);
            }
            y.mul(g).sum().backward();
            return new float[][] {y.toFloatArray(), a.grad().toFloatArray(), b.grad().toFloatArray()};
        }
    }

    @Test
    void aMatmulRoundsEachOperandOnceForItsForwardAndBackward() {
        MixedPrecisionTest.assumeBf16();
        long m = 19, k = 300, n = 23;
        Counted kept = count(() -> matmulStep(m, k, n, false));
        Counted fresh = count(() -> matmulStep(m, k, n, true));
        // Forward: a and b; backward: g once for dA = g b^T and dB = a^T g, which read the forward's copies.
        assertEquals(m * k + k * n + m * n, kept.converted(), "elements rounded with kept copies");
        // The forward's copies closed: each backward product rounds its a or b again (g is still rounded once).
        assertEquals(2 * (m * k + k * n) + m * n, fresh.converted(), "elements rounded without the forward's copies");
        for (int i = 0; i < 3; i++) assertArrayEquals(fresh.results()[i], kept.results()[i], "result " + i);
    }

    @Test
    void onlyTheOperandsTheBackwardNeedsAreKept() {
        MixedPrecisionTest.assumeBf16();
        SplittableRandom r = new SplittableRandom(9);
        try (Scope s = Scope.open(); MixedPrecision.Scope p = MixedPrecision.use(Precision.BF16)) {
            Tensor x = Tensor.of(random(r, 8 * 40), 8, 40);                       // data: no gradient
            Tensor w = Tensor.of(random(r, 40 * 6), 40, 6).setRequiresGrad(true); // a weight
            long before = Bf16Conversion.convertedElementsOnThisThread();
            Tensor y = x.matmul(w);
            y.sum().backward();
            // Forward: x and w. Backward: only dW = x^T g, from x's kept copy and g; nothing reads w again.
            assertEquals(8 * 40 + 40 * 6 + 8 * 6, Bf16Conversion.convertedElementsOnThisThread() - before);
            long inference = Bf16Conversion.convertedElementsOnThisThread();
            try (var noGrad = dev.soma.autograd.GradMode.disable()) {
                x.matmul(w);
            }
            assertEquals(8 * 40 + 40 * 6, Bf16Conversion.convertedElementsOnThisThread() - inference, "no graph, nothing kept");
        }
    }

    /** y = relu(conv(x, k) + b) with x a gradient-carrying input, loss = sum(y * g). */
    private static float[][] convStep(boolean closeCopiesEarly) {
        SplittableRandom r = new SplittableRandom(13);
        long[] xs = {3, 10, 10, 16}, ks = {3, 3, 16, 16}, ys = {3, 10, 10, 16}; // 16: fewer channels stay f32
        try (Scope s = Scope.open(); MixedPrecision.Scope p = MixedPrecision.use(Precision.BF16)) {
            Tensor x = Tensor.of(random(r, 3 * 10 * 10 * 16), xs).setRequiresGrad(true);
            Tensor k = Tensor.of(random(r, 3 * 3 * 16 * 16), ks).setRequiresGrad(true);
            Tensor b = Tensor.of(random(r, 16), 16).setRequiresGrad(true);
            Tensor g = Tensor.of(random(r, 3 * 10 * 10 * 16), ys);
            Tensor y;
            if (closeCopiesEarly) {
                try (Scope forward = Scope.open()) {
                    y = forward.escape(Convolution.conv2dRelu(x, k, b, ONE, "same", ONE));
                }
            } else {
                y = Convolution.conv2dRelu(x, k, b, ONE, "same", ONE);
            }
            y.mul(g).sum().backward();
            return new float[][] {y.toFloatArray(), x.grad().toFloatArray(), k.grad().toFloatArray(), b.grad().toFloatArray()};
        }
    }

    @Test
    void aConvolutionRoundsItsInputAndItsOutputGradientOnce() {
        MixedPrecisionTest.assumeBf16();
        long x = 3 * 10 * 10 * 16, gz = 3 * 10 * 10 * 16;
        Counted kept = count(() -> convStep(false));
        Counted fresh = count(() -> convStep(true));
        // Forward: x (kept for backward weights). Backward: the masked output gradient once for both passes.
        // (The kernel is rounded by its layout reorder, not counted here.)
        assertEquals(x + gz, kept.converted(), "elements rounded with kept copies");
        assertEquals(2 * x + gz, fresh.converted(), "elements rounded without the forward's copy");
        for (int i = 0; i < 4; i++) assertArrayEquals(fresh.results()[i], kept.results()[i], "result " + i);
    }

    @Test
    void aCopyStandsInOnlyForViewsOfItsOwnSpan() {
        MixedPrecisionTest.assumeBf16();
        try (Scope s = Scope.open(); MixedPrecision.Scope p = MixedPrecision.use(Precision.BF16)) {
            Tensor t = Tensor.of(new float[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, 3, 4);
            Tensor rows = t.slice(0, 1, 3, 1);   // rows 1..2: elements 4..11
            Bf16Copy copy = Backends.cpu().memory().keepBf16(rows);
            assertNotNull(copy);
            assertEquals(8, copy.elements());
            long base = copy.addressOf(rows);
            assertNotEquals(0, base);
            assertEquals(base, copy.addressOf(rows.transpose(0, 1)), "a transpose of the same span");
            assertEquals(base + 2 * 4, copy.addressOf(t.slice(0, 2, 3, 1)), "row 2 lies 4 elements in");
            assertEquals(0, copy.addressOf(t), "the whole tensor reaches outside the copy");
            assertEquals(0, copy.addressOf(t.slice(0, 0, 1, 1)), "row 0 lies before it");
            assertEquals(0, copy.addressOf(Tensor.of(new float[] {5, 6, 7, 8}, 1, 4)), "another storage");
            // A view running backwards (negative stride) reaches before its first element: neither copied nor covered.
            Tensor reversed = t.viewOf(11, new long[] {12}, new long[] {-1});
            assertNull(Backends.cpu().memory().keepBf16(reversed));
            Bf16Copy whole = Backends.cpu().memory().keepBf16(t);
            assertEquals(0, whole.addressOf(reversed));
            assertNotEquals(0, whole.addressOf(t.viewOf(0, new long[] {12}, new long[] {1})));
            copy.close();
            assertFalse(copy.isOpen());
            assertEquals(0, copy.addressOf(rows), "a closed copy stands in for nothing");
        }
        // No scope open: nothing would free a copy, so none is made.
        try (MixedPrecision.Scope p = MixedPrecision.use(Precision.BF16); Tensor t = Tensor.zeros(4, 4).keep()) {
            assertNull(Backends.cpu().memory().keepBf16(t));
        }
        // Outside a bf16 scope products do not read bf16: nothing to keep.
        try (Scope s = Scope.open()) {
            assertNull(Backends.cpu().memory().keepBf16(Tensor.zeros(4, 4)));
        }
    }
}
