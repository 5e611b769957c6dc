package dev.soma.backend;

import dev.soma.backend.RecurrentKernels.Cell;
import dev.soma.memory.Scope;
import dev.soma.ops.Recurrent;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.Reference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The whole-sequence loop (native/src/rnn_sequence.cpp) against the step loop it replaces for float32: every cell,
 * with masks, initial states, go_backwards, recurrent dropout and other activations, at hidden sizes that are not
 * whole panels or vectors; outputs and every gradient. And the same bits on one thread as on all.
 */
@ExtendWith(NoLeaks.class)
class RecurrentSequenceTest {
    private static final String[] ACTIVATIONS = {"tanh", "sigmoid", "relu", "hard_sigmoid", "linear"};

    /** One random layer call: shapes, options and the seed of its tensors. */
    private record Case(Cell cell, long n, long t, long f, long h, boolean mask, boolean state, boolean back,
                        boolean drop, boolean bias, String act, String ract, long seed) {
        @Override
        public String toString() {
            return cell + " n=" + n + " t=" + t + " f=" + f + " h=" + h + (mask ? " mask" : "") + (state ? " h0" : "")
                    + (back ? " go_backwards" : "") + (drop ? " dropout" : "") + (bias ? "" : " no-bias") + " " + act
                    + "/" + ract + " seed " + seed;
        }
    }

    private static Case random(SplittableRandom r) {
        Cell cell = Cell.values()[r.nextInt(Cell.values().length)];
        long[] hidden = {1, 5, 16, 17, 40, 70};
        boolean tame = r.nextInt(3) > 0; // else unbounded activations, kept short below
        String act = tame ? "tanh" : ACTIVATIONS[r.nextInt(ACTIVATIONS.length)];
        String ract = tame ? "sigmoid" : ACTIVATIONS[r.nextInt(ACTIVATIONS.length)];
        return new Case(cell, 1 + r.nextInt(7), 1 + r.nextInt(tame ? 9 : 4), 1 + r.nextInt(6),
                hidden[r.nextInt(hidden.length)], r.nextBoolean(), r.nextBoolean(), r.nextInt(3) == 0,
                r.nextInt(3) == 0, cell == Cell.GRU || r.nextInt(4) > 0, act, ract, r.nextLong());
    }

    /** y, then the gradients of x, W, U, bias, h0 and c0 (those present), all as doubles. */
    private static List<double[]> run(Case c, boolean sequenceLoop) {
        boolean before = RecurrentSequence.enabled(), library = Recurrent.usesLibraryLstm();
        RecurrentSequence.enable(sequenceLoop);
        Recurrent.useLibraryLstm(false);
        try (Scope s = Scope.open()) {
            long seed = c.seed();
            long gh = c.cell().gates * c.h();
            Tensor x = Tensor.randn(seed, c.n(), c.t(), c.f()).mul(0.8).setRequiresGrad(true);
            Tensor w = Tensor.randn(seed + 1, c.f(), gh).mul(0.4).setRequiresGrad(true);
            Tensor u = Tensor.randn(seed + 2, c.h(), gh).mul(0.4 / Math.sqrt(c.h())).setRequiresGrad(true);
            Tensor b = !c.bias() ? null : (c.cell() == Cell.GRU ? Tensor.randn(seed + 3, 2, gh) : Tensor.randn(seed + 3, gh))
                    .mul(0.2).setRequiresGrad(true);
            Tensor h0 = c.state() ? Tensor.randn(seed + 4, c.n(), c.h()).mul(0.5).setRequiresGrad(true) : null;
            Tensor c0 = c.state() && c.cell() == Cell.LSTM
                    ? Tensor.randn(seed + 5, c.n(), c.h()).mul(0.5).setRequiresGrad(true) : null;
            Tensor mask = c.mask() ? mask(c, seed + 6) : null;
            Tensor drop = c.drop() ? dropout(c, seed + 7) : null;
            Tensor y = Recurrent.run(c.cell(), c.act(), c.ract(), c.back(), false, x, w, u, b, h0, c0, mask, drop);
            y.mul(Tensor.randn(seed + 8, y.shape())).sum().backward();
            List<double[]> out = new ArrayList<>();
            out.add(y.toDoubleArray());
            for (Tensor p : new Tensor[] {x, w, u, b, h0, c0}) if (p != null) out.add(p.grad().toDoubleArray());
            return out;
        } finally {
            RecurrentSequence.enable(before);
            Recurrent.useLibraryLstm(library);
        }
    }

    /** A [N, T] mask with zeros at random steps, some rows all zero. */
    private static Tensor mask(Case c, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] m = new float[(int) (c.n() * c.t())];
        for (int i = 0; i < m.length; i++) m[i] = r.nextInt(4) == 0 ? 0 : 1;
        return Tensor.of(m, c.n(), c.t());
    }

    /** An inverted-dropout multiplier [N, H] at rate 0.3: zeros and 1 / 0.7. */
    private static Tensor dropout(Case c, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] d = new float[(int) (c.n() * c.h())];
        for (int i = 0; i < d.length; i++) d[i] = r.nextInt(10) < 3 ? 0 : (float) (1 / 0.7);
        return Tensor.of(d, c.n(), c.h());
    }

    @Test
    void agreesWithTheStepLoopForEveryCellAndOption() {
        long seed = Long.getLong("soma.rnn.seed", System.nanoTime());
        SplittableRandom r = new SplittableRandom(seed);
        String[] names = {"y", "dx", "dW", "dU", "db", "dh0", "dc0"};
        for (int i = 0; i < 60; i++) {
            Case c = random(r);
            List<double[]> seq = run(c, true), step = run(c, false);
            assertEquals(step.size(), seq.size(), c.toString());
            for (int k = 0; k < seq.size(); k++) {
                double err = Reference.relativeError(seq.get(k), step.get(k));
                assertTrue(err <= Reference.REDUCTION_F32, (k < names.length ? names[k] : "" + k) + " of " + c
                        + ": relative error " + err + " (replay with -Dsoma.rnn.seed=" + seed + ")");
            }
        }
    }

    @Test
    void givesTheSameBitsOnOneThreadAsOnAll() {
        assumeTrue(ComputeThreads.max() > 1, "one CPU only");
        Case[] cases = {
                new Case(Cell.LSTM, 8, 40, 6, 70, true, true, false, true, true, "tanh", "sigmoid", 11),
                new Case(Cell.GRU, 10, 40, 6, 70, true, false, true, false, true, "tanh", "sigmoid", 12),
                new Case(Cell.GRU_RESET_BEFORE, 9, 40, 5, 70, false, true, false, true, true, "tanh", "hard_sigmoid", 13),
                new Case(Cell.SIMPLE, 8, 40, 4, 140, true, false, false, false, true, "relu", "sigmoid", 14)};
        for (Case c : cases) {
            double flops = 2.0 * c.t() * c.n() * c.cell().gates * c.h() * c.h();
            assertTrue(ComputeThreads.forWork(flops) > 1, c + " is large enough for two threads");
            List<double[]> all = run(c, true), one;
            try (ComputeThreads.Limit limit = ComputeThreads.atMost(1)) {
                one = run(c, true);
            }
            for (int k = 0; k < all.size(); k++) assertArrayEquals(one.get(k), all.get(k), c + ", result " + k);
        }
    }

    @Test
    void takesFloat32WithAContiguousRecurrentKernelOnly() {
        try (Scope s = Scope.open()) {
            Tensor x32 = Tensor.zeros(DType.F32, Device.cpu(), 2, 3, 4);
            Tensor u32 = Tensor.zeros(DType.F32, Device.cpu(), 5, 20);
            assertEquals(RecurrentSequence.enabled(), RecurrentSequence.applies(x32, u32));
            assertFalse(RecurrentSequence.applies(x32.to(DType.F64), u32.to(DType.F64)));
            assertFalse(RecurrentSequence.applies(x32, Tensor.zeros(DType.F32, Device.cpu(), 20, 5).transpose(0, 1)));
            assertTrue(Arrays.equals(new long[] {5, 20}, u32.shape()));
        }
    }
}
