package dev.soma.ops;

import dev.soma.backend.RecurrentKernels.Cell;
import dev.soma.backend.dnnl.DnnlLstm;
import dev.soma.memory.Scope;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.Reference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import static org.junit.jupiter.api.Assertions.*;

/** oneDNN's LSTM primitive (the plain f32 case) against our fused kernels: outputs and all four gradients. */
@ExtendWith(NoLeaks.class)
class LibraryLstmTest {
    private static double[][] run(boolean library, long n, long t, long f, long h, boolean training) {
        boolean before = Recurrent.usesLibraryLstm();
        Recurrent.useLibraryLstm(library);
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.randn(1, n, t, f).mul(0.7).setRequiresGrad(training);
            Tensor w = Tensor.randn(2, f, 4 * h).mul(0.3).setRequiresGrad(training);
            Tensor u = Tensor.randn(3, h, 4 * h).mul(0.3).setRequiresGrad(training);
            Tensor b = Tensor.randn(4, 4 * h).mul(0.2).setRequiresGrad(training);
            Tensor y = Recurrent.run(Cell.LSTM, "tanh", "sigmoid", false, false, x, w, u, b, null, null, null);
            double[] out = y.toDoubleArray();
            if (!training) return new double[][] {out};
            // A weighted sum, so every output gets its own gradient.
            y.mul(Tensor.randn(5, n, t, h)).sum().backward();
            return new double[][] {out, x.grad().toDoubleArray(), w.grad().toDoubleArray(), u.grad().toDoubleArray(),
                    b.grad().toDoubleArray()};
        } finally {
            Recurrent.useLibraryLstm(before);
        }
    }

    @Test
    void matchesOurKernelsForwardAndBackward() {
        long[][] shapes = {{3, 7, 5, 4}, {32, 20, 16, 32}, {2, 2, 3, 2}};
        String[] names = {"y", "dx", "dw", "du", "db"};
        for (long[] s : shapes) {
            long builds = DnnlLstm.cache().stats().builds();
            double[][] lib = run(true, s[0], s[1], s[2], s[3], true);
            assertTrue(DnnlLstm.cache().stats().builds() > builds || DnnlLstm.cache().stats().hits() > 0,
                    "the library path ran");
            double[][] ours = run(false, s[0], s[1], s[2], s[3], true);
            for (int i = 0; i < names.length; i++) {
                double err = Reference.relativeError(lib[i], ours[i]);
                assertTrue(err <= Reference.REDUCTION_F32, names[i] + " of " + java.util.Arrays.toString(s) + ": relative error " + err);
            }
            // Inference (no gradients): the forward-inference primitive.
            Reference.assertClose(run(true, s[0], s[1], s[2], s[3], false)[0], ours[0], Reference.REDUCTION_F32);
        }
    }

    @Test
    void twoLanesMatchOneLaneAndOurKernels() {
        // Even batches whose steps are small run as two half-batch lanes (DnnlLstm.inLanes), on two threads where the
        // process has them, and add the lanes' weight gradients at the end; an odd batch stays one lane.
        long[][] shapes = {{32, 20, 16, 32}, {6, 9, 5, 4}, {2, 2, 3, 2}, {3, 7, 5, 4}};
        String[] names = {"y", "dx", "dw", "du", "db"};
        for (long[] s : shapes) {
            boolean split = DnnlLstm.inLanes(new DnnlLstm.Geometry(s[1], s[0], s[2], s[3]));
            assertEquals(s[0] % 2 == 0 && dev.soma.backend.ComputeThreads.max() >= 2, split, java.util.Arrays.toString(s));
            long lanes0 = DnnlLstm.laneRuns();
            double[][] two = run(true, s[0], s[1], s[2], s[3], true);
            assertEquals(split ? 2 : 0, DnnlLstm.laneRuns() - lanes0, "forward and backward ran as lanes");
            DnnlLstm.useLanes(false);
            double[][] one;
            try {
                one = run(true, s[0], s[1], s[2], s[3], true);
            } finally {
                DnnlLstm.useLanes(true);
            }
            double[][] ours = run(false, s[0], s[1], s[2], s[3], true);
            for (int i = 0; i < names.length; i++) {
                double err = Reference.relativeError(two[i], ours[i]);
                assertTrue(err <= Reference.REDUCTION_F32, names[i] + " of " + java.util.Arrays.toString(s) + ": relative error " + err);
                // Every example's recurrence is the same arithmetic in a lane (a batch of one may take another
                // product kernel: last bits), and the weight gradients add two partial sums.
                double lanesVsOne = Reference.relativeError(two[i], one[i]);
                assertTrue(lanesVsOne <= 1e-6, names[i] + " of " + java.util.Arrays.toString(s) + ": lanes against one lane " + lanesVsOne);
            }
            long inference0 = DnnlLstm.laneRuns();
            Reference.assertClose(run(true, s[0], s[1], s[2], s[3], false)[0], ours[0], Reference.REDUCTION_F32);
            assertEquals(split ? 1 : 0, DnnlLstm.laneRuns() - inference0, "the inference forward ran as lanes");
        }
    }

    @Test
    void casesItDoesNotCoverStayOnOurKernels() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.randn(1, 2, 3, 4);
            Tensor w = Tensor.randn(2, 4, 8);
            Tensor u = Tensor.randn(3, 2, 8);
            Tensor b = Tensor.randn(4, 8);
            long before = DnnlLstm.cache().stats().hits() + DnnlLstm.cache().stats().builds();
            Recurrent.run(Cell.LSTM, "tanh", "sigmoid", true, false, x, w, u, b, null, null, null);  // go_backwards
            Recurrent.run(Cell.LSTM, "relu", "sigmoid", false, false, x, w, u, b, null, null, null);
            Recurrent.run(Cell.LSTM, "tanh", "sigmoid", false, false, x, w, u, null, null, null, null);  // no bias
            // A batch of one, and a single step (see LibraryLstm.applies).
            Recurrent.run(Cell.LSTM, "tanh", "sigmoid", false, false, x.slice(0, 0, 1, 1), w, u, b, null, null, null);
            Recurrent.run(Cell.LSTM, "tanh", "sigmoid", false, false, x.slice(1, 0, 1, 1), w, u, b, null, null, null);
            Recurrent.run(Cell.LSTM, "tanh", "sigmoid", false, false, x, w, u, b, null, null, Tensor.ones(2, 3));
            Recurrent.run(Cell.LSTM, "tanh", "sigmoid", false, false, x.to(dev.soma.tensor.DType.F64),
                    w.to(dev.soma.tensor.DType.F64), u.to(dev.soma.tensor.DType.F64), b.to(dev.soma.tensor.DType.F64),
                    null, null, null);
            assertEquals(before, DnnlLstm.cache().stats().hits() + DnnlLstm.cache().stats().builds());
        }
    }
}
