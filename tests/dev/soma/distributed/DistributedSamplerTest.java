package dev.soma.distributed;

import dev.soma.data.DataLoader;
import dev.soma.data.ArrayDataset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class DistributedSamplerTest {
    /**
     * {@code part} (DP-SGD's split of a Poisson sample every rank drew alike): the ranks' parts, in rank order, are
     * the sample itself, sizes differ by at most one, and a rank outside the world is refused.
     */
    @ParameterizedTest
    @CsvSource({"0, 2", "1, 2", "7, 2", "16, 2", "5, 3", "2, 4"})
    void partsOfASharedSampleConcatenateToIt(int n, int ranks) {
        int[] sample = new int[n];
        for (int i = 0; i < n; i++) sample[i] = 3 * i + 1;
        int[] joined = new int[0];
        for (int r = 0; r < ranks; r++) {
            int[] part = DistributedSampler.part(sample, r, ranks);
            assertEquals(true, part.length == n / ranks || part.length == n / ranks + 1, "rank " + r + ": " + part.length);
            int at = joined.length;
            joined = Arrays.copyOf(joined, at + part.length);
            System.arraycopy(part, 0, joined, at, part.length);
        }
        assertArrayEquals(sample, joined);
        assertThrows(IllegalArgumentException.class, () -> DistributedSampler.part(sample, ranks, ranks));
        assertThrows(IllegalArgumentException.class, () -> DistributedSampler.part(sample, -1, ranks));
    }

    /** Every example goes to exactly one rank per epoch, the shares of a global batch sum to 1. */
    @ParameterizedTest
    @CsvSource({"88, 16, 2", "100, 16, 2", "7, 2, 3", "5, 4, 4", "1000, 32, 8", "3, 1, 5"})
    void everyExampleGoesToExactlyOneRankPerEpoch(int n, int batch, int ranks) {
        DistributedSampler s = new DistributedSampler(n, batch, ranks, true, 5);
        for (int epoch = 0; epoch < 3; epoch++) {
            int[] order = s.order(epoch);
            int[] count = new int[n];
            for (int b = 0; b < s.batchesPerEpoch(); b++) {
                double shares = 0;
                int inBatch = 0;
                for (int r = 0; r < ranks; r++) {
                    int[] idx = s.batch(order, b, r);
                    for (int i : idx) count[i]++;
                    shares += s.share(b, r);
                    inBatch += idx.length;
                    assertEquals((double) idx.length / s.globalBatchSize(b), s.share(b, r), 0);
                    assertEquals(true, idx.length <= batch);
                }
                assertEquals(1.0, shares, 1e-12);
                assertEquals(s.globalBatchSize(b), inBatch);
            }
            int[] ones = new int[n];
            Arrays.fill(ones, 1);
            assertArrayEquals(ones, count, "epoch " + epoch);
        }
    }

    /** The ranks' batch b together is the 1-process batch b of batch * ranks (same order as the DataLoader's). */
    @Test
    void theRanksTogetherSeeTheOneProcessBatches() {
        int n = 88;
        DistributedSampler s = new DistributedSampler(n, 16, 2, true, 11);
        DataLoader one = new DataLoader(ArrayDataset.withLabels(new float[n], new long[] {1}, new int[n]), 32, true, 11);
        for (int epoch = 0; epoch < 2; epoch++) {
            int[] order = s.order(epoch);
            assertArrayEquals(one.order(epoch), order);
            assertEquals(one.batchesPerEpoch(), s.batchesPerEpoch());
            for (int b = 0; b < s.batchesPerEpoch(); b++) {
                int[] joined = concat(s.batch(order, b, 0), s.batch(order, b, 1));
                assertArrayEquals(Arrays.copyOfRange(order, 32 * b, Math.min(n, 32 * b + 32)), joined);
            }
        }
        assertNotEquals(Arrays.toString(s.order(0)), Arrays.toString(s.order(1)), "a new shuffle every epoch");
    }

    @Test
    void badArgumentsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new DistributedSampler(0, 1, 1, true, 0));
        assertThrows(IllegalArgumentException.class, () -> new DistributedSampler(10, 0, 1, true, 0));
        assertThrows(IllegalArgumentException.class, () -> new DistributedSampler(10, 1, 0, true, 0));
    }

    private static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
