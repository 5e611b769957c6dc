package dev.soma.privacy;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** DP-SGD's batches are Poisson samples: each example in independently with probability q, sizes vary. */
class PoissonSamplerTest {
    @Test
    void inclusionFrequencyIsQAndBatchSizeVarianceIsBinomial() {
        int n = 200;
        PoissonSampler s = new PoissonSampler(n, 20, 7);   // q = 0.1, 10 steps per epoch
        assertEquals(0.1, s.samplingRate(), 0);
        assertEquals(10, s.stepsPerEpoch());
        int[] count = new int[n];
        int draws = 0;
        double sum = 0, sumSq = 0;
        for (int epoch = 0; epoch < 400; epoch++) {
            for (int step = 0; step < s.stepsPerEpoch(); step++) {
                int[] b = s.sample(epoch, step);
                for (int i = 1; i < b.length; i++) assertTrue(b[i] > b[i - 1], "ascending, no repeats");
                for (int i : b) count[i]++;
                sum += b.length;
                sumSq += (double) b.length * b.length;
                draws++;
            }
        }
        // Each example's inclusion count is Binomial(4000, 0.1): mean 400, sd 19. All within 5 sd; their mean close.
        double meanFreq = 0;
        for (int c : count) {
            assertEquals(400, c, 5 * 19, "inclusions of one example");
            meanFreq += c / (double) draws / n;
        }
        assertEquals(0.1, meanFreq, 0.002);
        double mean = sum / draws;
        double var = sumSq / draws - mean * mean;
        assertEquals(n * 0.1, mean, 0.2);
        assertEquals(n * 0.1 * 0.9, var, 0.1 * n * 0.1 * 0.9, "batch size variance N q (1 - q), not 0 as fixed batches");
    }

    @Test
    void sameSeedEpochAndStepGiveTheSameBatch() {
        PoissonSampler a = new PoissonSampler(100, 10, 3);
        PoissonSampler b = new PoissonSampler(100, 10, 3);
        assertArrayEquals(a.sample(4, 2), b.sample(4, 2));
        assertFalse(java.util.Arrays.equals(a.sample(4, 2), a.sample(4, 3)), "another step draws another batch");
    }

    @Test
    void refusesBadSizes() {
        assertThrows(IllegalArgumentException.class, () -> new PoissonSampler(0, 1, 0));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new PoissonSampler(10, 11, 0));
        assertTrue(e.getMessage().contains("batchSize"), e.getMessage());
    }
}
