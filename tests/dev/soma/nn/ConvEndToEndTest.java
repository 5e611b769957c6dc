package dev.soma.nn;

import dev.soma.data.ArrayDataset;
import dev.soma.model.FitOptions;
import dev.soma.model.Sequential;
import dev.soma.optim.Adam;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** A small Sequential CNN learns to tell horizontal from vertical bars in noisy images it has not seen. */
@ExtendWith(NoLeaks.class)
class ConvEndToEndTest {
    private static final int SIZE = 12;

    /**
     * n noisy 12x12x1 images, each with one bright bar at least half the image long, horizontal (label 0) or
     * vertical (label 1), anywhere.
     */
    static ArrayDataset bars(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[n * SIZE * SIZE];
        int[] y = new int[n];
        for (int i = 0; i < n; i++) {
            int label = r.nextInt(2);
            int at = r.nextInt(SIZE);
            int from = r.nextInt(SIZE / 2);
            int length = SIZE - from;
            y[i] = label;
            for (int p = 0; p < SIZE * SIZE; p++) x[i * SIZE * SIZE + p] = (float) (0.3 * r.nextGaussian());
            for (int t = from; t < Math.min(from + length, SIZE); t++) {
                int row = label == 0 ? at : t;
                int col = label == 0 ? t : at;
                x[i * SIZE * SIZE + row * SIZE + col] += 1.0f;
            }
        }
        return ArrayDataset.withLabels(x, new long[] {SIZE, SIZE, 1}, y);
    }

    @Test
    void aSmallCnnLearnsBarOrientation() {
        ArrayDataset train = bars(400, 1);
        ArrayDataset test = bars(200, 2);
        try (Sequential model = new Sequential(new Conv2D(8, 3, "relu"), new MaxPooling2D(), new Flatten(),
                new Dense(10, "softmax"))) {
            model.seed(3).compile(new Adam(0.01), "sparse_categorical_crossentropy", "accuracy");
            var history = model.fit(train, new FitOptions().batchSize(32).epochs(8).seed(5).verbose(0));
            System.out.println("bars: training " + history.last("loss") + " loss, " + history.last("accuracy") + " accuracy");
            Map<String, Double> result = model.evaluate(test, 100);
            System.out.println("bars: held-out " + result);
            assertTrue(result.get("accuracy") > 0.9, "test accuracy " + result);
            assertArrayEquals(new long[] {10, 10, 8}, model.layers().get(0).outputShape());
            assertArrayEquals(new long[] {5, 5, 8}, model.layers().get(1).outputShape());
        }
    }
}
