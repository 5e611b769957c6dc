package dev.soma.model;

import dev.soma.data.ArrayDataset;
import dev.soma.data.Batch;
import dev.soma.errors.ShapeException;
import dev.soma.memory.Scope;
import dev.soma.nn.Dense;
import dev.soma.optim.Adam;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * trainStep / testStep on tensors the caller holds (Keras' train_on_batch / test_on_batch) equal the Batch forms,
 * leave the caller's tensors alone, and predict's result is owned by the caller or by a scope given.
 */
@ExtendWith(NoLeaks.class)
class TensorStepsTest {
    static Sequential model() {
        Sequential m = new Sequential(new Dense(8, "relu"), new Dense(3, "softmax"));
        m.seed(4).compile(new Adam(0.01), "sparse_categorical_crossentropy", "accuracy");
        return m;
    }

    @Test
    void tensorStepsEqualBatchSteps() {
        Batch batch = TrainingLoopTest.blobs(32, 9).gather(IntStream.range(0, 32).toArray());
        try (Sequential a = model(); Sequential b = model(); Scope s = Scope.open()) {
            Tensor x = batch.features();
            Tensor y = batch.targets();
            for (int step = 0; step < 5; step++) {
                double viaBatch = a.trainStep(batch);
                double viaTensors = b.trainStep(x, y);
                assertEquals(viaBatch, viaTensors, 0.0, "step " + step);
            }
            assertEquals(a.metrics().get(0).result(), b.metrics().get(0).result(), 0.0);
            assertFalse(x.isClosed(), "the caller's tensors stay the caller's");
            for (int i = 0; i < a.params().size(); i++) {
                assertArrayEquals(a.params().get(i).value().toFloatArray(), b.params().get(i).value().toFloatArray(), 0f);
            }

            // testStep: the loss evaluate reports for the same batch, and the weights do not move.
            float[] before = b.params().get(0).value().toFloatArray();
            b.resetMetrics();
            double test = b.testStep(x, y);
            ArrayDataset same = ArrayDataset.withLabels(batch.x(), new long[] {4}, batch.yLabels());
            Map<String, Double> eval = b.evaluate(same, 32);
            assertEquals(eval.get("loss"), test, 1e-12);
            assertArrayEquals(before, b.params().get(0).value().toFloatArray(), 0f);
            assertTrue(b.metricResults().containsKey("accuracy"));
        }
    }

    @Test
    void badStepTensorsAreNamed() {
        try (Sequential m = model(); Scope s = Scope.open()) {
            Tensor x = Tensor.zeros(4, 4);
            ShapeException e = assertThrows(ShapeException.class, () -> m.trainStep(x, Tensor.ofInts(new int[] {0, 1, 2}, 3)));
            assertTrue(e.getMessage().contains("target 0") && e.getMessage().contains("batch size 3"), e.getMessage());
            IllegalArgumentException two = assertThrows(IllegalArgumentException.class,
                    () -> m.trainStep(List.of(x), List.of(Tensor.ofInts(new int[4], 4), Tensor.ofInts(new int[4], 4))));
            assertTrue(two.getMessage().contains("1 output"), two.getMessage());
        }
    }

    @Test
    void predictResultIsOwnedByTheCallerOrByTheScopeGiven() {
        ArrayDataset data = TrainingLoopTest.blobs(10, 1);
        try (Sequential m = model()) {
            Tensor kept;
            Tensor scoped;
            try (Scope s = Scope.open()) {
                kept = m.predict(data, 4);
                scoped = m.predict(data, 4, s);
                assertArrayEquals(kept.toFloatArray(), scoped.toFloatArray(), 0f);
                assertArrayEquals(new long[] {10, 3}, scoped.shape());
            }
            assertTrue(scoped.isClosed(), "the scope freed its result");
            assertFalse(kept.isClosed(), "predict's result outlives scopes");
            kept.close();
            try (Scope outer = Scope.open(); Scope inner = Scope.open()) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> m.predict(data, 4, outer));
                assertTrue(e.getMessage().contains("innermost"), e.getMessage());
            }
        }
    }
}
