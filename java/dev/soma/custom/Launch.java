package dev.soma.custom;

import java.util.Arrays;

/**
 * How to launch a custom CUDA kernel once: grid and block dimensions, dynamic shared memory in bytes, and the
 * scalar arguments passed after the tensor pointers. A kernel's parameters are, in order: one pointer per
 * input, one pointer per output, then {@code args} (each an Integer, Long, Float or Double, passed as
 * int, long long, float or double).
 */
public record Launch(int[] grid, int[] block, int sharedBytes, Object[] args) {
    public Launch {
        grid = dims("grid", grid);
        block = dims("block", block);
        if (sharedBytes < 0) throw new IllegalArgumentException("Launch: shared memory must be >= 0 bytes, got " + sharedBytes);
        args = args == null ? new Object[0] : args.clone();
        for (Object a : args) {
            if (!(a instanceof Integer || a instanceof Long || a instanceof Float || a instanceof Double)) {
                throw new IllegalArgumentException("Launch: scalar arguments must be Integer, Long, Float or Double, got "
                        + (a == null ? "null" : a.getClass().getSimpleName()));
            }
        }
    }

    /**
     * One thread per element: {@code ceil(n / block)} blocks of {@code block} threads, no shared memory. The
     * kernel must check {@code i < n} itself (pass n as an argument).
     */
    public static Launch linear(long n, int block, Object... args) {
        if (block <= 0) throw new IllegalArgumentException("Launch.linear: block must be > 0, got " + block);
        long blocks = Math.max(1, (n + block - 1) / block);
        if (blocks > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("Launch.linear: " + n + " elements need " + blocks + " blocks of " + block
                    + ", more than a grid's x dimension allows");
        }
        return new Launch(new int[] {(int) blocks, 1, 1}, new int[] {block, 1, 1}, 0, args);
    }

    public long threadsPerBlock() {
        return (long) block[0] * block[1] * block[2];
    }

    private static int[] dims(String what, int[] d) {
        if (d == null || d.length < 1 || d.length > 3) {
            throw new IllegalArgumentException("Launch: " + what + " needs 1 to 3 dimensions, got "
                    + (d == null ? "null" : Arrays.toString(d)));
        }
        int[] out = {1, 1, 1};
        for (int i = 0; i < d.length; i++) {
            if (d[i] <= 0) throw new IllegalArgumentException("Launch: " + what + " dimensions must be > 0, got " + Arrays.toString(d));
            out[i] = d[i];
        }
        return out;
    }

    @Override
    public String toString() {
        return "grid " + Arrays.toString(grid) + ", block " + Arrays.toString(block) + ", shared " + sharedBytes + " B";
    }
}
