package dev.soma.distributed;

import java.util.SplittableRandom;

/**
 * Which examples each rank trains on, batch by batch. Every rank draws the same permutation of the epoch (the seed
 * and the epoch number make it, exactly as {@link dev.soma.data.DataLoader#order} does for one process), cuts it into
 * global batches of {@code batchPerRank * ranks} examples and gives rank r the r-th contiguous part of each global
 * batch. So every example goes to exactly one rank per epoch, and the union of the ranks' batch b is the one-process
 * batch b of size {@code batchPerRank * ranks}: the data-parallel run sees the one-process run's batches.
 *
 * <p>The last global batch may be short: it is split as evenly as possible (part sizes differ by at most one; a
 * rank may get none when fewer examples than ranks are left). Each rank's gradient is weighted by its
 * {@link #share} of the global batch, so the weighted sum equals the gradient of the global batch's mean loss.
 */
public final class DistributedSampler {
    private final int size;
    private final int batchPerRank;
    private final int ranks;
    private final boolean shuffle;
    private final long seed;

    public DistributedSampler(int size, int batchPerRank, int ranks, boolean shuffle, long seed) {
        if (size <= 0) throw new IllegalArgumentException("DistributedSampler: the dataset is empty");
        if (batchPerRank <= 0) throw new IllegalArgumentException("DistributedSampler: batch per rank must be > 0, got " + batchPerRank);
        if (ranks <= 0) throw new IllegalArgumentException("DistributedSampler: ranks must be > 0, got " + ranks);
        this.size = size;
        this.batchPerRank = batchPerRank;
        this.ranks = ranks;
        this.shuffle = shuffle;
        this.seed = seed;
    }

    /** Global batches per epoch: every rank runs this many steps (some of the last may be empty). */
    public int batchesPerEpoch() {
        long global = (long) batchPerRank * ranks;
        return (int) ((size + global - 1) / global);
    }

    /** The epoch's permutation: the same on every rank and equal to DataLoader's for the same seed. */
    public int[] order(int epoch) {
        int[] idx = new int[size];
        for (int i = 0; i < size; i++) idx[i] = i;
        if (shuffle) {
            SplittableRandom r = new SplittableRandom(seed * 1_000_003L + epoch);
            for (int i = size - 1; i > 0; i--) {
                int j = r.nextInt(i + 1);
                int t = idx[i];
                idx[i] = idx[j];
                idx[j] = t;
            }
        }
        return idx;
    }

    /** The number of examples in global batch {@code b}. */
    public int globalBatchSize(int b) {
        long global = (long) batchPerRank * ranks;
        return (int) Math.min(global, size - b * global);
    }

    /** Rank {@code rank}'s examples of global batch {@code b} of an epoch whose order is {@code order}. */
    public int[] batch(int[] order, int b, int rank) {
        int from = (int) ((long) b * batchPerRank * ranks);
        int n = globalBatchSize(b);
        int start = from + partStart(n, rank);
        int[] idx = new int[partStart(n, rank + 1) - partStart(n, rank)];
        System.arraycopy(order, start, idx, 0, idx.length);
        return idx;
    }

    /** Rank {@code rank}'s weight in global batch {@code b}: its example count over the batch's. */
    public double share(int b, int rank) {
        int n = globalBatchSize(b);
        return (double) (partStart(n, rank + 1) - partStart(n, rank)) / n;
    }

    /** Where rank {@code rank}'s examples start inside global batch {@code b} (its first row in the global batch). */
    public int offset(int b, int rank) {
        return partStart(globalBatchSize(b), rank);
    }

    /** Where rank r's part of a global batch of n examples starts (even split, earlier ranks take the extra ones). */
    private int partStart(int n, int r) {
        return partStart(n, r, ranks);
    }

    private static int partStart(int n, int r, int ranks) {
        int base = n / ranks, extra = n % ranks;
        return r * base + Math.min(r, extra);
    }

    /**
     * Rank {@code rank}'s contiguous part of {@code global}, split over {@code ranks} as {@link #batch} splits a
     * global batch: for a batch every rank drew alike, such as DP-SGD's Poisson sample.
     */
    public static int[] part(int[] global, int rank, int ranks) {
        if (ranks <= 0 || rank < 0 || rank >= ranks) {
            throw new IllegalArgumentException("DistributedSampler.part: rank " + rank + " of " + ranks + " ranks");
        }
        return java.util.Arrays.copyOfRange(global, partStart(global.length, rank, ranks),
                partStart(global.length, rank + 1, ranks));
    }
}
