package dev.soma.custom;

import dev.soma.tensor.DType;

import java.util.Arrays;

/**
 * A tensor's values on the Java heap, row-major and contiguous, for a {@link CpuKernel.Host} kernel. Exactly one
 * of {@link #f32()}, {@link #f64()}, {@link #i32()} is non-null, matching {@link #dtype()}. Input arrays are
 * copies (writing them changes nothing); output arrays start at zero and are copied into the output tensor
 * after the kernel returns.
 */
public final class HostArray {
    private final DType dtype;
    private final long[] shape;
    private final float[] f32;
    private final double[] f64;
    private final int[] i32;

    HostArray(DType dtype, long[] shape, float[] f32, double[] f64, int[] i32) {
        this.dtype = dtype;
        this.shape = shape;
        this.f32 = f32;
        this.f64 = f64;
        this.i32 = i32;
    }

    static HostArray zeros(DType dtype, long[] shape) {
        int n = Math.toIntExact(numel(shape));
        return switch (dtype) {
            case F32 -> new HostArray(dtype, shape, new float[n], null, null);
            case F64 -> new HostArray(dtype, shape, null, new double[n], null);
            case I32 -> new HostArray(dtype, shape, null, null, new int[n]);
        };
    }

    public DType dtype() {
        return dtype;
    }

    public long[] shape() {
        return shape.clone();
    }

    public long size(int dim) {
        return shape[dim];
    }

    public int ndim() {
        return shape.length;
    }

    public int length() {
        return f32 != null ? f32.length : f64 != null ? f64.length : i32.length;
    }

    public float[] f32() {
        return f32;
    }

    public double[] f64() {
        return f64;
    }

    public int[] i32() {
        return i32;
    }

    /** Element i as a double, whatever the dtype: for kernels written once for every dtype. */
    public double get(int i) {
        return f32 != null ? f32[i] : f64 != null ? f64[i] : i32[i];
    }

    /** Stores v at i, rounded to the dtype (int32: truncated toward zero). */
    public void set(int i, double v) {
        if (f32 != null) f32[i] = (float) v;
        else if (f64 != null) f64[i] = v;
        else i32[i] = (int) v;
    }

    static long numel(long[] shape) {
        long n = 1;
        for (long s : shape) n = Math.multiplyExact(n, s);
        return n;
    }

    @Override
    public String toString() {
        return dtype + Arrays.toString(shape) + " (host)";
    }
}
