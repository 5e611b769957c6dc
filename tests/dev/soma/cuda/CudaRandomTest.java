package dev.soma.cuda;

import dev.soma.backend.Backend;
import dev.soma.backend.Backends;
import dev.soma.backend.RandomKernels.Distribution;
import dev.soma.memory.Scope;
import dev.soma.ops.Creation;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.List;
import java.util.SplittableRandom;

import static dev.soma.cuda.GpuTesting.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The CUDA Philox fill (cuda-kernels/random.cu) against the CPU backend, bit for bit: uniform and normal, f32 and
 * f64, several seeds (fresh random ones too) and streams, odd sizes (partial last Philox block), an unaligned output
 * (the element-wise store path) and a size that loops the grid; and the creation ops on cuda:0 against the CPU.
 */
@Tag("gpu")
@ExtendWith({NoLeaks.class, GpuSeeds.class})
class CudaRandomTest {
    private static final List<DType> DTYPES = List.of(DType.F32, DType.F64);
    private static final long[] SIZES = {1, 2, 3, 5, 7, 8, 13, 1001, 4099};

    /** Bit patterns of a tensor's values (f32 widened exactly to f64 keeps its bits distinct). */
    private static long[] bits(Tensor t) {
        double[] v = t.toDoubleArray();
        long[] b = new long[v.length];
        for (int i = 0; i < v.length; i++) b[i] = Double.doubleToRawLongBits(v[i]);
        return b;
    }

    private static void assertSameBits(Tensor expected, Tensor actual, String what) {
        long[] e = bits(expected);
        long[] a = bits(actual);
        assertEquals(e.length, a.length, what + ": element count");
        for (int i = 0; i < e.length; i++) {
            if (e[i] != a[i]) {
                fail(what + ": element " + i + " differs: CPU " + Double.longBitsToDouble(e[i]) + ", GPU "
                        + Double.longBitsToDouble(a[i]));
            }
        }
    }

    private static void checkFill(Backend gpu, Distribution dist, DType dtype, long n, long seed, long stream,
                                  double a, double b, boolean unaligned) {
        String what = dist + " " + dtype + " n=" + n + " seed=" + seed + " stream=" + stream + " (" + a + ", " + b
                + ")" + (unaligned ? " unaligned" : "");
        try (Scope s = Scope.open()) {
            Tensor ref = Tensor.empty(dtype, Device.cpu(), n);
            Backends.get(Device.cpu()).random().fill(dist, ref, seed, stream, a, b);
            Tensor out;
            if (unaligned) {
                Tensor wide = poisoned(dtype, n + 1);
                out = wide.viewOf(wide.offset() + 1, new long[] {n}, new long[] {1});
            } else {
                out = poisoned(dtype, n);
            }
            gpu.random().fill(dist, out, seed, stream, a, b);
            assertSameBits(ref, out, what);
        }
    }

    @Test
    void fillsEqualTheCpuBitForBit() {
        Backend gpu = gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        long[] seeds = {0, 42, (1L << 40) + 7, -1, r.nextLong()};
        long[] streams = {0, 3, (1L << 33) + 1};
        for (DType dtype : DTYPES) {
            for (Distribution dist : Distribution.values()) {
                double a = dist == Distribution.UNIFORM ? -2 : 3;
                double b = dist == Distribution.UNIFORM ? 6 : 0.5;
                for (long seed : seeds) {
                    for (long stream : streams) {
                        for (long n : SIZES) checkFill(gpu, dist, dtype, n, seed, stream, a, b, false);
                    }
                }
                checkFill(gpu, dist, dtype, 1001, 7, 0, 0, 1, true);
                checkFill(gpu, dist, dtype, 17, r.nextLong(), r.nextLong(), r.nextDouble() - 0.5, r.nextDouble(), false);
                checkFill(gpu, dist, dtype, 300_007, 11, 2, 0, 1, false);  // more blocks than one grid: the loop
            }
        }
        assertNoGpuLeak(before);
    }

    /** The public creation ops on cuda:0 give the CPU's tensors exactly. */
    @Test
    void creationOpsOnCudaEqualTheCpu() {
        gpu();
        long before = gpuLiveBytes();
        for (DType dtype : DTYPES) {
            try (Scope s = Scope.open()) {
                assertSameBits(Creation.rand(5, dtype, Device.cpu(), 3, 7), Creation.rand(5, dtype, GPU, 3, 7), "rand " + dtype);
                assertSameBits(Creation.randn(6, dtype, Device.cpu(), 5, 9), Creation.randn(6, dtype, GPU, 5, 9), "randn " + dtype);
                assertSameBits(Creation.uniform(7, -0.25, 0.75, dtype, Device.cpu(), 2, 3, 11),
                        Creation.uniform(7, -0.25, 0.75, dtype, GPU, 2, 3, 11), "uniform " + dtype);
                assertSameBits(Creation.normal(8, 1.5, 2, dtype, Device.cpu(), 101),
                        Creation.normal(8, 1.5, 2, dtype, GPU, 101), "normal " + dtype);
                assertEquals(GPU, Creation.randn(1, dtype, GPU, 4).device());
            }
        }
        assertNoGpuLeak(before);
    }
}
