package dev.soma.model;

import dev.soma.backend.Backends;
import dev.soma.data.ArrayDataset;
import dev.soma.data.Batch;
import dev.soma.memory.PoolStats;
import dev.soma.nn.Dense;
import dev.soma.nn.Dropout;
import dev.soma.optim.Adam;
import dev.soma.optim.SGD;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

@ExtendWith(NoLeaks.class)
class TrainingLoopTest {
    /** Three Gaussian blobs in 4-d, labels 0..2: learnable, and a broken model stays near 1/3. */
    static ArrayDataset blobs(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[n * 4];
        int[] y = new int[n];
        for (int i = 0; i < n; i++) {
            int c = r.nextInt(3);
            y[i] = c;
            for (int d = 0; d < 4; d++) x[i * 4 + d] = (float) (r.nextGaussian() * 0.7 + (d == c ? 2.0 : 0.0));
        }
        return ArrayDataset.withLabels(x, new long[] {4}, y);
    }

    @Test
    void aThousandStepsMakeNoNativeAllocationAfterTheSecond() {
        Batch batch = blobs(32, 1).gather(java.util.stream.IntStream.range(0, 32).toArray());
        try (Sequential model = new Sequential(new Dense(64, "relu"), new Dropout(0.2), new Dense(3, "softmax"))) {
            model.compile(new Adam(1e-3), "sparse_categorical_crossentropy", "accuracy");
            model.trainStep(batch);
            model.trainStep(batch);
            long after2 = Backends.cpu().pool().stats().nativeAllocations();
            double first = Double.NaN;
            double last = 0;
            for (int i = 0; i < 1000; i++) {
                last = model.trainStep(batch);
                if (i == 0) first = last;
            }
            PoolStats s = Backends.cpu().pool().stats();
            assertEquals(after2, s.nativeAllocations(), "native allocations after step 2: " + s);
            assertTrue(last < first, "the loss fell: " + first + " -> " + last);
        }
    }

    @Test
    void fitLearnsAndReportsHistoryAndValidation() {
        ArrayDataset train = blobs(600, 2);
        ArrayDataset test = blobs(300, 3);
        try (Sequential model = new Sequential(new Dense(16, "relu"), new Dense(3, "softmax"))) {
            model.seed(5).compile(new Adam(0.01), "sparse_categorical_crossentropy", "accuracy");
            History h = model.fit(train, new FitOptions().batchSize(32).epochs(5).validationData(test).verbose(0));
            assertEquals(5, h.epochs());
            assertTrue(h.last("loss") < h.get("loss").get(0), "training loss fell");
            assertTrue(h.last("val_accuracy") > 0.9, "val accuracy " + h.last("val_accuracy"));
            var eval = model.evaluate(test, 64);
            assertEquals(h.last("val_accuracy"), eval.get("accuracy"), 1e-12);
            try (var p = model.predict(test, 100)) {
                assertArrayEquals(new long[] {300, 3}, p.shape());
                float[] probs = p.toFloatArray();
                assertEquals(1.0, probs[0] + probs[1] + probs[2], 1e-5, "softmax rows sum to one");
            }
        }
    }

    @Test
    void seededTrainingIsReproducibleBitForBit() {
        double[] losses = new double[2];
        for (int run = 0; run < 2; run++) {
            try (Sequential model = new Sequential(new Dense(8, "tanh"), new Dropout(0.3), new Dense(3, "softmax"))) {
                model.seed(11).compile(new SGD(0.1, 0.9, true), "sparse_categorical_crossentropy");
                losses[run] = model.fit(blobs(200, 4), new FitOptions().batchSize(16).epochs(2).seed(3).verbose(0))
                        .last("loss");
            }
        }
        assertEquals(losses[0], losses[1], 0.0);
    }

    @Test
    void earlyStoppingStopsAndRestoresTheBestWeights() {
        ArrayDataset train = blobs(200, 5);
        try (Sequential model = new Sequential(new Dense(3, "softmax"))) {
            // A learning rate far too high makes validation loss rise after the first epochs.
            model.compile(new SGD(50.0), "sparse_categorical_crossentropy", "accuracy");
            EarlyStopping stop = new EarlyStopping("val_loss", 1, 0, true);
            History h = model.fit(train, new FitOptions().epochs(30).validationData(blobs(100, 6)).verbose(0)
                    .callbacks(stop));
            assertTrue(h.epochs() < 30, "stopped early after " + h.epochs() + " epochs");
            double best = h.get("val_loss").stream().mapToDouble(Double::doubleValue).min().orElseThrow();
            assertEquals(best, model.evaluate(blobs(100, 6), 32).get("loss"), 1e-5, "best weights restored");
        }
    }

    @Test
    void summaryCountsParameters() {
        try (Sequential model = new Sequential(new Dense(32, "relu"), new Dense(10))) {
            model.build(4);
            String s = model.summary();
            assertTrue(s.contains("160"), s);   // 4*32 + 32
            assertTrue(s.contains("330"), s);   // 32*10 + 10
            assertTrue(s.contains("Total params: 490"), s);
        }
    }

    @Test
    void compileAndFitRejectBadArguments() {
        try (Sequential model = new Sequential(new Dense(3))) {
            assertThrows(IllegalStateException.class, () -> model.fit(blobs(10, 1), new FitOptions()));
            assertThrows(IllegalArgumentException.class, () -> model.compile(new SGD(0.1), "hinge"));
            assertThrows(IllegalArgumentException.class, () -> model.compile(new SGD(0.1), "mse", "accuracy"));
            assertThrows(IllegalArgumentException.class, () -> new FitOptions().validationSplit(1.0));
        }
    }
}
