package dev.soma.privacy;

import dev.soma.data.ArrayDataset;
import dev.soma.model.Checkpoint;
import dev.soma.model.FitOptions;
import dev.soma.model.History;
import dev.soma.model.Sequential;
import dev.soma.nn.Conv2D;
import dev.soma.nn.Dense;
import dev.soma.nn.Flatten;
import dev.soma.nn.Param;
import dev.soma.optim.SGD;
import dev.soma.ops.GhostNorms;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The ghost-norm DP step against the general per-example path on whole models (the clipped sums agree, with clipping
 * active), the fallback for layers without ghost norms, and the accountant's state across a checkpoint.
 */
@ExtendWith(NoLeaks.class)
class GhostClippingTest {
    private static Sequential cnn() {
        Sequential m = new Sequential(new Conv2D(4, 3, "relu").padding("same").strides(2), new Conv2D(3, 2, "tanh"),
                new Flatten(), new Dense(5, "relu"), new Dense(3, "softmax"));
        m.seed(7);
        m.compile(new SGD(0.1), "sparse_categorical_crossentropy");
        m.build(7, 7, 1);
        return m;
    }

    /** The cnn trained with label smoothing: the loss adds a term over every class, still a batch mean. */
    private static Sequential cnnWithLabelSmoothing() {
        Sequential m = cnn();
        m.compile(new SGD(0.1), dev.soma.model.Loss.withLabelSmoothing("sparse_categorical_crossentropy", 0.1));
        return m;
    }

    /** The cnn with its hidden Dense frozen (left at its initial weights): its gradient is neither clipped nor released. */
    private static Sequential cnnWithFrozenDense() {
        Sequential m = cnn();
        for (Param p : m.layers().get(3).params()) p.setTrainable(false);
        return m;
    }

    /** Dense over a sequence [4, 3]: the per-position product / Gram cases of the linear kernel. */
    private static Sequential sequenceDense() {
        Sequential m = new Sequential(new Dense(6, "relu"), new Flatten(), new Dense(3, "softmax"));
        m.seed(8);
        m.compile(new SGD(0.1), "sparse_categorical_crossentropy");
        m.build(4, 3);
        return m;
    }

    /** Dense -> LayerNormalization -> Dense: LayerNormalization's gamma and beta on the tape. */
    private static Sequential withLayerNorm() {
        Sequential m = new Sequential(new Dense(6, "relu"), new dev.soma.nn.LayerNormalization(), new Flatten(),
                new Dense(3, "softmax"));
        m.seed(9);
        m.compile(new SGD(0.1), "sparse_categorical_crossentropy");
        m.build(4, 3);
        return m;
    }

    /** Embedding of 5 ids (float ids 0..4, repeats within an example) -> Flatten -> Dense. */
    private static Sequential withEmbedding() {
        Sequential m = new Sequential(new dev.soma.nn.Embedding(5, 3), new Flatten(), new Dense(3, "softmax"));
        m.seed(10);
        m.compile(new SGD(0.1), "sparse_categorical_crossentropy");
        m.build(6);
        return m;
    }

    /**
     * TimeDistributed layers over [2, 3, 4]: the inner Dense and LayerNormalization see each example as 2 or 6 rows
     * ([batch * steps, ...]), which the tape must count as one example's.
     */
    private static Sequential timeDistributed() {
        Sequential m = new Sequential(new dev.soma.nn.TimeDistributed(new Dense(5, "tanh")),
                new dev.soma.nn.TimeDistributed(new dev.soma.nn.TimeDistributed(new dev.soma.nn.LayerNormalization())),
                new dev.soma.nn.TimeDistributed(new dev.soma.nn.TimeDistributed(new Dense(2))), new Flatten(),
                new Dense(3, "softmax"));
        m.seed(12);
        m.compile(new SGD(0.1), "sparse_categorical_crossentropy");
        m.build(2, 3, 4);
        return m;
    }

    /** A convolution inside TimeDistributed: no ghost norms for it (its rows are not examples), the general path. */
    private static Sequential timeDistributedConv() {
        Sequential m = new Sequential(new dev.soma.nn.TimeDistributed(new Conv2D(2, 2, "relu")), new Flatten(),
                new Dense(3, "softmax"));
        m.seed(13);
        m.compile(new SGD(0.1), "sparse_categorical_crossentropy");
        m.build(2, 4, 4, 1);
        return m;
    }

    /** A layer without ghost norms (a recurrent one): the whole step takes the general path. */
    private static Sequential withRecurrent() {
        Sequential m = new Sequential(new dev.soma.nn.SimpleRNN(4), new Dense(3, "softmax"));
        m.seed(11);
        m.compile(new SGD(0.1), "sparse_categorical_crossentropy");
        m.build(4, 3);
        return m;
    }

    private static ArrayDataset data(int n, long[] shape, long seed) {
        return data(n, shape, seed, false);
    }

    private static ArrayDataset data(int n, long[] shape, long seed, boolean ids) {
        SplittableRandom r = new SplittableRandom(seed);
        long per = 1;
        for (long s : shape) per *= s;
        float[] x = new float[(int) (n * per)];
        for (int i = 0; i < x.length; i++) x[i] = ids ? r.nextInt(5) : (float) r.nextDouble(-1, 1);
        int[] y = new int[n];
        for (int i = 0; i < n; i++) y[i] = r.nextInt(3);
        return ArrayDataset.withLabels(x, shape, y);
    }

    /** One DP step's gradients (noise 0) through a fresh model; method null: the general path. */
    private static List<float[]> step(Supplier<Sequential> model, ArrayDataset data, double clip, GhostNorms.Method method,
                                      boolean expectGhost, double[][] normsOut) {
        return step(model, data, clip, method, expectGhost, normsOut, Integer.MAX_VALUE);
    }

    /** The same, the ghost path taking at most {@code physicalBatch} examples per forward and backward. */
    private static List<float[]> step(Supplier<Sequential> model, ArrayDataset data, double clip, GhostNorms.Method method,
                                      boolean expectGhost, double[][] normsOut, int physicalBatch) {
        try (Sequential m = model.get()) {
            int n = (int) data.size();
            PrivateStep dp = new PrivateStep(new PrivacySettings(0, clip, 1e-5), n, n, 3, 0).ghostMethod(method)
                    .physicalBatch(physicalBatch);
            List<Tensor> params = new ArrayList<>();
            for (Param p : m.params()) if (p.trainable()) params.add(p.value());
            int[] all = new int[n];
            for (int i = 0; i < n; i++) all[i] = i;
            dp.computeGradients(data, all, params, Device.cpu(), (xs, ys) -> m.compiledLoss(xs.get(0), ys.get(0), true));
            assertEquals(expectGhost, dp.lastStepUsedGhostNorms(), "ghost path taken");
            if (normsOut != null) normsOut[0] = dp.lastGhostNorms();
            List<float[]> grads = new ArrayList<>();
            for (Tensor p : params) {
                grads.add(p.grad().toFloatArray());
                p.zeroGrad();
            }
            return grads;
        }
    }

    private static void assertClose(List<float[]> expected, List<float[]> actual, String what) {
        assertEquals(expected.size(), actual.size());
        for (int i = 0; i < expected.size(); i++) {
            float[] e = expected.get(i), a = actual.get(i);
            for (int j = 0; j < e.length; j++) {
                assertEquals(e[j], a[j], 2e-5 + 1e-4 * Math.abs(e[j]), what + " param " + i + " [" + j + "]");
            }
        }
    }

    private static void ghostEqualsGeneral(Supplier<Sequential> model, long[] shape) {
        ghostEqualsGeneral(model, shape, false);
    }

    private static void ghostEqualsGeneral(Supplier<Sequential> model, long[] shape, boolean ids) {
        for (int n : new int[] {1, 2, 6}) {
            ArrayDataset data = data(n, shape, 10 + n, ids);
            double[][] norms = new double[1][];
            step(model, data, 1e9, GhostNorms.Method.AUTO, true, norms);
            double[] sorted = norms[0].clone();
            Arrays.sort(sorted);
            // A bound between the norms: some examples are clipped, some not (with one example: it is clipped).
            double clip = n == 1 ? sorted[0] / 2 : sorted[n / 2];
            assertTrue(clip > 0);
            List<float[]> general = step(model, data, clip, null, false, null);
            for (GhostNorms.Method m : GhostNorms.Method.values()) {
                assertClose(general, step(model, data, clip, m, true, null), "batch " + n + " " + m);
            }
        }
    }

    @Test
    void ghostStepEqualsTheGeneralPathOnAConvNet() {
        ghostEqualsGeneral(GhostClippingTest::cnn, new long[] {7, 7, 1});
    }

    @Test
    void ghostStepEqualsTheGeneralPathWithLabelSmoothing() {
        ghostEqualsGeneral(GhostClippingTest::cnnWithLabelSmoothing, new long[] {7, 7, 1});
    }

    /** A sample taken in physical batches (2 + 2 + 2, and 4 + 3) gives the clipped sum and norms of one pass. */
    @Test
    void physicalBatchesGiveTheSumOfOnePass() {
        for (int part : new int[] {2, 4}) {
            ArrayDataset data = data(part == 2 ? 6 : 7, new long[] {7, 7, 1}, 21);
            double[][] whole = new double[1][], parts = new double[1][];
            List<float[]> one = step(GhostClippingTest::cnn, data, 1e9, GhostNorms.Method.AUTO, true, whole);
            double clip = whole[0][whole[0].length / 2]; // clipping active for some examples
            one = step(GhostClippingTest::cnn, data, clip, GhostNorms.Method.AUTO, true, whole);
            List<float[]> inParts = step(GhostClippingTest::cnn, data, clip, GhostNorms.Method.AUTO, true, parts, part);
            assertClose(one, inParts, "physical batch " + part);
            // f32, and another batch size can take other kernel blocking: agreement to f32 rounding, not bit for bit
            assertArrayEquals(whole[0], parts[0], 1e-5 * Arrays.stream(whole[0]).max().orElse(1));
        }
        assertThrows(IllegalArgumentException.class,
                () -> new PrivateStep(new PrivacySettings(1, 1, 1e-5), 10, 5, 1, 0).physicalBatch(0));
    }

    @Test
    void aFrozenLayerAddsNothingToTheGhostNorms() {
        ghostEqualsGeneral(GhostClippingTest::cnnWithFrozenDense, new long[] {7, 7, 1});
        // and the norms do differ from the unfrozen model's (the frozen Dense's share is left out)
        ArrayDataset data = data(4, new long[] {7, 7, 1}, 21);
        double[][] frozen = new double[1][];
        double[][] whole = new double[1][];
        step(GhostClippingTest::cnnWithFrozenDense, data, 1e9, GhostNorms.Method.AUTO, true, frozen);
        step(GhostClippingTest::cnn, data, 1e9, GhostNorms.Method.AUTO, true, whole);
        for (int i = 0; i < 4; i++) assertTrue(frozen[0][i] < whole[0][i], "example " + i);
    }

    @Test
    void ghostStepEqualsTheGeneralPathForDenseOverSequences() {
        ghostEqualsGeneral(GhostClippingTest::sequenceDense, new long[] {4, 3});
    }

    @Test
    void ghostStepEqualsTheGeneralPathWithLayerNormalization() {
        ghostEqualsGeneral(GhostClippingTest::withLayerNorm, new long[] {4, 3});
    }

    @Test
    void ghostStepEqualsTheGeneralPathWithAnEmbedding() {
        ghostEqualsGeneral(GhostClippingTest::withEmbedding, new long[] {6}, true);
    }

    /** Batches of one had the norm of one row (too little clipping), larger ones refused with a shape error. */
    @Test
    void ghostStepEqualsTheGeneralPathInsideTimeDistributed() {
        ghostEqualsGeneral(GhostClippingTest::timeDistributed, new long[] {2, 3, 4});
    }

    @Test
    void aConvolutionInsideTimeDistributedTakesTheGeneralPath() {
        ArrayDataset data = data(3, new long[] {2, 4, 4, 1}, 6);
        List<float[]> a = step(GhostClippingTest::timeDistributedConv, data, 0.05, GhostNorms.Method.AUTO, false, null);
        List<float[]> b = step(GhostClippingTest::timeDistributedConv, data, 0.05, null, false, null);
        assertClose(b, a, "fallback");
    }

    @Test
    void aModelWithOtherLayersTakesTheGeneralPath() {
        ArrayDataset data = data(4, new long[] {4, 3}, 5);
        List<float[]> a = step(GhostClippingTest::withRecurrent, data, 0.5, GhostNorms.Method.AUTO, false, null);
        List<float[]> b = step(GhostClippingTest::withRecurrent, data, 0.5, null, false, null);
        assertClose(b, a, "fallback");
    }

    @Test
    void aResumedRunContinuesTheAccountantsEpsilonSequence(@TempDir Path dir) throws Exception {
        ArrayDataset data = data(40, new long[] {4, 3}, 6);
        Path file = dir.resolve("dp.safetensors");
        double delta = 1e-5;
        try (Sequential m = sequenceDense()) {
            m.fit(data, new FitOptions().batchSize(8).epochs(2).verbose(0).privacy(1.1, 1.0, delta));
            Checkpoint.save(m, file);
        }
        History h;
        try (Sequential m = sequenceDense()) {
            // The third epoch runs with a different noise: only the saved state gives the right total.
            h = m.fit(data, new FitOptions().batchSize(8).epochs(3).verbose(0).privacy(2.0, 1.0, delta).resumeFrom(file));
        }
        double[] eps = h.arrays().get("epsilon");
        RdpAccountant expected = new RdpAccountant();
        expected.step(0.2, 1.1, 10);   // 2 epochs of 5 steps at q = 8 / 40
        expected.step(0.2, 2.0, 5);
        assertEquals(expected.epsilon(delta), eps[eps.length - 1], 1e-12, "epsilon after the resumed epoch");
        RdpAccountant reaccounted = new RdpAccountant();
        reaccounted.step(0.2, 2.0, 15);
        assertNotEquals(reaccounted.epsilon(delta), eps[eps.length - 1], 1e-6);
    }

    @Test
    void restoredAccountantRefusesBadState() {
        assertThrows(IllegalArgumentException.class, () -> RdpAccountant.restored(new double[] {2, 3}, new double[] {1}));
        assertThrows(IllegalArgumentException.class, () -> RdpAccountant.restored(new double[] {2}, new double[] {-1}));
        RdpAccountant a = new RdpAccountant();
        a.step(0.01, 1.1, 100);
        RdpAccountant b = RdpAccountant.restored(a.orders(), a.rdp());
        assertEquals(a.epsilon(1e-5), b.epsilon(1e-5), 0);
    }
}
