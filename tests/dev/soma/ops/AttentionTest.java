package dev.soma.ops;

import dev.soma.autograd.Gradcheck;
import dev.soma.backend.Backends;
import dev.soma.errors.ClosedTensorException;
import dev.soma.errors.DTypeException;
import dev.soma.errors.ShapeException;
import dev.soma.errors.SomaException;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.Reference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.*;

/** The fused attention op against the plain matmul-softmax-matmul path, gradients in f64, memory, bad input. */
@ExtendWith(NoLeaks.class)
class AttentionTest {
    private static Tensor randn(long seed, DType dtype, long... shape) {
        return Creation.randn(seed, dtype, Device.cpu(), shape);
    }

    /** The option sets every comparison runs through (masks built for batch 2, tq, tk). */
    private static Supplier<Attention.Options>[] optionSets(long tq, long tk) {
        @SuppressWarnings("unchecked")
        Supplier<Attention.Options>[] sets = new Supplier[] {
            Attention.Options::new,
            () -> new Attention.Options().causal(true),
            () -> new Attention.Options().keyLengths(Tensor.ofInts(new int[] {(int) tk - 3, (int) Math.max(1, tk / 2)})),
            () -> new Attention.Options().mask(keyMask(tk)),
            () -> new Attention.Options().mask(fullMask(tq, tk)).causal(true),
            () -> new Attention.Options().scale(0.3).dropout(0.25, 77, 5),
            () -> new Attention.Options().causal(true).keyLengths(Tensor.ofInts(new int[] {(int) tk, 2})).dropout(0.5, 3, 9),
        };
        return sets;
    }

    /** A float 0/1 key mask [2, tk] with a few holes (never a whole row). */
    private static Tensor keyMask(long tk) {
        float[] m = new float[(int) (2 * tk)];
        for (int i = 0; i < m.length; i++) m[i] = (i % 3 == 1) ? 0 : 1;
        return Tensor.of(m, 2, tk);
    }

    /** An int32 mask [2, tq, tk]: a pseudo-random pattern that keeps key 0 always. */
    private static Tensor fullMask(long tq, long tk) {
        int[] m = new int[(int) (2 * tq * tk)];
        for (int i = 0; i < m.length; i++) m[i] = (i % tk == 0 || (i * 7919) % 5 != 0) ? 1 : 0;
        return Tensor.ofInts(m, 2, tq, tk);
    }

    @Test
    void fusedEqualsPlainPathInFloat32ForwardAndBackward() {
        // The last: head widths past a multiple of 8 (the f32 tile transpose's vector blocks and its scalar tail) and a
        // partial second key block.
        long[][] shapes = {{2, 3, 5, 7, 4, 6}, {2, 2, 70, 130, 16, 8}, {2, 1, 100, 100, 64, 64}, {2, 2, 37, 67, 12, 20}};
        for (long[] sh : shapes) {
            long b = sh[0], h = sh[1], tq = sh[2], tk = sh[3], d = sh[4], dv = sh[5];
            for (Supplier<Attention.Options> opts : optionSets(tq, tk)) {
                try (Scope s = Scope.open()) {
                    Tensor q = randn(1, DType.F32, b, h, tq, d).setRequiresGrad(true);
                    Tensor k = randn(2, DType.F32, b, h, tk, d).setRequiresGrad(true);
                    Tensor v = randn(3, DType.F32, b, h, tk, dv).setRequiresGrad(true);
                    Tensor w = randn(4, DType.F32, b, h, tq, dv);
                    Attention.Options o = opts.get();
                    Tensor fused = Attention.scaledDotProduct(q, k, v, o);
                    fused.mul(w).sum().backward();
                    double[][] fusedGrads = {q.grad().toDoubleArray(), k.grad().toDoubleArray(), v.grad().toDoubleArray()};
                    for (Tensor t : new Tensor[] {q, k, v}) t.zeroGrad();
                    Tensor plain = Attention.plain(q, k, v, o).output();
                    plain.mul(w).sum().backward();
                    String what = java.util.Arrays.toString(sh);
                    assertArrayEquals(plain.shape(), fused.shape());
                    assertTrue(Reference.relativeError(fused.toDoubleArray(), plain.toDoubleArray()) <= Reference.REDUCTION_F32,
                            "forward " + what);
                    Tensor[] ins = {q, k, v};
                    for (int i = 0; i < 3; i++) {
                        double err = Reference.relativeError(fusedGrads[i], ins[i].grad().toDoubleArray());
                        assertTrue(err <= Reference.REDUCTION_F32, "gradient " + i + " " + what + ": " + err);
                        ins[i].zeroGrad();
                    }
                }
            }
        }
    }

    @Test
    void gradcheckInFloat64WithEveryMask() {
        for (Supplier<Attention.Options> opts : optionSets(5, 7)) {
            try (Scope s = Scope.open()) {
                Tensor q = randn(5, DType.F64, 2, 2, 5, 3);
                Tensor k = randn(6, DType.F64, 2, 2, 7, 3);
                Tensor v = randn(7, DType.F64, 2, 2, 7, 4);
                Attention.Options o = opts.get();
                Gradcheck.assertGradients("attention", xs -> Attention.scaledDotProduct(xs[0], xs[1], xs[2], o), q, k, v);
            }
        }
    }

    @Test
    void gradcheckAcrossSeveralKeyAndQueryBlocks() {
        try (Scope s = Scope.open()) {
            Tensor q = randn(8, DType.F64, 1, 1, 40, 2);
            Tensor k = randn(9, DType.F64, 1, 1, 70, 2);
            Tensor v = randn(10, DType.F64, 1, 1, 70, 2);
            Gradcheck.assertGradients("attention causal 40x70",
                    xs -> Attention.scaledDotProduct(xs[0], xs[1], xs[2], new Attention.Options().causal(true)), q, k, v);
            Gradcheck.assertGradients("attention dropout 40x70", xs -> Attention.scaledDotProduct(xs[0], xs[1], xs[2],
                    new Attention.Options().dropout(0.3, 11, 2)), q, k, v);
        }
    }

    @Test
    void float64MatchesPlainPathClosely() {
        try (Scope s = Scope.open()) {
            Tensor q = randn(1, DType.F64, 2, 3, 33, 8);
            Tensor k = randn(2, DType.F64, 2, 3, 65, 8);
            Tensor v = randn(3, DType.F64, 2, 3, 65, 5);
            for (Supplier<Attention.Options> opts : optionSets(33, 65)) {
                Attention.Options o = opts.get();
                Reference.assertClose(Attention.scaledDotProduct(q, k, v, o).toDoubleArray(),
                        Attention.plain(q, k, v, o).output().toDoubleArray(), 1e-12);
            }
        }
    }

    @Test
    void weightsAreTheNormalisedScoresBeforeDropout() {
        try (Scope s = Scope.open()) {
            Tensor q = randn(1, DType.F32, 2, 2, 9, 4);
            Tensor k = randn(2, DType.F32, 2, 2, 70, 4);
            Tensor v = randn(3, DType.F32, 2, 2, 70, 4);
            Attention.Options o = new Attention.Options().keyLengths(Tensor.ofInts(new int[] {70, 5})).dropout(0.2, 1, 1);
            Attention.Result fused = Attention.withWeights(q, k, v, o);
            Attention.Result plain = Attention.plain(q, k, v, o);
            assertArrayEquals(new long[] {2, 2, 9, 70}, fused.weights().shape());
            Reference.assertClose(fused.weights().toDoubleArray(), plain.weights().toDoubleArray(), Reference.REDUCTION_F32);
            Reference.assertClose(fused.output().toDoubleArray(), plain.output().toDoubleArray(), Reference.REDUCTION_F32);
            double[] rowSums = fused.weights().sum(new int[] {3}, false).toDoubleArray();
            for (double x : rowSums) assertEquals(1.0, x, 1e-5);
            float[] w = fused.weights().toFloatArray();
            for (int i = 0; i < 9; i++) for (int j = 5; j < 70; j++) assertEquals(0f, w[((2 + 0) * 9 + i) * 70 + j]);
        }
    }

    @Test
    void queriesThatSeeNoKeyGetZeroOutputAndZeroGradients() {
        try (Scope s = Scope.open()) {
            Tensor q = randn(1, DType.F64, 2, 1, 3, 2).setRequiresGrad(true);
            Tensor k = randn(2, DType.F64, 2, 1, 4, 2).setRequiresGrad(true);
            Tensor v = randn(3, DType.F64, 2, 1, 4, 2).setRequiresGrad(true);
            Tensor out = Attention.scaledDotProduct(q, k, v, new Attention.Options().keyLengths(Tensor.ofInts(new int[] {4, 0})));
            out.sum().backward();
            double[] o = out.toDoubleArray();
            for (int i = 6; i < 12; i++) assertEquals(0.0, o[i]);
            for (double x : o) assertFalse(Double.isNaN(x));
            double[] gq = q.grad().toDoubleArray();
            double[] gk = k.grad().toDoubleArray();
            for (int i = 6; i < 12; i++) assertEquals(0.0, gq[i]);
            for (int i = 8; i < 16; i++) assertEquals(0.0, gk[i]);
            for (double x : v.grad().toDoubleArray()) assertFalse(Double.isNaN(x));
            // and no key at all
            Tensor none = Attention.scaledDotProduct(q, Tensor.zeros(DType.F64, Device.cpu(), 2, 1, 0, 2),
                    Tensor.zeros(DType.F64, Device.cpu(), 2, 1, 0, 2));
            for (double x : none.toDoubleArray()) assertEquals(0.0, x);
        }
    }

    @Test
    void headSplitViewsAreReadWithoutCopiesAndGiveTheSameResult() {
        try (Scope s = Scope.open()) {
            // [B, T, H, D] as the projections of a multi-head layer produce it, permuted to [B, H, T, D].
            Tensor qt = randn(1, DType.F32, 2, 20, 4, 8).setRequiresGrad(true);
            Tensor kt = randn(2, DType.F32, 2, 30, 4, 8).setRequiresGrad(true);
            Tensor vt = randn(3, DType.F32, 2, 30, 4, 8).setRequiresGrad(true);
            Tensor q = qt.permute(0, 2, 1, 3);
            Tensor k = kt.permute(0, 2, 1, 3);
            Tensor v = vt.permute(0, 2, 1, 3);
            Attention.Options o = new Attention.Options().causal(true);
            Tensor fused = Attention.scaledDotProduct(q, k, v, o);
            assertFalse(fused.isContiguous(), "output follows the time-major layout of q");
            Tensor w = randn(4, DType.F32, 2, 4, 20, 8);
            fused.mul(w).sum().backward();
            double[] g = qt.grad().toDoubleArray();
            qt.zeroGrad();
            Tensor plain = Attention.plain(q.copy(), k.copy(), v.copy(), o).output();
            plain.mul(w).sum().backward();
            Reference.assertClose(fused.toDoubleArray(), plain.toDoubleArray(), Reference.REDUCTION_F32);
            Reference.assertClose(g, qt.grad().toDoubleArray(), Reference.REDUCTION_F32);
            qt.zeroGrad();
            kt.zeroGrad();
            vt.zeroGrad();
        }
    }

    /** Peak pool bytes of one forward + backward at sequence length t (B 1, H 2, D 32). */
    private static long peakBytes(long t, boolean fused) {
        try (Scope s = Scope.open()) {
            Tensor q = randn(1, DType.F32, 1, 2, t, 32).setRequiresGrad(true);
            Tensor k = randn(2, DType.F32, 1, 2, t, 32).setRequiresGrad(true);
            Tensor v = randn(3, DType.F32, 1, 2, t, 32).setRequiresGrad(true);
            Backends.cpu().pool().resetPeaks();
            long base = Backends.cpu().pool().stats().allocatedBytes();
            Attention.Options o = new Attention.Options().causal(true);
            Tensor out = fused ? Attention.scaledDotProduct(q, k, v, o) : Attention.plain(q, k, v, o).output();
            out.sum().backward();
            long peak = Backends.cpu().pool().stats().peakAllocatedBytes() - base;
            for (Tensor x : new Tensor[] {q, k, v}) x.zeroGrad();
            return peak;
        }
    }

    @Test
    void fusedPeakMemoryGrowsLinearlyInSequenceLength() {
        long f256 = peakBytes(256, true), f512 = peakBytes(512, true), f1024 = peakBytes(1024, true);
        long p256 = peakBytes(256, false), p512 = peakBytes(512, false);
        double fusedRatio = (double) f1024 / f512;
        assertTrue(fusedRatio < 2.3 && (double) f512 / f256 < 2.3,
                "fused peak bytes must about double when T doubles: " + f256 + ", " + f512 + ", " + f1024);
        assertTrue((double) p512 / p256 > 3.0, "the plain path is quadratic (sanity check of the measurement): "
                + p256 + ", " + p512);
        assertTrue(f512 * 8 < p512, "fused " + f512 + " vs plain " + p512 + " bytes at T = 512");
    }

    @Test
    void badInputsAreRejectedWithMessagesNamingTheOp() {
        try (Scope s = Scope.open()) {
            Tensor q = randn(1, DType.F32, 2, 2, 3, 4);
            Tensor k = randn(2, DType.F32, 2, 2, 5, 4);
            Tensor v = randn(3, DType.F32, 2, 2, 5, 6);
            ShapeException e = assertThrows(ShapeException.class,
                    () -> Attention.scaledDotProduct(q, randn(4, DType.F32, 2, 2, 5, 3), v));
            assertTrue(e.getMessage().contains("attention") && e.getMessage().contains("[2, 2, 5, 3]"), e.getMessage());
            assertThrows(ShapeException.class, () -> Attention.scaledDotProduct(q, k, randn(4, DType.F32, 2, 2, 4, 6)));
            assertThrows(ShapeException.class, () -> Attention.scaledDotProduct(q, k, randn(4, DType.F32, 2, 3, 5, 6)));
            assertThrows(ShapeException.class, () -> Attention.scaledDotProduct(randn(4, DType.F32, 2, 3, 4), k, v));
            DTypeException de = assertThrows(DTypeException.class,
                    () -> Attention.scaledDotProduct(q.to(DType.F64), k, v));
            assertTrue(de.getMessage().contains("attention"), de.getMessage());
            assertThrows(DTypeException.class, () -> Attention.scaledDotProduct(Tensor.ofInts(new int[16], 1, 1, 4, 4),
                    Tensor.ofInts(new int[16], 1, 1, 4, 4), Tensor.ofInts(new int[16], 1, 1, 4, 4)));
            assertThrows(ShapeException.class, () -> Attention.scaledDotProduct(q, k, v,
                    new Attention.Options().keyLengths(Tensor.ofInts(new int[] {6, 1}))));
            assertThrows(ShapeException.class, () -> Attention.scaledDotProduct(q, k, v,
                    new Attention.Options().keyLengths(Tensor.ofInts(new int[] {-1, 1}))));
            assertThrows(ShapeException.class, () -> Attention.scaledDotProduct(q, k, v,
                    new Attention.Options().keyLengths(Tensor.ofInts(new int[] {1, 1, 1}))));
            assertThrows(DTypeException.class, () -> Attention.scaledDotProduct(q, k, v,
                    new Attention.Options().keyLengths(Tensor.of(new float[] {1, 1}))));
            ShapeException me = assertThrows(ShapeException.class, () -> Attention.scaledDotProduct(q, k, v,
                    new Attention.Options().mask(Tensor.ones(2, 4))));
            assertTrue(me.getMessage().contains("mask") && me.getMessage().contains("[2, 5]"), me.getMessage());
            assertThrows(SomaException.class, () -> Attention.scaledDotProduct(q, k, v,
                    new Attention.Options().dropout(1.0, 1, 1)));
            assertThrows(SomaException.class, () -> Attention.scaledDotProduct(q, k, v,
                    new Attention.Options().scale(Double.POSITIVE_INFINITY)));
            Tensor closed = randn(5, DType.F32, 2, 2, 3, 4);
            closed.close();
            assertThrows(ClosedTensorException.class, () -> Attention.scaledDotProduct(closed, k, v));
            assertThrows(NullPointerException.class, () -> Attention.scaledDotProduct(q, null, v));
        }
    }
}
