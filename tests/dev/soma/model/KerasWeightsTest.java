package dev.soma.model;

import dev.soma.data.ArrayDataset;
import dev.soma.errors.DTypeException;
import dev.soma.errors.ShapeException;
import dev.soma.errors.SomaException;
import dev.soma.memory.Scope;
import dev.soma.nn.Dense;
import dev.soma.nn.Dropout;
import dev.soma.nn.Layer;
import dev.soma.optim.Adam;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static dev.soma.model.SaveAnyModelTest.weights;
import static org.junit.jupiter.api.Assertions.*;

/** Keras-style weight access: layer.getWeights / setWeights, model.saveWeights / loadWeights. */
@ExtendWith(NoLeaks.class)
class KerasWeightsTest {
    @Test
    void getAndSetWeightsCopyValuesWithEveryShapeAndDTypeChecked() {
        try (Sequential m = new Sequential(new Dense(3, "relu"), new Dense(2)); Scope s = Scope.open()) {
            m.build(4);
            Layer dense = m.layers().get(0);
            List<Tensor> w = dense.getWeights();
            assertEquals(2, w.size());
            assertArrayEquals(new long[] {4, 3}, w.get(0).shape());
            assertEquals(Device.cpu(), w.get(0).device());
            float[] kernel = new float[12];
            for (int i = 0; i < 12; i++) kernel[i] = i * 0.25f;
            dense.setWeights(Tensor.of(kernel, 4, 3), Tensor.of(new float[] {1, 2, 3}, 3));
            assertArrayEquals(kernel, dense.params().get(0).value().toFloatArray());
            assertArrayEquals(new float[] {1, 2, 3}, dense.getWeights().get(1).toFloatArray());
            // getWeights returns copies: changing the model leaves them as they were.
            float[] copied = w.get(0).toFloatArray();
            dense.setWeights(Tensor.zeros(4, 3), Tensor.zeros(3));
            assertArrayEquals(copied, w.get(0).toFloatArray());

            IllegalArgumentException count = assertThrows(IllegalArgumentException.class, () -> dense.setWeights(Tensor.zeros(4, 3)));
            assertTrue(count.getMessage().contains("2 weight(s)") && count.getMessage().contains("got 1"), count.getMessage());
            ShapeException shape = assertThrows(ShapeException.class,
                    () -> dense.setWeights(Tensor.of(kernel, 3, 4), Tensor.zeros(3)));
            assertTrue(shape.getMessage().contains("/kernel") && shape.getMessage().contains("[4, 3]"), shape.getMessage());
            DTypeException dtype = assertThrows(DTypeException.class,
                    () -> dense.setWeights(Tensor.zeros(4, 3), Tensor.zeros(DType.F64, Device.cpu(), 3)));
            assertTrue(dtype.getMessage().contains("/bias") && dtype.getMessage().contains("float32"), dtype.getMessage());
            // A rejected call changes nothing, not even the weights before the bad one.
            assertArrayEquals(new float[12], dense.params().get(0).value().toFloatArray());
        }
    }

    private static Sequential model(long seed) {
        Sequential m = new Sequential(new Dense(8, "relu"), new Dropout(0.1), new Dense(3, "softmax"));
        m.seed(seed).compile(new Adam(0.01), "sparse_categorical_crossentropy");
        return m;
    }

    @Test
    void saveWeightsLoadsIntoAFreshModelByLayerAndWeightName(@TempDir Path dir) throws Exception {
        ArrayDataset data = TrainingLoopTest.blobs(64, 1);
        Path file = dir.resolve("w.safetensors");
        List<float[]> trained;
        try (Sequential m = model(1)) {
            m.fit(data, new FitOptions().batchSize(16).epochs(1).verbose(0));
            trained = weights(m);
            m.saveWeights(file);
        }
        // Made later, so its layers' JVM-wide names differ; the file's model-local names still match.
        try (Sequential fresh = model(2)) {
            fresh.build(4);
            fresh.loadWeights(file);
            List<float[]> loaded = weights(fresh);
            for (int i = 0; i < trained.size(); i++) assertArrayEquals(trained.get(i), loaded.get(i));
        }
    }

    @Test
    void mismatchesAreNamedAndMissingWeightsCanBeSkipped(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("small.safetensors");
        try (Sequential m = new Sequential(new Dense(8, "relu"), new Dense(3))) {
            m.build(4);
            m.saveWeights(file);
        }
        try (Sequential bigger = new Sequential(new Dense(8, "relu"), new Dense(3), new Dense(2))) {
            bigger.build(4);
            float[] before = bigger.layers().get(2).params().get(0).value().toFloatArray();
            SomaException e = assertThrows(SomaException.class, () -> bigger.loadWeights(file));
            assertTrue(e.getMessage().contains("dense_3/kernel") && e.getMessage().contains("loadWeights(file, true)"),
                    e.getMessage());
            List<String> skipped = bigger.loadWeights(file, true);
            assertEquals(List.of("dense_3/kernel", "dense_3/bias"), skipped);
            assertArrayEquals(before, bigger.layers().get(2).params().get(0).value().toFloatArray());
        }
        try (Sequential wider = new Sequential(new Dense(9, "relu"), new Dense(3))) {
            wider.build(4);
            ShapeException e = assertThrows(ShapeException.class, () -> wider.loadWeights(file, true));
            assertTrue(e.getMessage().contains("dense_1/kernel") && e.getMessage().contains("[4, 9]"), e.getMessage());
        }
        try (Sequential unbuilt = new Sequential(new Dense(8))) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> unbuilt.loadWeights(file));
            assertTrue(e.getMessage().contains("build"), e.getMessage());
        }
        Path checkpoint = dir.resolve("full.safetensors");
        try (Sequential m = new Sequential(new Dense(8, "relu"), new Dense(3))) {
            m.build(4);
            m.save(checkpoint);
            SomaException e = assertThrows(SomaException.class, () -> m.loadWeights(checkpoint));
            assertTrue(e.getMessage().contains("whole-model checkpoint"), e.getMessage());
        }
    }
}
