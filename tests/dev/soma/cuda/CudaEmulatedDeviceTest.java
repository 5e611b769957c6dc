package dev.soma.cuda;

import dev.soma.backend.Backend;
import dev.soma.backend.CudaProbe;
import dev.soma.errors.OutOfMemoryException;
import dev.soma.jni.CudaKernels;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import static dev.soma.cuda.GpuTesting.*;
import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The device as the probe and the pool see it: the emulated device under SOMA_CUDA_EMULATE=1 (one device,
 * flagged and described as emulated), and on any device a cudaMalloc beyond its memory becoming the pool's
 * out-of-memory exception with statistics, after which the device still works and nothing is left live.
 */
@Tag("gpu")
@ExtendWith(NoLeaks.class)
class CudaEmulatedDeviceTest {
    @Test
    void theEmulatedDeviceIsOneDeviceFlaggedAndDescribedAsEmulated() {
        assumeTrue(CudaProbe.emulationRequested(), "SOMA_CUDA_EMULATE=1 is not set (the gpu-emulated execution sets it)");
        CudaProbe.Result r = CudaProbe.result();
        assertTrue(r.usable(), r.reason());
        assertTrue(r.emulated());
        assertEquals(1, r.deviceCount());
        assertEquals("ok", r.reason());
        assertEquals(CudaKernels.EMULATED, CudaKernels.soma_cuda_built());
        String d = CudaProbe.devices().get(0);
        assertTrue(d.startsWith("cuda:0: ") && d.contains("(emulated on the CPU)") && d.contains("cuDNN not available"), d);
        assertTrue(CudaKernels.soma_cuda_build_info().startsWith("emulated"), CudaKernels.soma_cuda_build_info());
    }

    @Test
    void aMallocBeyondTheDeviceIsThePoolsOutOfMemoryWithStatistics() {
        Backend gpu = gpu();
        long before = gpuLiveBytes();
        long[] free = new long[1];
        long[] total = new long[1];
        assertEquals(0, CudaKernels.soma_cuda_mem_info(free, total));
        assertTrue(total[0] > 0, "device memory " + total[0]);
        long retries = gpu.pool().stats().oomRetries();
        long elements = (total[0] + (1L << 30)) / 4;
        try (Scope s = Scope.open()) {
            OutOfMemoryException e = assertThrows(OutOfMemoryException.class,
                    () -> Tensor.empty(DType.F32, GPU, elements));
            assertTrue(e.getMessage().startsWith("pool[cuda:0]: out of memory allocating "), e.getMessage());
            assertTrue(e.getMessage().contains("the device's memory"), e.getMessage());
            assertTrue(e.poolStatistics().contains("oomRetries="), e.poolStatistics());
            assertEquals(retries + 1, gpu.pool().stats().oomRetries(), "the pool freed its cache and retried once");
            // The failed cudaMalloc left no sticky error: the next kernel and copy succeed.
            Tensor ok = Tensor.full(3.0, DType.F32, GPU, 5);
            assertArrayEquals(new float[] {3, 3, 3, 3, 3}, ok.toFloatArray());
        }
        assertNoGpuLeak(before);
    }
}
