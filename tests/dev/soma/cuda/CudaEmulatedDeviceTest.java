package dev.soma.cuda;

import dev.soma.backend.Backend;
import dev.soma.backend.CudaProbe;
import dev.soma.errors.OutOfMemoryException;
import dev.soma.jni.CudaKernels;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.bytedeco.javacpp.BytePointer;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import static dev.soma.cuda.GpuTesting.*;
import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The device as the probe and the pool see it: the emulated device under SOMA_CUDA_EMULATE=1 (one device,
 * flagged and described as emulated), and on any device a cudaMalloc beyond its memory becoming the pool's
 * out-of-memory exception with statistics, after which the device still works and nothing is left live; and
 * the runtime entries of soma.h that the backend does not call yet (pinned memory, streams, events).
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

    /** The runtime entries the backend does not use yet: pinned memory, memset, async copies on a stream, events. */
    @Test
    void pinnedMemoryStreamsEventsAndAsyncCopiesWork() {
        gpu();
        int bytes = 4096;
        long[] dev = new long[2];
        long[] host = new long[1];
        long[] stream = new long[1];
        long[] start = new long[1];
        long[] end = new long[1];
        long[] filled = new long[1];
        float[] ms = {-1};
        assertEquals(0, CudaKernels.soma_cuda_set_device(0));
        assertEquals(0, CudaKernels.soma_cuda_malloc(bytes, dev));
        long a = dev[0];
        assertEquals(0, CudaKernels.soma_cuda_malloc(bytes, dev));
        long b = dev[0];
        assertEquals(0, CudaKernels.soma_cuda_host_alloc(bytes, host));
        assertEquals(0, CudaKernels.soma_cuda_stream_create(stream));
        assertEquals(0, CudaKernels.soma_cuda_event_create(start));
        assertEquals(0, CudaKernels.soma_cuda_event_create(end));
        assertEquals(0, CudaKernels.soma_cuda_event_create(filled));
        try {
            assertEquals(0, CudaKernels.soma_cuda_event_record(start[0], stream[0]));
            assertEquals(0, CudaKernels.soma_cuda_memset(a, 0x5a, bytes));
            assertEquals(0, CudaKernels.soma_cuda_memcpy(b, a, bytes, CudaKernels.DEVICE_TO_DEVICE));
            // memset and the device-to-device copy run on the legacy default stream without the host waiting, and
            // our stream is non-blocking: it must wait for them through an event before it reads b.
            assertEquals(0, CudaKernels.soma_cuda_event_record(filled[0], 0L));
            assertEquals(0, CudaKernels.soma_cuda_stream_wait_event(stream[0], filled[0]));
            assertEquals(0, CudaKernels.soma_cuda_memcpy_async(host[0], b, bytes, CudaKernels.DEVICE_TO_HOST, stream[0]));
            assertEquals(0, CudaKernels.soma_cuda_event_record(end[0], stream[0]));
            assertEquals(0, CudaKernels.soma_cuda_stream_synchronize(stream[0]));
            assertEquals(0, CudaKernels.soma_cuda_event_synchronize(end[0]));
            assertEquals(0, CudaKernels.soma_cuda_event_elapsed_ms(ms, start[0], end[0]));
            assertTrue(ms[0] >= 0, "elapsed " + ms[0] + " ms");
            byte[] got = new byte[bytes];
            try (BytePointer pinned = new BytePointer() { { address = host[0]; limit = bytes; capacity = bytes; } }) {
                pinned.get(got);
            }
            for (int i = 0; i < bytes; i++) assertEquals(0x5a, got[i], "byte " + i);
            // A copy kind outside soma.h's three is refused, not guessed.
            assertEquals(1, CudaKernels.soma_cuda_memcpy(b, a, bytes, 7));
        } finally {
            assertEquals(0, CudaKernels.soma_cuda_event_destroy(start[0]));
            assertEquals(0, CudaKernels.soma_cuda_event_destroy(end[0]));
            assertEquals(0, CudaKernels.soma_cuda_event_destroy(filled[0]));
            assertEquals(0, CudaKernels.soma_cuda_stream_destroy(stream[0]));
            assertEquals(0, CudaKernels.soma_cuda_host_free(host[0]));
            assertEquals(0, CudaKernels.soma_cuda_free(a));
            assertEquals(0, CudaKernels.soma_cuda_free(b));
        }
        assertEquals(0, CudaKernels.soma_cuda_device_synchronize());
    }
}
