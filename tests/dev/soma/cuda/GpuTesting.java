package dev.soma.cuda;

import dev.soma.backend.Backend;
import dev.soma.backend.Backends;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.UsableGpu;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Helpers for GPU tests: skip without a device, fresh random data, NaN-poisoned outputs, CPU twins. */
final class GpuTesting {
    static final Device GPU = Device.cuda(0);

    private GpuTesting() {}

    /**
     * Skips the calling test (JUnit assumption) unless a CUDA device and our kernels are usable: a real one, or
     * the emulated one under SOMA_CUDA_EMULATE=1 (the gpu-emulated Surefire execution).
     */
    static Backend gpu() {
        UsableGpu.required();
        return Backends.get(GPU);
    }

    /**
     * A new seed per call, so every run draws fresh inputs; a test class with {@code @ExtendWith(GpuSeeds.class)} names
     * the seeds in its failure and can replay them.
     */
    static SplittableRandom random() {
        return GpuSeeds.draw();
    }

    static float[] gaussian(SplittableRandom r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) r.nextGaussian();
        return v;
    }

    static float[] uniform(SplittableRandom r, int n, double lo, double hi) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (lo + (hi - lo) * r.nextDouble());
        return v;
    }

    /** Small integers, so comparisons see ties. */
    static float[] smallInts(SplittableRandom r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = r.nextInt(-2, 3);
        return v;
    }

    /** Magnitudes in [0.5, 2] with random signs: safe divisors. */
    static float[] awayFromZero(SplittableRandom r, int n) {
        float[] v = uniform(r, n, 0.5, 2);
        for (int i = 0; i < n; i++) if (r.nextBoolean()) v[i] = -v[i];
        return v;
    }

    static double[] widen(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }

    static long numel(long[] shape) {
        long n = 1;
        for (long s : shape) n *= s;
        return n;
    }

    /** The last element of a contiguous tensor, read without copying the rest to the host. */
    static double last(Tensor t) {
        long[] one = {1};
        try (Tensor v = t.viewOf(t.offset() + t.numel() - 1, one, one)) {
            return v.toDoubleArray()[0];
        }
    }

    /** An uninitialised CUDA tensor filled with NaN, so a kernel that skips an element cannot pass. */
    static Tensor poisoned(DType dtype, long... shape) {
        Tensor t = Tensor.empty(dtype, GPU, shape);
        t.backend().memory().fill(t, Double.NaN);
        return t;
    }

    static long gpuLiveBytes() {
        return Backends.get(GPU).pool().stats().allocatedBytes();
    }

    static void assertNoGpuLeak(long before) {
        assertEquals(before, gpuLiveBytes(), () -> "live bytes in the CUDA pool changed (leak): "
                + Backends.get(GPU).pool().stats());
    }

    /** The arrays one after another. */
    static double[] concat(double[]... parts) {
        int n = 0;
        for (double[] p : parts) n += p.length;
        double[] out = new double[n];
        int at = 0;
        for (double[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }
}
