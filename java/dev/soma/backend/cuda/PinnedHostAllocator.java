package dev.soma.backend.cuda;

import dev.soma.jni.CudaKernels;
import dev.soma.memory.HostMemoryBudget;
import dev.soma.memory.NativeAllocator;

/**
 * Page-locked host memory (cudaMallocHost) for the staging buffers of host transfers: the GPU copies from and to
 * it asynchronously, which pageable memory does not allow. Segments are cached by a pool like device memory. It is
 * host memory: each request is weighed against the host's ({@link HostMemoryBudget}) first.
 */
final class PinnedHostAllocator implements NativeAllocator {
    private final int device;

    PinnedHostAllocator(int device) {
        this.device = device;
    }

    @Override
    public long allocate(long bytes) {
        CudaStatus.runtime(CudaKernels.soma_cuda_set_device(device), "soma_cuda_set_device", this::deviceName);
        if (!HostMemoryBudget.system().take(bytes)) return 0;
        long[] out = new long[1];
        int status = CudaKernels.soma_cuda_host_alloc(bytes, out);
        if (status != 0) HostMemoryBudget.system().notTaken(bytes);
        if (status == CudaKernels.OUT_OF_MEMORY) return 0;
        CudaStatus.runtime(status, "soma_cuda_host_alloc", () -> bytes + " bytes of pinned host memory for " + deviceName());
        return out[0];
    }

    @Override
    public void free(long address) {
        CudaStatus.runtime(CudaKernels.soma_cuda_host_free(address), "soma_cuda_host_free",
                () -> "0x" + Long.toHexString(address) + " (" + deviceName() + ")");
    }

    @Override
    public long available() {
        return HostMemoryBudget.system().available();
    }

    @Override
    public String deviceName() {
        return "cuda:" + device + " pinned host";
    }
}
