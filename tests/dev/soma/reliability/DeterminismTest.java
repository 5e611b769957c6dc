package dev.soma.reliability;

import dev.soma.data.ArrayDataset;
import dev.soma.data.DatasetFetcher;
import dev.soma.data.Mnist;
import dev.soma.model.FitOptions;
import dev.soma.model.Sequential;
import dev.soma.nn.Param;
import dev.soma.optim.Adam;
import dev.soma.testing.NoLeaks;
import dev.soma.zoo.ReferenceModels;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * With a seed, two CPU training runs of the MNIST reference CNN give bit-identical weights after one epoch on a
 * slice of real MNIST (oneDNN's convolutions included). A run with another seed must differ, so the comparison
 * can fail.
 */
@ExtendWith(NoLeaks.class)
class DeterminismTest {
    static ArrayDataset slice;

    @BeforeAll
    static void data() throws Exception {
        Path folder = DatasetFetcher.fetch(DatasetFetcher.Known.byName("mnist"), DatasetFetcher.defaultDataRoot(),
                System.out::println);
        Mnist.Split part = Mnist.loadTrain(folder).slice(0, 512);
        slice = ArrayDataset.withLabels(part.images(), new long[] {28, 28, 1}, part.labels());
    }

    /** Every weight's raw bits after one epoch (shuffled, with dropout) from {@code seed}. */
    static List<int[]> trainOneEpoch(long seed) {
        try (Sequential m = ReferenceModels.imageClassifier("cnn", 10)) {
            m.seed(seed).compile(new Adam(1e-3), "sparse_categorical_crossentropy", "accuracy");
            m.fit(slice, new FitOptions().batchSize(32).epochs(1).seed(seed).verbose(0));
            List<int[]> bits = new ArrayList<>();
            for (Param p : m.params()) {
                float[] v = p.value().toFloatArray();
                int[] b = new int[v.length];
                for (int i = 0; i < v.length; i++) b[i] = Float.floatToRawIntBits(v[i]);
                bits.add(b);
            }
            return bits;
        }
    }

    @Test
    void twoSeededRunsGiveBitIdenticalWeights() {
        List<int[]> a = trainOneEpoch(7);
        List<int[]> b = trainOneEpoch(7);
        assertEquals(a.size(), b.size());
        for (int i = 0; i < a.size(); i++) assertArrayEquals(a.get(i), b.get(i), "parameter " + i + " differs");
        List<int[]> other = trainOneEpoch(8);
        assertFalse(Arrays.equals(a.get(0), other.get(0)), "another seed gives other weights");
    }
}
