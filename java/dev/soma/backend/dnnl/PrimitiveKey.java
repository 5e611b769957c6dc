package dev.soma.backend.dnnl;

import java.util.Arrays;

/**
 * What identifies a primitive in a {@link PrimitiveCache}: a kind ("matmul", "conv_fwd", ...), a few ints
 * (data type, algorithm, flags) and any number of long arrays (dims, strides, kernel sizes, paddings), compared
 * by value. Build keys from everything that changes the primitive, and nothing that does not (addresses).
 */
public final class PrimitiveKey {
    private final String kind;
    private final int[] ints;
    private final long[][] arrays;
    private final int hash;

    public PrimitiveKey(String kind, int[] ints, long[]... arrays) {
        this.kind = kind;
        this.ints = ints.clone();
        this.arrays = new long[arrays.length][];
        for (int i = 0; i < arrays.length; i++) this.arrays[i] = arrays[i].clone();
        this.hash = 31 * (31 * kind.hashCode() + Arrays.hashCode(this.ints)) + Arrays.deepHashCode(this.arrays);
    }

    @Override
    public boolean equals(Object o) {
        if (this == o) return true;
        if (!(o instanceof PrimitiveKey k)) return false;
        return hash == k.hash && kind.equals(k.kind) && Arrays.equals(ints, k.ints) && Arrays.deepEquals(arrays, k.arrays);
    }

    @Override
    public int hashCode() {
        return hash;
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder(kind).append(Arrays.toString(ints));
        for (long[] a : arrays) sb.append(Arrays.toString(a));
        return sb.toString();
    }
}
