package dev.soma.privacy;

import java.util.SplittableRandom;

/**
 * The batches of DP-SGD: every example joins a step's batch independently with probability q = batchSize / N, so
 * batch sizes vary (and may be 0) — the sampling the RDP accountant's sampled Gaussian mechanism assumes. Seeded
 * per (seed, epoch, step), so a resumed run draws the same batches as an unbroken one.
 */
public final class PoissonSampler {
    private final int size;
    private final double q;
    private final long seed;

    public PoissonSampler(int size, int batchSize, long seed) {
        if (size <= 0) throw new IllegalArgumentException("PoissonSampler: the dataset is empty");
        if (batchSize <= 0 || batchSize > size) {
            throw new IllegalArgumentException("PoissonSampler: batchSize must be in [1, " + size + "] (the dataset size), got " + batchSize);
        }
        this.size = size;
        this.q = (double) batchSize / size;
        this.seed = seed;
    }

    public double samplingRate() {
        return q;
    }

    /** Steps per epoch: N / batchSize rounded, so an epoch sees each example once on average (as Opacus). */
    public int stepsPerEpoch() {
        return (int) Math.max(1, Math.round(1 / q));
    }

    /** {@link #stepsPerEpoch()} of a sampler over {@code size} examples at expected batch {@code batchSize}. */
    public static int stepsPerEpoch(int size, int batchSize) {
        return (int) Math.max(1, Math.round(1 / ((double) batchSize / size))); // the same q as the constructor's
    }

    /** The indices of step {@code step} of epoch {@code epoch}, ascending. */
    public int[] sample(int epoch, int step) {
        SplittableRandom r = new SplittableRandom(mix(seed, epoch, step));
        int[] buf = new int[Math.min(size, 16)];
        int n = 0;
        for (int i = 0; i < size; i++) {
            if (r.nextDouble() < q) {
                if (n == buf.length) buf = java.util.Arrays.copyOf(buf, Math.min(size, buf.length * 2));
                buf[n++] = i;
            }
        }
        return java.util.Arrays.copyOf(buf, n);
    }

    static long mix(long seed, long a, long b) {
        long h = seed * 0x9E3779B97F4A7C15L + a;
        h = (h ^ (h >>> 31)) * 0xBF58476D1CE4E5B9L + b;
        h = (h ^ (h >>> 29)) * 0x94D049BB133111EBL;
        return h ^ (h >>> 32);
    }
}
