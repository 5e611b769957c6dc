package dev.soma.data;

/** Random access to examples: what a {@link DataLoader} batches. */
public interface Dataset {
    int size();

    /** Gathers the examples at {@code indices} (in that order) into one batch. */
    Batch gather(int[] indices);

    /** Examples [from, to) as a dataset of their own (no copy where possible). */
    default Dataset range(int from, int to) {
        Dataset self = this;
        if (from < 0 || to > size() || from > to) {
            throw new IllegalArgumentException("Dataset.range: [" + from + ", " + to + ") is outside [0, " + size() + ")");
        }
        return new Dataset() {
            public int size() {
                return to - from;
            }

            public Batch gather(int[] indices) {
                int[] shifted = new int[indices.length];
                for (int i = 0; i < indices.length; i++) shifted[i] = indices[i] + from;
                return self.gather(shifted);
            }
        };
    }
}
