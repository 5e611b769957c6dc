package dev.soma.nn;

import dev.soma.autograd.Gradcheck;
import dev.soma.errors.ShapeException;
import dev.soma.memory.Scope;
import dev.soma.model.Sequential;
import dev.soma.ops.Creation;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.Reference;
import dev.soma.zoo.ReferenceModels;
import dev.soma.zoo.TransformerModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Padding masks from TokenAndPositionEmbedding(mask_zero) through MultiHeadAttention, TransformerEncoder and
 * LayerNormalization into the masked mean of GlobalAveragePooling1D: padding at the end must not change a
 * classifier's output.
 */
@ExtendWith(NoLeaks.class)
class TransformerMaskingTest {
    private static Tensor randn(long seed, DType dtype, long... shape) {
        return Creation.randn(seed, dtype, Device.cpu(), shape);
    }

    /** Rows {@code [b, 0:len)} of a [B, T, F] array as a [1, len, F] tensor. */
    private static Tensor head(double[] x, int b, int t, int f, int len) {
        return Tensor.of(Arrays.copyOfRange(x, b * t * f, (b * t + len) * f), 1, len, f);
    }

    private static Tensor[] trainable(Layer layer) {
        return layer.params().stream().filter(Param::trainable).map(Param::value).toArray(Tensor[]::new);
    }

    // ------------------------------------------------------------------ embedding

    @Test
    void maskZeroMasksIdZeroAndRoundTripsItsConfig() {
        try (Scope s = Scope.open(); TokenAndPositionEmbedding masked = new TokenAndPositionEmbedding(9, 5, 4, false, true);
             TokenAndPositionEmbedding plain = new TokenAndPositionEmbedding(9, 5, 4)) {
            masked.build(new long[] {4}, DType.F32, new SplittableRandom(1));
            plain.build(new long[] {4}, DType.F32, new SplittableRandom(1));
            Tensor ids = Tensor.of(new float[] {3, 1, 0, 0, 0, 0, 0, 0, 0, 8, 0, 2}, 3, 4);
            Tensor mask = masked.computeMask(ids, null);
            assertEquals(DType.F32, mask.dtype());
            assertArrayEquals(new long[] {3, 4}, mask.shape());
            assertArrayEquals(new float[] {1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1}, mask.toFloatArray());
            assertArrayEquals(mask.toFloatArray(), masked.computeMask(ids.to(DType.I32), null).toFloatArray(), "int32 ids");
            assertNull(plain.computeMask(ids, null), "without mask_zero there is no mask");
            // The mask does not change the embedding itself.
            assertArrayEquals(new long[] {3, 4, 4}, masked.apply(ids, false).shape());

            Map<String, Object> config = masked.config();
            assertEquals(true, config.get("mask_zero"));
            TokenAndPositionEmbedding back = (TokenAndPositionEmbedding) LayerRegistry.create(masked.typeName(), config);
            assertTrue(back.maskZero());
            assertEquals(config, back.config());
            config.remove("mask_zero");  // a checkpoint written before mask_zero existed
            assertFalse(((TokenAndPositionEmbedding) LayerRegistry.create(masked.typeName(), config)).maskZero());
            assertFalse(plain.maskZero());
        }
    }

    // ------------------------------------------------------------------ attention

    @Test
    void multiHeadAttentionIgnoresPaddedKeysAndPassesTheMaskOn() {
        int b = 3, t = 6, f = 4;
        int[] lengths = {4, 6, 1};
        float[] m = new float[b * t];
        for (int i = 0; i < b; i++) for (int j = 0; j < lengths[i]; j++) m[i * t + j] = 1;
        for (boolean causal : new boolean[] {false, true}) {
            try (Scope s = Scope.open(); MultiHeadAttention mha = new MultiHeadAttention(2, 3).useCausalMask(causal)) {
                mha.build(new long[] {t, f}, DType.F64, new SplittableRandom(3));
                Tensor x = randn(1, DType.F64, b, t, f);
                Tensor mask = Tensor.of(m, b, t).to(DType.F64);
                double[] xv = x.toDoubleArray();
                double[] out = mha.apply(x, mask, false).toDoubleArray();
                // Each sequence's real steps give what the same steps give without any padding.
                for (int i = 0; i < b; i++) {
                    Tensor xi = head(xv, i, t, f, lengths[i]);
                    double[] alone = mha.call(xi, xi, null, null, causal, false).toDoubleArray();
                    double[] mine = Arrays.copyOfRange(out, i * t * f, (i * t + lengths[i]) * f);
                    Reference.assertClose(mine, alone, 1e-12);
                }
                assertSame(mask, mha.computeMask(x, mask));
                assertNull(mha.computeMask(x, null));
                Gradcheck.assertGradients("mha with padding mask, causal=" + causal, xs -> mha.apply(xs[0], mask, true), x);
                Gradcheck.assertGradients("mha weights with padding mask, causal=" + causal,
                        xs -> mha.apply(x, mask, true), trainable(mha));
            }
        }
    }

    @Test
    void fullyPaddedSequencesStayFinite() {
        try (Scope s = Scope.open(); MultiHeadAttention mha = new MultiHeadAttention(2, 2);
             TransformerEncoder block = new TransformerEncoder(2, 6, 0.0)) {
            Tensor x = randn(1, DType.F64, 2, 3, 4);
            Tensor mask = Tensor.of(new double[] {1, 1, 0, 0, 0, 0}, 2, 3);
            double[] out = mha.apply(x, mask, false).toDoubleArray();
            // A query that sees no key gets zero attention: the output is the output projection's (zero) bias.
            for (int i = 12; i < 24; i++) assertEquals(0.0, out[i], "fully padded row, element " + i);
            for (double v : block.apply(x, mask, false).toDoubleArray()) assertTrue(Double.isFinite(v));
            Gradcheck.assertGradients("encoder block with a fully padded row", xs -> block.apply(xs[0], mask, true), x);
        }
    }

    @Test
    void causalEncoderWithPrePaddingIgnoresThePaddedSteps() {
        // Causal alone lets step 2 see steps 0 and 1; with the padding mask it must not.
        try (Scope s = Scope.open(); TransformerEncoder block = new TransformerEncoder(2, 8, 0.0, true)) {
            Tensor x = randn(1, DType.F64, 1, 5, 4);
            Tensor mask = Tensor.of(new double[] {0, 0, 1, 1, 1}, 1, 5);
            double[] a = block.apply(x, mask, false).toDoubleArray();
            double[] xv = x.toDoubleArray();
            for (int i = 0; i < 8; i++) xv[i] += 1.0;  // change the padded steps 0 and 1
            Tensor changed = Tensor.of(xv, 1, 5, 4);
            double[] b = block.apply(changed, mask, false).toDoubleArray();
            for (int i = 8; i < 20; i++) assertEquals(a[i], b[i], 1e-12, "real step " + i / 4 + " saw padding");
            double[] unmasked = block.apply(changed, false).toDoubleArray();
            assertTrue(Math.abs(unmasked[8] - a[8]) > 1e-6, "without the mask the padding is seen (the test can fail)");
            assertSame(mask, block.computeMask(x, mask));
        }
    }

    // ------------------------------------------------------------------ pooling

    @Test
    void maskedAveragePoolingIsTheMeanOverRealSteps() {
        int b = 3, t = 4, f = 2;
        double[] m = {1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0};
        try (Scope s = Scope.open(); GlobalAveragePooling1D pool = new GlobalAveragePooling1D()) {
            Tensor x = randn(1, DType.F64, b, t, f);
            Tensor mask = Tensor.of(m, b, t);
            double[] xv = x.toDoubleArray();
            double[] ref = new double[b * f];
            for (int i = 0; i < b; i++) {
                double n = 0;
                for (int j = 0; j < t; j++) n += m[i * t + j];
                for (int c = 0; c < f; c++) {
                    double sum = 0;
                    for (int j = 0; j < t; j++) sum += m[i * t + j] * xv[(i * t + j) * f + c];
                    ref[i * f + c] = n == 0 ? 0 : sum / n;  // no real step: zeros (Keras gives NaN)
                }
            }
            Reference.assertClose(pool.apply(x, mask, false).toDoubleArray(), ref, 1e-12);
            Reference.assertClose(pool.apply(x, Tensor.ofInts(new int[] {1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0}, b, t), false)
                    .toDoubleArray(), ref, 1e-12);
            Reference.assertClose(pool.apply(x, false).toDoubleArray(), x.mean(new int[] {1}, false).toDoubleArray(), 1e-12);
            Gradcheck.assertGradients("masked global_average_pooling1d", xs -> pool.apply(xs[0], mask, true), x);
            assertNull(pool.computeMask(x, mask), "the mask ends at the pooling");
            ShapeException e = assertThrows(ShapeException.class, () -> pool.apply(x, Tensor.ones(b, t + 1), false));
            assertTrue(e.getMessage().contains(pool.name()) && e.getMessage().contains("[3, 5]"), e.getMessage());
        }
    }

    @Test
    void layerNormalizationPassesTheMaskThrough() {
        try (Scope s = Scope.open(); LayerNormalization ln = new LayerNormalization()) {
            Tensor x = randn(1, DType.F32, 2, 3, 4);
            Tensor mask = Tensor.ones(2, 3);
            assertSame(mask, ln.computeMask(x, mask));
            assertNull(ln.computeMask(x, null));
        }
    }

    // ------------------------------------------------------------------ the classifier

    /** Copies every weight of {@code from} into {@code to} (same architecture, built for another length). */
    private static void copyWeights(Sequential from, Sequential to) {
        List<Layer> a = from.layers(), b = to.layers();
        for (int l = 0; l < a.size(); l++) {
            List<Param> pa = a.get(l).params(), pb = b.get(l).params();
            assertEquals(pa.size(), pb.size());
            for (int i = 0; i < pa.size(); i++) {
                Tensor dst = pb.get(i).value();
                dst.backend().memory().write(dst, pa.get(i).value().toFloatArray());
            }
        }
    }

    @Test
    void paddingAtTheEndDoesNotChangeTheClassifiersOutput() {
        int vocab = 20, max = 12, real = 7;
        float[] review = {4, 9, 13, 2, 17, 5, 11};
        float[] batch = new float[3 * max];
        System.arraycopy(review, 0, batch, 0, real);                // the review, padded with 5 zeros
        for (int j = 0; j < max; j++) batch[max + j] = 1 + (j * 7) % 19;  // a full-length review
        // row 2: all padding
        try (Sequential padded = TransformerModels.encoderClassifier(vocab, max, 8, 2, 16, 2, 0.1, 3, true);
             Sequential unpadded = TransformerModels.encoderClassifier(vocab, max, 8, 2, 16, 2, 0.1, 3, true);
             Sequential noMask = TransformerModels.encoderClassifier(vocab, max, 8, 2, 16, 2, 0.1, 3, false);
             Scope s = Scope.open()) {
            padded.seed(4).build(max);
            unpadded.build(real);
            noMask.build(max);
            copyWeights(padded, unpadded);
            copyWeights(padded, noMask);
            float[] out = padded.call(Tensor.of(batch, 3, max)).toFloatArray();
            float[] alone = unpadded.call(Tensor.of(review, 1, real)).toFloatArray();
            double[] mine = Reference.toDouble(Arrays.copyOfRange(out, 0, 3));
            Reference.assertClose(mine, Reference.toDouble(alone), Reference.ELEMENTWISE_F32);
            for (float v : out) assertTrue(Float.isFinite(v), "an all-padding review must not give NaN: " + Arrays.toString(out));
            // Without the mask the padding changes the output: the comparison above can fail.
            double[] unmasked = Reference.toDouble(Arrays.copyOfRange(noMask.call(Tensor.of(batch, 3, max)).toFloatArray(), 0, 3));
            assertTrue(Reference.relativeError(unmasked, Reference.toDouble(alone)) > 1e-3,
                    "unmasked " + Arrays.toString(unmasked) + " vs " + Arrays.toString(alone));
        }
    }

    @Test
    void theMaskFlowsThroughTheSequentialUntilThePooling() {
        int vocab = 30, max = 10;
        try (Sequential m = ReferenceModels.textClassifier("transformer", vocab, max); Scope s = Scope.open()) {
            m.build(max);
            assertTrue(((TokenAndPositionEmbedding) m.layers().get(0)).maskZero(), "the reference model masks padding");
            float[] ids = new float[2 * max];
            for (int j = 4; j < max; j++) ids[j] = j;          // pre-padded
            for (int j = 0; j < max; j++) ids[max + j] = j % 3;  // zeros inside
            float[] expected = new float[ids.length];
            for (int i = 0; i < ids.length; i++) expected[i] = ids[i] != 0 ? 1 : 0;
            Tensor h = Tensor.of(ids, 2, max);
            Tensor mask = null;
            for (Layer l : m.layers()) {
                Tensor next = l.apply(h, mask, false);
                mask = l.computeMask(h, mask);
                if (l instanceof GlobalAveragePooling1D || l instanceof Dense) {
                    assertNull(mask, l.name());
                } else {
                    assertNotNull(mask, l.name() + " dropped the mask");
                    assertArrayEquals(expected, mask.toFloatArray(), l.name());
                }
                h = next;
            }
            Reference.assertClose(Reference.toDouble(h.toFloatArray()), Reference.toDouble(m.call(Tensor.of(ids, 2, max))
                    .toFloatArray()), 1e-7);
        }
    }

    @Test
    void maskedClassifierCheckpointRoundTrip(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("masked.safetensors");
        float[] ids = {3, 5, 7, 0, 0, 0, 2, 2, 9, 4, 1, 0};
        double[] before;
        try (Sequential m = TransformerModels.encoderClassifier(11, 6, 8, 2, 16, 1, 0.0, 2, true); Scope s = Scope.open()) {
            m.build(6);
            before = m.call(Tensor.of(ids, 2, 6)).toDoubleArray();
            m.save(file);
        }
        try (Sequential loaded = Sequential.load(file); Scope s = Scope.open()) {
            assertTrue(((TokenAndPositionEmbedding) loaded.layers().get(0)).maskZero());
            Reference.assertClose(loaded.call(Tensor.of(ids, 2, 6)).toDoubleArray(), before, 1e-7);
        }
    }
}
