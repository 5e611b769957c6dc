package dev.soma.ops;

import dev.soma.backend.RandomKernels.Distribution;
import dev.soma.errors.DTypeException;
import dev.soma.errors.ShapeException;
import dev.soma.errors.SomaException;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

/**
 * Tensors made from a rule rather than from data: ranges and seeded random numbers. Random tensors come from
 * the backend's counter-based Philox4x32-10 generator, so a seed gives the same values on every run, every
 * thread count and (once its kernel exists) on the GPU. Nothing here records for autograd: results are leaves.
 */
public final class Creation {
    private Creation() {}

    // ------------------------------------------------------------------ ranges

    /** {@code start, start + step, ...} up to but excluding {@code end}, as float32 on the CPU (NumPy's arange). */
    public static Tensor arange(double start, double end, double step) {
        return arange(start, end, step, DType.F32, Device.cpu());
    }

    public static Tensor arange(double start, double end, double step, DType dtype) {
        return arange(start, end, step, dtype, Device.cpu());
    }

    /** Element i is {@code start + i * step} (computed in double, then converted); ceil((end - start) / step) elements. */
    public static Tensor arange(double start, double end, double step, DType dtype, Device device) {
        String op = "arange";
        if (!Double.isFinite(start) || !Double.isFinite(end) || !Double.isFinite(step)) {
            throw new SomaException(op + ": start " + start + ", end " + end + " and step " + step + " must be finite");
        }
        if (step == 0) throw new ShapeException(op + ": step must not be 0 (start " + start + ", end " + end + ")");
        double count = Math.ceil((end - start) / step);
        long n = count <= 0 ? 0 : (long) count;
        if (count > Integer.MAX_VALUE - 8) {
            throw new ShapeException(op + ": [" + start + ", " + end + ") with step " + step + " has " + count
                    + " elements; at most " + (Integer.MAX_VALUE - 8) + " are supported");
        }
        int len = (int) n;
        Tensor out = Tensor.empty(dtype, device, n);
        try {
            switch (dtype) {
                case F32 -> {
                    float[] v = new float[len];
                    for (int i = 0; i < len; i++) v[i] = (float) (start + i * step);
                    out.backend().memory().write(out, v);
                }
                case F64 -> {
                    double[] v = new double[len];
                    for (int i = 0; i < len; i++) v[i] = start + i * step;
                    out.backend().memory().write(out, v);
                }
                case I32 -> out.backend().memory().write(out, intRange(op, start, end, step, len));
            }
        } catch (RuntimeException e) {
            out.close();
            throw e;
        }
        return out;
    }

    private static int[] intRange(String op, double start, double end, double step, int len) {
        if (start != Math.rint(start) || step != Math.rint(step)) {
            throw new DTypeException(op + ": int32 needs whole-number start and step, got start " + start
                    + ", step " + step);
        }
        double last = len == 0 ? start : start + (len - 1) * step;
        if (Math.min(start, last) < Integer.MIN_VALUE || Math.max(start, last) > Integer.MAX_VALUE) {
            throw new DTypeException(op + ": values from " + start + " to " + last + " do not fit in int32");
        }
        int[] v = new int[len];
        for (int i = 0; i < len; i++) v[i] = (int) (start + i * step);
        return v;
    }

    // ------------------------------------------------------------------ random

    /** Uniform in [0, 1), float32 on the CPU. */
    public static Tensor rand(long seed, long... shape) {
        return uniform(seed, 0, 1, DType.F32, Device.cpu(), shape);
    }

    public static Tensor rand(long seed, DType dtype, Device device, long... shape) {
        return uniform(seed, 0, 1, dtype, device, shape);
    }

    /** Standard normal, float32 on the CPU. */
    public static Tensor randn(long seed, long... shape) {
        return normal(seed, 0, 1, DType.F32, Device.cpu(), shape);
    }

    public static Tensor randn(long seed, DType dtype, Device device, long... shape) {
        return normal(seed, 0, 1, dtype, device, shape);
    }

    /** Uniform in [lo, hi) (hi itself can appear only through rounding), float32 on the CPU. */
    public static Tensor uniform(long seed, double lo, double hi, long... shape) {
        return uniform(seed, lo, hi, DType.F32, Device.cpu(), shape);
    }

    public static Tensor uniform(long seed, double lo, double hi, DType dtype, Device device, long... shape) {
        String op = "uniform";
        if (!Double.isFinite(lo) || !Double.isFinite(hi) || lo > hi || !Double.isFinite(hi - lo)) {
            throw new SomaException(op + ": bounds [" + lo + ", " + hi + ") must be finite with lo <= hi");
        }
        return random(op, Distribution.UNIFORM, seed, lo, hi, dtype, device, shape);
    }

    /** Normal with the given mean and standard deviation, float32 on the CPU. */
    public static Tensor normal(long seed, double mean, double std, long... shape) {
        return normal(seed, mean, std, DType.F32, Device.cpu(), shape);
    }

    public static Tensor normal(long seed, double mean, double std, DType dtype, Device device, long... shape) {
        String op = "normal";
        if (!Double.isFinite(mean) || !Double.isFinite(std) || std < 0) {
            throw new SomaException(op + ": mean " + mean + " and std " + std + " must be finite, std >= 0");
        }
        return random(op, Distribution.NORMAL, seed, mean, std, dtype, device, shape);
    }

    private static Tensor random(String op, Distribution dist, long seed, double a, double b, DType dtype,
                                 Device device, long[] shape) {
        if (!dtype.isFloating()) {
            throw new DTypeException(op + ": dtype " + dtype + " is not supported, expected float32 or float64");
        }
        long[] s = Shapes.checkShape(op, shape);
        Tensor out = Tensor.empty(dtype, device, s);
        out.backend().random().fill(dist, out, seed, 0, a, b);
        return out;
    }
}
