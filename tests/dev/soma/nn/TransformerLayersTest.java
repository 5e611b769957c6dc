package dev.soma.nn;

import dev.soma.autograd.Gradcheck;
import dev.soma.data.ArrayDataset;
import dev.soma.data.Batch;
import dev.soma.errors.DTypeException;
import dev.soma.errors.ShapeException;
import dev.soma.errors.SomaException;
import dev.soma.memory.Scope;
import dev.soma.model.Sequential;
import dev.soma.ops.Creation;
import dev.soma.ops.Embeddings;
import dev.soma.ops.Normalization;
import dev.soma.optim.Adam;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.Reference;
import dev.soma.zoo.TransformerModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.*;

/** LayerNormalization, embeddings, MultiHeadAttention and the Transformer block: references, gradients, misuse. */
@ExtendWith(NoLeaks.class)
class TransformerLayersTest {
    private static Tensor randn(long seed, DType dtype, long... shape) {
        return Creation.randn(seed, dtype, Device.cpu(), shape);
    }

    /** Gradients of every parameter of a layer (f64), through f. */
    private static void gradcheckParams(String what, Layer layer, java.util.function.Supplier<Tensor> f) {
        Tensor[] ps = layer.params().stream().filter(Param::trainable).map(Param::value).toArray(Tensor[]::new);
        Gradcheck.assertGradients(what, xs -> f.get(), ps);
    }

    // ------------------------------------------------------------------ layer norm

    @Test
    void layerNormMatchesAPlainLoopAndItsGradients() {
        try (Scope s = Scope.open()) {
            Tensor x = randn(1, DType.F32, 3, 4, 10).mul(3).add(2);
            Tensor g = randn(2, DType.F32, 10);
            Tensor b = randn(3, DType.F32, 10);
            double[] xv = x.toDoubleArray(), gv = g.toDoubleArray(), bv = b.toDoubleArray();
            double[] ref = new double[xv.length];
            for (int r = 0; r < 12; r++) {
                double m = 0, v = 0;
                for (int c = 0; c < 10; c++) m += xv[r * 10 + c] / 10;
                for (int c = 0; c < 10; c++) v += Math.pow(xv[r * 10 + c] - m, 2) / 10;
                for (int c = 0; c < 10; c++) ref[r * 10 + c] = (xv[r * 10 + c] - m) / Math.sqrt(v + 1e-3) * gv[c] + bv[c];
            }
            Reference.assertClose(Normalization.layerNorm(x, g, b, 1e-3).toDoubleArray(), ref, Reference.ELEMENTWISE_F32);
            Tensor x64 = randn(4, DType.F64, 2, 3, 5);
            Tensor g64 = randn(5, DType.F64, 5);
            Tensor b64 = randn(6, DType.F64, 5);
            Gradcheck.assertGradients("layerNorm", xs -> Normalization.layerNorm(xs[0], xs[1], xs[2], 1e-3), x64, g64, b64);
            Gradcheck.assertGradients("layerNorm no affine, transposed input",
                    xs -> Normalization.layerNorm(xs[0].transpose(0, 2), null, null, 1e-5), x64);
            Gradcheck.assertGradients("layerNorm scale only", xs -> Normalization.layerNorm(xs[0], xs[1], null, 1e-3), x64, g64);
        }
    }

    /**
     * Over a single feature the output is beta whatever x is, so x's gradient is exactly 0. With eps = 1e-12 (BERT's)
     * rstd is 1e6, and the backward once returned its rounding error times that (0.04 here): it fused gamma * gy
     * into "- mean(gamma * gy)" as one FMA, whose unrounded product no longer cancelled the mean.
     */
    @Test
    void layerNormOverOneFeatureHasZeroInputGradient() {
        try (Scope s = Scope.open()) {
            for (DType dtype : new DType[] {DType.F32, DType.F64}) {
                Tensor x = randn(7, dtype, 16, 1).setRequiresGrad(true);
                Tensor gamma = randn(8, dtype, 1);
                Tensor gy = randn(9, dtype, 16, 1);
                Normalization.layerNorm(x, gamma, randn(10, dtype, 1), 1e-12).mul(gy).sum().backward();
                for (double v : x.grad().toDoubleArray()) assertEquals(0.0, v, dtype + ": " + java.util.Arrays.toString(x.grad().toDoubleArray()));
            }
        }
    }

    @Test
    void layerNormRejectsBadArguments() {
        try (Scope s = Scope.open()) {
            Tensor x = randn(1, DType.F32, 2, 5);
            ShapeException e = assertThrows(ShapeException.class, () -> Normalization.layerNorm(x, Tensor.ones(4), null, 1e-3));
            assertTrue(e.getMessage().contains("layerNorm") && e.getMessage().contains("[4]"), e.getMessage());
            assertThrows(DTypeException.class, () -> Normalization.layerNorm(x, Tensor.ones(DType.F64, Device.cpu(), 5), null, 1e-3));
            assertThrows(SomaException.class, () -> Normalization.layerNorm(x, null, null, 0));
            assertThrows(DTypeException.class, () -> Normalization.layerNorm(Tensor.ofInts(new int[] {1, 2}), null, null, 1e-3));
            assertThrows(ShapeException.class, () -> Normalization.layerNorm(Tensor.scalar(1), null, null, 1e-3));
        }
    }

    @Test
    void layerNormalizationLayerHasKerasDefaults() {
        try (Scope s = Scope.open(); LayerNormalization ln = new LayerNormalization()) {
            ln.build(new long[] {3, 4}, DType.F64, new SplittableRandom(1));
            assertEquals(8, ln.paramCount());
            assertEquals(1e-3, (double) ln.config().get("epsilon"));
            Tensor x = randn(2, DType.F64, 2, 3, 4);
            Tensor y = ln.apply(x, true);
            double[] mean = y.mean(new int[] {2}, false).toDoubleArray();
            for (double m : mean) assertEquals(0, m, 1e-12);
            gradcheckParams("layer_normalization params", ln, () -> ln.apply(x, true));
        }
    }

    // ------------------------------------------------------------------ embeddings

    @Test
    void embeddingGathersRowsAndScatterAddsGradients() {
        try (Scope s = Scope.open()) {
            Tensor table = randn(1, DType.F64, 6, 3);
            Tensor ids = Tensor.ofInts(new int[] {5, 0, 5, 2, 2, 2}, 2, 3);
            Tensor out = Embeddings.embedding(ids, table);
            assertArrayEquals(new long[] {2, 3, 3}, out.shape());
            double[] t = table.toDoubleArray(), o = out.toDoubleArray();
            int[] idv = {5, 0, 5, 2, 2, 2};
            for (int i = 0; i < 6; i++) for (int c = 0; c < 3; c++) assertEquals(t[idv[i] * 3 + c], o[i * 3 + c]);
            Gradcheck.assertGradients("embedding", xs -> Embeddings.embedding(ids, xs[0]), table);
            ShapeException e = assertThrows(ShapeException.class, () -> Embeddings.embedding(Tensor.ofInts(new int[] {6}), table));
            assertTrue(e.getMessage().contains("embedding") && e.getMessage().contains("6"), e.getMessage());
            assertThrows(ShapeException.class, () -> Embeddings.embedding(Tensor.ofInts(new int[] {-1}), table));
            assertThrows(DTypeException.class, () -> Embeddings.embedding(Tensor.of(new float[] {1}), table));
            assertThrows(ShapeException.class, () -> Embeddings.embedding(ids, randn(2, DType.F64, 6)));
        }
    }

    @Test
    void tokenAndPositionEmbeddingLearnedAndSinusoidal() {
        try (Scope s = Scope.open();
             TokenAndPositionEmbedding learned = new TokenAndPositionEmbedding(7, 5, 4);
             TokenAndPositionEmbedding sin = new TokenAndPositionEmbedding(7, 5, 4, true)) {
            learned.build(new long[] {3}, DType.F64, new SplittableRandom(1));
            sin.build(new long[] {3}, DType.F64, new SplittableRandom(1));
            assertEquals(7 * 4 + 5 * 4, learned.paramCount());
            assertFalse(sin.params().get(1).trainable(), "the sinusoidal table is fixed");
            Tensor ids = Tensor.of(new float[] {1, 2, 3, 6, 0, 1}, 2, 3);
            double[] pe = sin.apply(ids, false).sub(Embeddings.embedding(ids.to(DType.I32), sin.tokenEmbedding())).toDoubleArray();
            // position 2, feature 3: cos(2 / 10000^(2/4))
            assertEquals(Math.cos(2 / 100.0), pe[2 * 4 + 3], 1e-12);
            assertEquals(Math.sin(1.0), pe[4], 1e-12);
            gradcheckParams("token_and_position_embedding", learned, () -> learned.apply(ids, true));
            assertThrows(ShapeException.class, () -> learned.apply(Tensor.zeros(2, 4), false));
        }
    }

    // ------------------------------------------------------------------ multi-head attention

    /** Plain loops: projections, per-head softmax attention (optional causal), concatenation, output projection. */
    private static double[] mhaReference(double[] x, int b, int t, int f, int heads, int dk, double[][] w, boolean causal) {
        int hk = heads * dk;
        double[][] proj = new double[3][b * t * hk];
        for (int p = 0; p < 3; p++)
            for (int r = 0; r < b * t; r++)
                for (int o = 0; o < hk; o++) {
                    double acc = w[2 * p + 1][o];
                    for (int i = 0; i < f; i++) acc += x[r * f + i] * w[2 * p][i * hk + o];
                    proj[p][r * hk + o] = acc;
                }
        double[] merged = new double[b * t * hk];
        for (int bi = 0; bi < b; bi++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < t; i++) {
                    double[] sc = new double[t];
                    double m = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < t; j++) {
                        double d = 0;
                        for (int e = 0; e < dk; e++) d += proj[0][(bi * t + i) * hk + h * dk + e] * proj[1][(bi * t + j) * hk + h * dk + e];
                        sc[j] = causal && j > i ? Double.NEGATIVE_INFINITY : d / Math.sqrt(dk);
                        m = Math.max(m, sc[j]);
                    }
                    double z = 0;
                    for (int j = 0; j < t; j++) z += Math.exp(sc[j] - m);
                    for (int e = 0; e < dk; e++) {
                        double acc = 0;
                        for (int j = 0; j < t; j++) acc += Math.exp(sc[j] - m) / z * proj[2][(bi * t + j) * hk + h * dk + e];
                        merged[(bi * t + i) * hk + h * dk + e] = acc;
                    }
                }
        double[] out = new double[b * t * f];
        for (int r = 0; r < b * t; r++)
            for (int o = 0; o < f; o++) {
                double acc = w[7][o];
                for (int i = 0; i < hk; i++) acc += merged[r * hk + i] * w[6][i * f + o];
                out[r * f + o] = acc;
            }
        return out;
    }

    @Test
    void multiHeadSelfAttentionMatchesPlainLoops() {
        for (boolean causal : new boolean[] {false, true}) {
            try (Scope s = Scope.open(); MultiHeadAttention mha = new MultiHeadAttention(2, 3).useCausalMask(causal)) {
                mha.build(new long[] {5, 4}, DType.F64, new SplittableRandom(3));
                List<Param> ps = mha.params();
                assertEquals(8, ps.size());
                // non-zero biases, so that they are checked too
                double[][] w = new double[8][];
                for (int i = 0; i < 8; i++) {
                    Tensor p = ps.get(i).value();
                    if (i % 2 == 1) {
                        double[] v = randn(10 + i, DType.F64, p.shape()).toDoubleArray();
                        p.backend().memory().write(p, v);
                    }
                    w[i] = p.toDoubleArray();
                }
                Tensor x = randn(1, DType.F64, 2, 5, 4);
                double[] ref = mhaReference(x.toDoubleArray(), 2, 5, 4, 2, 3, w, causal);
                Reference.assertClose(mha.apply(x, false).toDoubleArray(), ref, 1e-12);
            }
        }
    }

    @Test
    void multiHeadAttentionGradientsForInputsAndWeightsWithMasksAndCrossAttention() {
        try (Scope s = Scope.open(); MultiHeadAttention mha = new MultiHeadAttention(2, 3, 2).outputDim(5)) {
            Tensor q = randn(1, DType.F64, 2, 4, 3);
            Tensor v = randn(2, DType.F64, 2, 6, 5);
            Tensor k = randn(3, DType.F64, 2, 6, 2);
            mha.build(new long[] {4, 3}, DType.F64, new SplittableRandom(1));
            assertThrows(ShapeException.class, () -> mha.call(q, v, k, null, false, false), "key features differ from the built ones");
        }
        try (Scope s = Scope.open(); MultiHeadAttention mha = new MultiHeadAttention(2, 3, 2).outputDim(5)) {
            Tensor q = randn(1, DType.F64, 2, 4, 3);
            Tensor v = randn(2, DType.F64, 2, 6, 5);
            Tensor k = randn(3, DType.F64, 2, 6, 2);
            Tensor mask = Tensor.ofInts(new int[] {1, 1, 1, 1, 0, 0, 1, 0, 1, 1, 1, 1}, 2, 6);
            Tensor out = mha.call(q, v, k, mask, false, false);
            assertArrayEquals(new long[] {2, 4, 5}, out.shape());
            Gradcheck.assertGradients("mha inputs", xs -> mha.call(xs[0], xs[1], xs[2], mask, false, false), q, v, k);
            gradcheckParams("mha weights", mha, () -> mha.call(q, v, k, mask, true, false));
            Tensor self = randn(4, DType.F64, 2, 4, 3);
            assertThrows(ShapeException.class, () -> mha.call(self, randn(5, DType.F64, 3, 6, 5), k, null, false, false));
        }
    }

    @Test
    void multiHeadAttentionReturnsScoresAndAppliesDropoutOnlyInTraining() {
        try (Scope s = Scope.open(); MultiHeadAttention mha = new MultiHeadAttention(2, 4).dropout(0.5)) {
            Tensor x = randn(1, DType.F32, 2, 7, 8);
            var r = mha.callWithScores(x, x, null, null, true, false);
            assertArrayEquals(new long[] {2, 2, 7, 7}, r.weights().shape());
            float[] w = r.weights().toFloatArray();
            for (int i = 0; i < 7; i++) for (int j = i + 1; j < 7; j++) assertEquals(0f, w[i * 7 + j], "causal weights");
            double[] eval1 = mha.call(x, x, x, null, false, false).toDoubleArray();
            double[] eval2 = mha.apply(x, false).toDoubleArray();
            Reference.assertClose(eval1, eval2, 1e-6);
            double[] train1 = mha.apply(x, true).toDoubleArray();
            double[] train2 = mha.apply(x, true).toDoubleArray();
            assertTrue(Reference.relativeError(train1, eval1) > 1e-3, "dropout changes the training output");
            assertTrue(Reference.relativeError(train1, train2) > 1e-3, "each call draws a new dropout mask");
        }
    }

    // ------------------------------------------------------------------ transformer block

    @Test
    void transformerEncoderGradientsAndUniqueParameterNames() {
        for (boolean causal : new boolean[] {false, true}) {
            try (Scope s = Scope.open(); TransformerEncoder block = new TransformerEncoder(2, 6, 0.0, causal)) {
                block.build(new long[] {3, 4}, DType.F64, new SplittableRandom(5));
                Set<String> names = new HashSet<>();
                for (Param p : block.params()) assertTrue(names.add(p.name().substring(p.name().indexOf('/') + 1)), p.name());
                assertEquals(2 * 4 + (4 * 4 + 4) * 4 + 2 * 4 + (4 * 6 + 6) + (6 * 4 + 4), block.paramCount());
                Tensor x = randn(1, DType.F64, 2, 3, 4);
                Gradcheck.assertGradients("transformer block input", xs -> block.apply(xs[0], true), x);
                gradcheckParams("transformer block weights", block, () -> block.apply(x, true));
            }
        }
        try (Scope s = Scope.open(); TransformerEncoder block = new TransformerEncoder(2, 6, 0.0)) {
            Tensor x = randn(1, DType.F64, 2, 3, 4);
            Tensor mask = Tensor.ofInts(new int[] {1, 1, 0, 1, 0, 0}, 2, 3);
            Gradcheck.assertGradients("transformer block with padding mask", xs -> block.call(xs[0], mask, false), x);
            assertThrows(ShapeException.class, () -> block.apply(randn(2, DType.F64, 2, 3, 5), false));
        }
        assertThrows(ShapeException.class, () -> new TransformerEncoder(3, 6, 0).computeOutputShape(new long[] {3, 4}));
    }

    @Test
    void causalBlockOutputsDoNotDependOnTheFuture() {
        try (Scope s = Scope.open(); TransformerEncoder block = new TransformerEncoder(2, 8, 0.0, true)) {
            Tensor x = randn(1, DType.F64, 1, 6, 4);
            double[] a = block.apply(x, false).toDoubleArray();
            double[] xv = x.toDoubleArray();
            for (int i = 16; i < 24; i++) xv[i] += 1.0;  // change steps 4 and 5
            double[] b = block.apply(Tensor.of(xv, 1, 6, 4), false).toDoubleArray();
            for (int i = 0; i < 16; i++) assertEquals(a[i], b[i], 1e-12, "step " + i / 4 + " saw the future");
            assertNotEquals(a[20], b[20]);
        }
    }

    @Test
    void sequentialModelsTrain() {
        // A decoder-only LM memorises a short repeating sequence; an encoder classifier and the bench model fit.
        int vocab = 5, t = 8, n = 16;
        float[] ids = new float[n * t];
        int[] next = new int[n * t];
        for (int i = 0; i < n; i++) for (int j = 0; j < t; j++) {
            ids[i * t + j] = (i + j) % vocab;
            next[i * t + j] = (i + j + 1) % vocab;
        }
        try (Sequential lm = TransformerModels.decoderLanguageModel(vocab, t, 16, 2, 32, 2, 0.0, false)) {
            lm.seed(3).compile(new Adam(1e-2), "sparse_categorical_crossentropy");
            lm.build(t);
            double first = 0, last = 0;
            for (int step = 0; step < 60; step++) {
                try (Scope s = Scope.open()) {
                    Tensor h = Tensor.of(ids, n, t);
                    for (Layer l : lm.layers()) h = l.apply(h, true);
                    assertArrayEquals(new long[] {n, t, vocab}, h.shape());
                    Tensor loss = dev.soma.ops.Losses.sparseCategoricalCrossEntropy(h.reshape(n * t, vocab),
                            Tensor.ofInts(next, n * t));
                    for (Tensor p : lm.trainableTensors()) p.zeroGrad();
                    loss.backward();
                    lm.optimizer().step(lm.trainableTensors());
                    if (step == 0) first = loss.item();
                    last = loss.item();
                }
            }
            assertTrue(last < 0.2 * first, "loss " + first + " -> " + last);
        }
        try (Sequential attn = TransformerModels.attnBench()) {
            SplittableRandom r = new SplittableRandom(1);
            float[] x = new float[8 * 100 * 64];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            int[] y = new int[8];
            for (int i = 0; i < 8; i++) y[i] = r.nextInt(10);
            Batch b = ArrayDataset.withLabels(x, new long[] {100, 64}, y).gather(IntStream.range(0, 8).toArray());
            attn.seed(1).compile(new Adam(1e-3), "sparse_categorical_crossentropy");
            double first = attn.trainStep(b);
            double last = first;
            for (int i = 0; i < 30; i++) last = attn.trainStep(b);
            assertTrue(last < first, first + " -> " + last);
            assertEquals(3 * (64 * 64 + 64) + 64 * 10 + 10, attn.paramCount());
        }
    }

    @Test
    void transformerClassifierCheckpointRoundTrip(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        java.nio.file.Path file = dir.resolve("encoder.safetensors");
        float[] ids = new float[4 * 6];
        for (int i = 0; i < ids.length; i++) ids[i] = (i * 7) % 11;
        double[] before;
        try (Sequential m = TransformerModels.encoderClassifier(11, 6, 8, 2, 16, 2, 0.1, 3)) {
            m.seed(2).compile(new Adam(1e-3), "sparse_categorical_crossentropy");
            m.build(6);
            try (Scope s = Scope.open()) {
                m.trainStep(ArrayDataset.withLabels(ids, new long[] {6}, new int[] {0, 1, 2, 1}).gather(new int[] {0, 1, 2, 3}));
                before = m.call(Tensor.of(ids, 4, 6)).toDoubleArray();
            }
            m.save(file);
        }
        try (Sequential loaded = Sequential.load(file); Scope s = Scope.open()) {
            Reference.assertClose(loaded.call(Tensor.of(ids, 4, 6)).toDoubleArray(), before, 1e-7);
        }
    }
}
