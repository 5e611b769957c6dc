package dev.soma.reliability;

import dev.soma.backend.Backends;
import dev.soma.data.ArrayDataset;
import dev.soma.data.Batch;
import dev.soma.errors.OutOfMemoryException;
import dev.soma.errors.SomaException;
import dev.soma.memory.CachingPool;
import dev.soma.memory.Scope;
import dev.soma.model.Sequential;
import dev.soma.nn.Dense;
import dev.soma.optim.SGD;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A capped pool: exceeding the cap is an {@link OutOfMemoryException} (a {@link SomaException}) carrying the
 * pool's statistics, and the program carries on with smaller work, tensors and models intact.
 */
@ExtendWith(NoLeaks.class)
class OutOfMemoryTest {
    static final long MiB = 1L << 20;
    CachingPool pool = Backends.cpu().pool();
    long reservedAtStart;

    @BeforeEach
    void cap() {
        pool.emptyCache(); // so the cap below measures this test's own room, not earlier tests' cache
        reservedAtStart = pool.stats().reservedBytes();
        pool.setLimit(reservedAtStart + 24 * MiB);
    }

    @AfterEach
    void uncap() {
        pool.setLimit(Long.MAX_VALUE);
    }

    @Test
    void exceedingTheCapThrowsWithStatisticsAndSmallerWorkContinues() {
        try (Scope s = Scope.open()) {
            Tensor kept = Tensor.ones(1024, 1024);                      // 4 MiB that must survive the failure
            long before = pool.stats().oomRetries();
            OutOfMemoryException e = assertThrows(OutOfMemoryException.class, () -> Tensor.zeros(8 * 1024, 1024));
            assertInstanceOf(SomaException.class, e);
            assertTrue(e.getMessage().contains("pool[cpu]: out of memory allocating 32.0 MiB"), e.getMessage());
            assertTrue(e.getMessage().contains("the pool's limit"), e.getMessage());
            assertTrue(e.poolStatistics().contains("limit=") && e.poolStatistics().contains("oomRetries="),
                    e.poolStatistics());
            assertTrue(e.poolStatistics().contains("allocated=4.0 MiB"), e.poolStatistics());
            assertEquals(before + 1, pool.stats().oomRetries(), "the cache was emptied and the request retried once");

            // Smaller work goes on, and what existed before is untouched.
            Tensor smaller = Tensor.ones(1024, 1024);
            assertEquals(1024.0 * 1024, smaller.sum().item());
            assertEquals(1024.0 * 1024, kept.sum().item());
        }
    }

    @Test
    void underTheCapACachedBlockIsSplitRatherThanFailing() {
        try (Scope s = Scope.open()) {
            // 4 MiB takes a 20 MiB segment; 8 MiB more does not fit the cap as a new segment, but fits the 16 MiB
            // left in that segment's cache (normally kept for larger requests).
            Tensor a = Tensor.ones(1024, 1024);
            Tensor b = Tensor.ones(2 * 1024, 1024);
            assertEquals(3.0 * 1024 * 1024, a.sum().item() + b.sum().item());
            long grown = pool.stats().reservedBytes() - reservedAtStart;
            assertTrue(grown <= 24 * MiB, "one 20 MiB segment plus small ones: " + grown);
        }
    }

    @Test
    void aBatchTooLargeForTheCapFailsAndTrainingGoesOnWithSmallerBatches() {
        try (Sequential m = new Sequential(new Dense(64, "relu"), new Dense(10, "softmax"))) {
            m.seed(2).compile(new SGD(0.05), "sparse_categorical_crossentropy");
            int features = 256;
            int big = 32 * 1024;                                       // 32 Ki x 256 floats = 32 MiB of input alone
            Batch huge = batch(big, features);
            assertThrows(OutOfMemoryException.class, () -> m.trainStep(huge));
            double first = Double.NaN;
            double last = Double.NaN;
            for (int step = 0; step < 20; step++) {
                double loss = m.trainStep(batch(128, features));
                if (step == 0) first = loss;
                last = loss;
            }
            assertTrue(Double.isFinite(last) && last < first, "training continues and learns: " + first + " -> " + last);
            ArrayDataset small = ArrayDataset.withLabels(batch(64, features).x(), new long[] {features}, new int[64]);
            try (Tensor p = m.predict(small, 32)) {
                assertArrayEquals(new long[] {64, 10}, p.shape());
            }
        }
    }

    /** n examples whose label is the sign pattern of the first feature (learnable), deterministic values. */
    static Batch batch(int n, int features) {
        float[] x = new float[n * features];
        int[] y = new int[n];
        java.util.SplittableRandom r = new java.util.SplittableRandom(n);
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < features; j++) x[i * features + j] = (float) r.nextGaussian();
            y[i] = x[i * features] > 0 ? 1 : 0;
        }
        return new Batch(x, new long[] {n, features}, y, null, new long[] {n});
    }
}
