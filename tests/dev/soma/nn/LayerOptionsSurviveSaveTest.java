package dev.soma.nn;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.reflect.TypeToken;
import dev.soma.backend.Backends;
import dev.soma.data.ArrayDataset;
import dev.soma.errors.ShapeException;
import dev.soma.memory.Scope;
import dev.soma.model.Checkpoint;
import dev.soma.model.FitOptions;
import dev.soma.model.Sequential;
import dev.soma.optim.SGD;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Options that a save used to drop or a layer used to take without complaint, each found by the layer fuzzer
 * (dev.soma.fuzz.LayerFuzzer): regularizers, a Bidirectional's own backward layer, infinite values in configs, NaN
 * options, and what a failed build leaves behind.
 */
@ExtendWith(NoLeaks.class)
class LayerOptionsSurviveSaveTest {
    private static final Gson GSON = new GsonBuilder().serializeSpecialFloatingPointValues().create();

    /** The config through JSON, as a checkpoint stores it, then the layer rebuilt from it. */
    private static Layer rebuilt(Layer layer) {
        Map<String, Object> c = GSON.fromJson(GSON.toJson(layer.config()), new TypeToken<Map<String, Object>>() {}.getType());
        return LayerRegistry.create(layer.typeName(), c);
    }

    static ArrayDataset data(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[n * 16];
        int[] y = new int[n];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        for (int i = 0; i < n; i++) y[i] = x[i * 16] + x[i * 16 + 5] > 0 ? 1 : 0;
        return ArrayDataset.withLabels(x, new long[] {4, 4, 1}, y);
    }

    static Sequential regularized() {
        return new Sequential(
                new Conv2D(3, 2, "relu").kernelRegularizer(Regularizer.l2(0.05)).biasRegularizer(Regularizer.l1(0.02)),
                new Conv2DTranspose(2, 2).kernelRegularizer(Regularizer.l1l2(0.01, 0.03)),
                new Flatten(),
                new Dense(2, "softmax").kernelRegularizer(Regularizer.l1(0.04)).biasRegularizer(Regularizer.l2(0.5)));
    }

    /**
     * A regularized model saved mid-training and loaded trains on exactly as the one that never stopped: before, the
     * loaded layers had no regularizers, so the resumed run optimized another loss.
     */
    @Test
    void regularizersSurviveASaveAndTheResumedRunMatchesTheUnbrokenOne(@TempDir Path dir) throws Exception {
        ArrayDataset d = data(48, 1);
        Path file = dir.resolve("reg.safetensors");
        FitOptions epoch = new FitOptions().batchSize(16).epochs(1).verbose(0).seed(4);
        float[] unbroken;
        try (Sequential m = regularized()) {
            m.seed(3).compile(new SGD(0.1), "sparse_categorical_crossentropy");
            m.fit(d, epoch);
            m.save(file);
            m.fit(d, new FitOptions().batchSize(16).epochs(2).initialEpoch(1).verbose(0).seed(4));
            unbroken = m.params().get(0).value().toFloatArray();
        }
        try (Sequential loaded = Checkpoint.load(file)) {
            List<Param> params = loaded.params();
            assertEquals(Regularizer.l2(0.05), params.get(0).regularizer(), params.get(0).name());
            assertEquals(Regularizer.l1(0.02), params.get(1).regularizer(), params.get(1).name());
            assertEquals(Regularizer.l1l2(0.01, 0.03), params.get(2).regularizer(), params.get(2).name());
            assertNull(params.get(3).regularizer(), params.get(3).name());
            assertEquals(Regularizer.l1(0.04), params.get(4).regularizer(), params.get(4).name());
            assertEquals(Regularizer.l2(0.5), params.get(5).regularizer(), params.get(5).name());
            loaded.fit(d, new FitOptions().batchSize(16).epochs(2).initialEpoch(1).verbose(0).seed(4));
            assertArrayEquals(unbroken, loaded.params().get(0).value().toFloatArray(),
                    "the resumed run trains on the same penalised loss");
        }
    }

    @Test
    void aBackwardLayerWithItsOwnOptionsSurvivesASave() {
        LSTM forward = new LSTM(3);
        LSTM backward = new LSTM(3).activation("relu").useBias(false).recurrentActivation("hard_sigmoid");
        try (Bidirectional b = new Bidirectional(forward, backward); Layer copy = rebuilt(b); Scope s = Scope.open()) {
            Tensor x = Tensor.randn(5, 2, 4, 3);
            Tensor y = b.apply(x, false);
            copy.apply(x, false);
            assertEquals(5, copy.params().size(), "the backward layer has no bias: 3 + 2 weights");
            copy.setWeights(b.getWeights());
            assertArrayEquals(y.toFloatArray(), copy.apply(x, false).toFloatArray());
            assertEquals(GSON.toJson(b.config()), GSON.toJson(copy.config()));
        }
    }

    @Test
    void aConfigWithoutABackwardLayerStillLoads() {
        // Checkpoints written before backward layers were saved: both directions share the forward's config.
        Map<String, Object> old = Map.of("merge_mode", "concat", "layer_type", "gru",
                "layer", new GRU(2).returnSequences(true).config());
        try (Layer b = LayerRegistry.create("bidirectional", old); Scope s = Scope.open()) {
            assertArrayEquals(new long[] {1, 3, 4}, b.apply(Tensor.randn(1, 1, 3, 2), false).shape());
        }
    }

    @Test
    void infiniteValuesInAConfigReadBackFromJson() {
        try (Masking m = new Masking(Double.NEGATIVE_INFINITY); Layer copy = rebuilt(m)) {
            assertEquals(Double.NEGATIVE_INFINITY, ((Masking) copy).maskValue());
        }
    }

    @Test
    void nanOptionsAreRefusedWhereTheyAreGiven() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Regularizer.l2(Double.NaN));
        assertTrue(e.getMessage().contains("NaN"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Regularizer.l1(Double.POSITIVE_INFINITY));
        e = assertThrows(IllegalArgumentException.class, () -> new BatchNormalization(Double.NaN, 1e-3));
        assertTrue(e.getMessage().contains("momentum") && e.getMessage().contains("NaN"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new BatchNormalization(0.9, Double.NaN));
        assertThrows(IllegalArgumentException.class, () -> Regularizer.fromConfig(Map.of("l1", 0.1)));
        try (Dense d = new Dense(3).kernelInitializer(Initializer.constant(Double.NEGATIVE_INFINITY))) {
            e = assertThrows(IllegalArgumentException.class, () -> d.build(2));
            assertTrue(e.getMessage().contains("kernel") && e.getMessage().contains("-Infinity"), e.getMessage());
            assertFalse(d.isBuilt());
        }
    }

    /**
     * A build that fails on its last weight (too large for one array) leaves neither its other weights nor built
     * sub-layers behind: nothing leaks, and the layer builds afresh for an input it can take. Before, the first
     * weights stayed, and the next build added a second set.
     */
    @Test
    void aFailedBuildLeavesNoWeightsBehind() {
        long live = Backends.cpu().pool().stats().allocatedBytes();
        try (MultiHeadAttention mha = new MultiHeadAttention(2, 3, Integer.MAX_VALUE);
             TransformerEncoder encoder = new TransformerEncoder(2, Integer.MAX_VALUE, 0.0)) {
            for (Layer l : new Layer[] {mha, encoder}) {
                ShapeException e = assertThrows(ShapeException.class, () -> l.build(4, 6));
                assertTrue(e.getMessage().contains("elements"), e.getMessage());
                assertFalse(l.isBuilt(), l.name());
                assertEquals(List.of(), l.params(), l.name() + " keeps no weights of the failed build");
            }
            assertEquals(live, Backends.cpu().pool().stats().allocatedBytes(), "the failed builds' weights were freed");
        }
        try (TransformerEncoder encoder = new TransformerEncoder(2, 4, 0.0)) {
            assertThrows(ShapeException.class, () -> encoder.build(4, 5)); // 5 features over 2 heads
            encoder.build(4, 6);
            assertEquals(16, encoder.params().size(), encoder.params().toString());
        }
    }

    @Test
    void aDaleDenseTooLargeForItsArraysIsRefusedClearly() {
        try (DaleDense d = new DaleDense(Integer.MAX_VALUE)) {
            ShapeException e = assertThrows(ShapeException.class, () -> d.build(3));
            assertTrue(e.getMessage().contains("too many weights"), e.getMessage());
            assertFalse(d.isBuilt());
        }
    }
}
