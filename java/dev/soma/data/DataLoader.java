package dev.soma.data;

import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.SplittableRandom;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;

/**
 * Batches a {@link Dataset}: seeded shuffling per epoch (the same seed gives the same order on every run)
 * and background prefetch of host batches, so gathering the next batch overlaps the current step.
 */
public final class DataLoader {
    private final Dataset dataset;
    private final int batchSize;
    private final boolean shuffle;
    private final long seed;
    private final int prefetch;

    public DataLoader(Dataset dataset, int batchSize, boolean shuffle, long seed) {
        this(dataset, batchSize, shuffle, seed, 2);
    }

    public DataLoader(Dataset dataset, int batchSize, boolean shuffle, long seed, int prefetch) {
        if (batchSize <= 0) throw new IllegalArgumentException("DataLoader: batchSize must be > 0, got " + batchSize);
        if (dataset.size() == 0) throw new IllegalArgumentException("DataLoader: the dataset is empty");
        this.dataset = dataset;
        this.batchSize = batchSize;
        this.shuffle = shuffle;
        this.seed = seed;
        this.prefetch = Math.max(0, prefetch);
    }

    public int batchesPerEpoch() {
        return (int) ((dataset.size() + (long) batchSize - 1) / batchSize); // long: a batch size near 2^31 must not wrap
    }

    public Dataset dataset() {
        return dataset;
    }

    /** The example order of an epoch. */
    public int[] order(int epoch) {
        int n = dataset.size();
        int[] idx = new int[n];
        for (int i = 0; i < n; i++) idx[i] = i;
        if (shuffle) {
            SplittableRandom r = new SplittableRandom(seed * 1_000_003L + epoch);
            for (int i = n - 1; i > 0; i--) {
                int j = r.nextInt(i + 1);
                int t = idx[i];
                idx[i] = idx[j];
                idx[j] = t;
            }
        }
        return idx;
    }

    /** The batches of one epoch, prefetched on a daemon thread. */
    public Iterator<Batch> epoch(int epoch) {
        int[] order = order(epoch);
        int batches = batchesPerEpoch();
        if (prefetch == 0) {
            return new Iterator<>() {
                int next;

                public boolean hasNext() {
                    return next < batches;
                }

                public Batch next() {
                    if (!hasNext()) throw new NoSuchElementException();
                    return gather(order, next++);
                }
            };
        }
        BlockingQueue<Object> queue = new ArrayBlockingQueue<>(prefetch);
        Thread producer = new Thread(() -> {
            try {
                for (int b = 0; b < batches; b++) queue.put(gather(order, b));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (RuntimeException e) {
                try {
                    queue.put(e);
                } catch (InterruptedException ignored) {
                    Thread.currentThread().interrupt();
                }
            }
        }, "soma-prefetch");
        producer.setDaemon(true);
        producer.start();
        return new Iterator<>() {
            int taken;

            public boolean hasNext() {
                return taken < batches;
            }

            public Batch next() {
                if (!hasNext()) throw new NoSuchElementException();
                try {
                    Object o = queue.take();
                    taken++;
                    if (o instanceof RuntimeException e) throw e;
                    return (Batch) o;
                } catch (InterruptedException e) {
                    producer.interrupt();
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("DataLoader: interrupted while waiting for a batch", e);
                }
            }
        };
    }

    private Batch gather(int[] order, int b) {
        int from = b * batchSize;
        int to = (int) Math.min(order.length, (long) from + batchSize);
        int[] idx = new int[to - from];
        System.arraycopy(order, from, idx, 0, idx.length);
        return dataset.gather(idx);
    }
}
