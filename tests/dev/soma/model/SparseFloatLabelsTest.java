package dev.soma.model;

import dev.soma.data.ArrayDataset;
import dev.soma.errors.DTypeException;
import dev.soma.memory.Scope;
import dev.soma.nn.Dense;
import dev.soma.optim.Adam;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import static org.junit.jupiter.api.Assertions.*;

/** sparse_categorical_crossentropy takes whole-number float labels as Keras does, and refuses any other float. */
@ExtendWith(NoLeaks.class)
class SparseFloatLabelsTest {
    @Test
    void wholeNumberFloatLabelsEqualIntLabels() {
        Loss loss = Loss.byName("sparse_categorical_crossentropy");
        try (Scope s = Scope.open()) {
            Tensor p = Tensor.of(new float[] {0.7f, 0.2f, 0.1f, 0.1f, 0.3f, 0.6f}, 2, 3);
            double ints = loss.compute(p, Tensor.ofInts(new int[] {0, 2}, 2)).item();
            double floats = loss.compute(p, Tensor.of(new float[] {0f, 2f}, 2)).item();
            assertEquals(-(Math.log(0.7) + Math.log(0.6)) / 2, ints, 1e-6);
            assertEquals(ints, floats, 0.0);
            Tensor logits = Tensor.of(new float[] {2, 0, -1, 0, 1, 3}, 2, 3);
            assertEquals(loss.fromLogits().compute(logits, Tensor.ofInts(new int[] {1, 2}, 2)).item(),
                    loss.fromLogits().compute(logits, Tensor.of(new double[] {1, 2}, 2)).item(), 0.0);
        }
    }

    @Test
    void fractionalOrNonFiniteLabelsAreRefused() {
        Loss loss = Loss.byName("sparse_categorical_crossentropy");
        try (Scope s = Scope.open()) {
            Tensor p = Tensor.of(new float[] {0.7f, 0.2f, 0.1f, 0.1f, 0.3f, 0.6f}, 2, 3);
            for (float bad : new float[] {1.5f, Float.NaN, Float.POSITIVE_INFINITY, -0.25f}) {
                DTypeException e = assertThrows(DTypeException.class,
                        () -> loss.compute(p, Tensor.of(new float[] {0f, bad}, 2)));
                assertTrue(e.getMessage().contains("sparse_categorical_crossentropy") && e.getMessage().contains("index 1"),
                        e.getMessage());
                assertThrows(DTypeException.class, () -> loss.fromLogits().compute(p, Tensor.of(new float[] {bad, 0f}, 2)));
            }
        }
    }

    @Test
    void fitTrainsOnFloatClassLabels() {
        ArrayDataset ints = TrainingLoopTest.blobs(200, 7);
        float[] asFloats = new float[ints.size()];
        int[] labels = ints.gather(java.util.stream.IntStream.range(0, ints.size()).toArray()).yLabels();
        for (int i = 0; i < labels.length; i++) asFloats[i] = labels[i];
        float[] x = ints.gather(java.util.stream.IntStream.range(0, ints.size()).toArray()).x();
        ArrayDataset floats = ArrayDataset.withTargets(x, new long[] {4}, asFloats, new long[] {});
        double[] finalLoss = new double[2];
        int k = 0;
        for (ArrayDataset data : new ArrayDataset[] {ints, floats}) {
            try (Sequential model = new Sequential(new Dense(8, "relu"), new Dense(3, "softmax"))) {
                model.seed(2).compile(new Adam(0.01), "sparse_categorical_crossentropy", "accuracy");
                History h = model.fit(data, new FitOptions().batchSize(20).epochs(3).seed(1).verbose(0));
                finalLoss[k++] = h.last("loss");
                assertTrue(h.last("accuracy") > 0.8, "accuracy " + h.last("accuracy"));
            }
        }
        assertEquals(finalLoss[0], finalLoss[1], 0.0, "float labels train exactly as int labels");
    }
}
