package dev.soma.cuda;

import dev.soma.backend.Backend;
import dev.soma.backend.ElementwiseKernels.BinaryOp;
import dev.soma.backend.Transfers;
import dev.soma.errors.NativeException;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.SplittableRandom;

import static dev.soma.cuda.GpuTesting.*;
import static org.junit.jupiter.api.Assertions.*;

/** Device memory: host round trips, fills, strided copies, casts, accumulation, pool reuse and error reports. */
@Tag("gpu")
@ExtendWith({NoLeaks.class, GpuSeeds.class})
class CudaMemoryTest {
    @Test
    void hostRoundTripsKeepEveryBitInEachDtype() {
        Backend gpu = gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        try (Scope s = Scope.open()) {
            float[] f = gaussian(r, 70_001);
            Tensor tf = Tensor.empty(DType.F32, GPU, f.length);
            gpu.memory().write(tf, f);
            assertArrayEquals(f, tf.toFloatArray());
            double[] d = widen(gaussian(r, 513));
            for (int i = 0; i < d.length; i++) d[i] += 1e-9 * i;
            Tensor td = Tensor.empty(DType.F64, GPU, d.length);
            gpu.memory().write(td, d);
            assertArrayEquals(d, td.toDoubleArray());
            int[] n = new int[1025];
            for (int i = 0; i < n.length; i++) n[i] = r.nextInt();
            Tensor ti = Tensor.empty(DType.I32, GPU, n.length);
            gpu.memory().write(ti, n);
            assertArrayEquals(n, ti.toIntArray());
        }
        assertNoGpuLeak(before);
    }

    @Test
    void fillCastCopyAndAccumulateMatchTheHost() {
        Backend gpu = gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        try (Scope s = Scope.open()) {
            double v = r.nextDouble(-100, 100);
            Tensor filled = Tensor.full(v, DType.F64, GPU, 3, 333);
            for (double x : filled.toDoubleArray()) assertEquals(v, x);

            float[] f = uniform(r, 4 * 5 * 6, -50, 50);
            Tensor host = Tensor.of(f, 4, 5, 6);
            Tensor dev = Transfers.to(host, GPU);
            // Strided copy of a permuted view must equal the same copy on the CPU.
            assertArrayEquals(host.permute(2, 0, 1).copy().toFloatArray(), dev.permute(2, 0, 1).copy().toFloatArray());
            // Casts: f32 -> f64 exact, f32 -> i32 truncates toward zero.
            assertArrayEquals(widen(f), dev.to(DType.F64).toDoubleArray());
            int[] truncated = new int[f.length];
            for (int i = 0; i < f.length; i++) truncated[i] = (int) f[i];
            assertArrayEquals(truncated, dev.to(DType.I32).toIntArray());
            // Accumulate a strided view into a contiguous tensor: acc = 1 + x^T.
            Tensor acc = Tensor.ones(DType.F32, GPU, 6, 5, 4);
            acc.backend().memory().accumulate(acc, dev.permute(2, 1, 0));
            float[] t = host.permute(2, 1, 0).copy().toFloatArray();
            float[] got = acc.toFloatArray();
            for (int i = 0; i < t.length; i++) assertEquals(1f + t[i], got[i], 1e-5f, "element " + i);
        }
        assertNoGpuLeak(before);
    }

    /**
     * Copies that move the source's unit-stride axis take the tiled transpose (both axes >= 16): ragged tile edges,
     * batch axes on either side, a sliced (non-dense) source, and each element width, all equal to the CPU bit for bit.
     */
    @Test
    void transposingCopiesThroughTilesEqualTheHost() {
        gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        long[][] shapes = {{17, 33}, {64, 96}, {3, 50, 40}, {2, 3, 37, 19}};
        try (Scope s = Scope.open()) {
            for (long[] shape : shapes) {
                int n = (int) java.util.Arrays.stream(shape).reduce(1, (x, y) -> x * y);
                int k = shape.length;
                float[] f = gaussian(r, n);
                Tensor host = Tensor.of(f, shape);
                Tensor dev = host.to(GPU);
                // the last two axes swapped, and the unit-stride axis moved to the front
                assertArrayEquals(host.transpose(k - 2, k - 1).copy().toFloatArray(),
                        dev.transpose(k - 2, k - 1).copy().toFloatArray(), java.util.Arrays.toString(shape));
                int[] toFront = new int[k];
                toFront[0] = k - 1;
                for (int d = 1; d < k; d++) toFront[d] = d - 1;
                assertArrayEquals(host.permute(toFront).copy().toFloatArray(), dev.permute(toFront).copy().toFloatArray(),
                        "permute " + java.util.Arrays.toString(toFront) + " of " + java.util.Arrays.toString(shape));
                double[] d = widen(f);
                Tensor hd = Tensor.of(d, shape);
                assertArrayEquals(hd.transpose(k - 2, k - 1).copy().toDoubleArray(),
                        hd.to(GPU).transpose(k - 2, k - 1).copy().toDoubleArray());
                int[] ints = new int[n];
                for (int i = 0; i < n; i++) ints[i] = r.nextInt();
                Tensor hi = Tensor.ofInts(ints, shape);
                assertArrayEquals(hi.transpose(k - 2, k - 1).copy().toIntArray(),
                        hi.to(GPU).transpose(k - 2, k - 1).copy().toIntArray());
            }
            // A sliced source: rows 3..60 of a [64, 96] matrix, transposed (strides that do not coalesce).
            Tensor host = Tensor.of(gaussian(r, 64 * 96), 64, 96);
            Tensor slice = host.slice(0, 3, 61, 1);
            Tensor devSlice = host.to(GPU).slice(0, 3, 61, 1);
            assertArrayEquals(slice.transpose(0, 1).copy().toFloatArray(), devSlice.transpose(0, 1).copy().toFloatArray());
        }
        assertNoGpuLeak(before);
    }

    @Test
    void aSteadyLoopReusesCachedBlocks() {
        Backend gpu = gpu();
        long before = gpuLiveBytes();
        for (int step = 0; step < 5; step++) {
            try (Scope s = Scope.open()) {
                Tensor a = Tensor.ones(DType.F32, GPU, 1024, 1024);
                Tensor b = poisoned(DType.F32, 1024, 1024);
                gpu.elementwise().binary(BinaryOp.ADD, a, a, b);
                assertEquals(2.0, last(b));
            }
        }
        long natives = gpu.pool().stats().nativeAllocations();
        for (int step = 0; step < 3; step++) {
            try (Scope s = Scope.open()) {
                Tensor a = Tensor.ones(DType.F32, GPU, 1024, 1024);
                Tensor b = poisoned(DType.F32, 1024, 1024);
                gpu.elementwise().binary(BinaryOp.MUL, a, a, b);
            }
        }
        assertEquals(natives, gpu.pool().stats().nativeAllocations(), "a steady loop called cudaMalloc again");
        assertNoGpuLeak(before);
    }

    @Test
    void aKernelErrorBecomesANativeExceptionNamingTheKernelOpAndShapes() {
        Backend gpu = gpu();
        long before = gpuLiveBytes();
        try (Scope s = Scope.open()) {
            // int32 has no division: the kernel reports cudaErrorInvalidValue (ops reject it earlier).
            Tensor a = Tensor.zeros(DType.I32, GPU, 2, 3);
            Tensor out = Tensor.empty(DType.I32, GPU, 2, 3);
            NativeException e = assertThrows(NativeException.class,
                    () -> gpu.elementwise().binary(BinaryOp.DIV, a, a, out));
            assertTrue(e.getMessage().contains("soma_cuda_binary DIV"), e.getMessage());
            assertTrue(e.getMessage().contains("int32[2, 3] on cuda:0"), e.getMessage());
            assertTrue(e.getMessage().contains("invalid argument"), e.getMessage());
            // The failure is not sticky: the device still works.
            Tensor f = Tensor.ones(DType.F32, GPU, 4);
            assertArrayEquals(new float[] {1, 1, 1, 1}, f.toFloatArray());
        }
        assertNoGpuLeak(before);
    }

    @Test
    void describesItsDevice() {
        // Every kernel family has CUDA kernels now; none answers "not implemented".
        Backend gpu = gpu();
        assertTrue(gpu.describe().startsWith("cuda:0: "), gpu.describe());
        assertEquals(Device.cuda(0), gpu.device());
    }
}
