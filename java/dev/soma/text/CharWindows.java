package dev.soma.text;

import dev.soma.data.Batch;
import dev.soma.data.Dataset;

import java.util.List;

/**
 * Next-character examples from one long id sequence: example i is the window of {@code length} ids starting at
 * {@code i * stride}, and its target is the same window shifted by one (the character after each position).
 * Inputs and targets are int32 {@code [batch, length]}.
 */
public final class CharWindows implements Dataset {
    private final int[] ids;
    private final int length;
    private final int stride;
    private final int count;

    public CharWindows(int[] ids, int length, int stride) {
        if (length < 1 || stride < 1) {
            throw new IllegalArgumentException("CharWindows: length and stride must be >= 1, got " + length + " and " + stride);
        }
        if (ids.length < (long) length + 1) { // long: length near 2^31 must not wrap
            throw new IllegalArgumentException("CharWindows: " + ids.length + " ids cannot fill one window of " + length
                    + " inputs plus the next-character target");
        }
        this.ids = ids;
        this.length = length;
        this.stride = stride;
        this.count = (int) (((long) ids.length - length - 1) / stride + 1);
    }

    /** Non-overlapping windows of {@code length} (stride = length). */
    public static CharWindows of(int[] ids, int length) {
        return new CharWindows(ids, length, length);
    }

    public int length() {
        return length;
    }

    @Override
    public int size() {
        return count;
    }

    @Override
    public Batch gather(int[] indices) {
        int b = indices.length;
        int[] x = new int[b * length];
        int[] y = new int[b * length];
        for (int i = 0; i < b; i++) {
            int k = indices[i];
            if (k < 0 || k >= count) throw new IndexOutOfBoundsException("CharWindows: window " + k + " outside [0, " + count + ")");
            System.arraycopy(ids, k * stride, x, i * length, length);
            System.arraycopy(ids, k * stride + 1, y, i * length, length);
        }
        long[] shape = {b, length};
        return new Batch(List.of(new Batch.HostArray(null, x, shape)), List.of(new Batch.HostArray(null, y, shape)));
    }
}
