package dev.soma.backend.cuda;

import dev.soma.jni.CudaKernels;
import dev.soma.memory.NativeAllocator;

/**
 * Device memory for a CUDA pool's segments: soma_cuda_malloc / soma_cuda_free (our C ABI, on a real or an
 * emulated device). Out of memory answers 0 so the pool can free its cache and retry; soma_cuda_malloc has
 * already cleared the error, so the next kernel launch does not report it.
 */
public final class CudaAllocator implements NativeAllocator {
    private final int device;

    public CudaAllocator(int device) {
        this.device = device;
    }

    @Override
    public long allocate(long bytes) {
        CudaStatus.runtime(CudaKernels.soma_cuda_set_device(device), "soma_cuda_set_device", this::deviceName);
        long[] out = new long[1];
        int status = CudaKernels.soma_cuda_malloc(bytes, out);
        if (status == CudaKernels.OUT_OF_MEMORY) return 0;
        CudaStatus.runtime(status, "soma_cuda_malloc", () -> bytes + " bytes on " + deviceName());
        return out[0];
    }

    @Override
    public void free(long address) {
        CudaStatus.runtime(CudaKernels.soma_cuda_set_device(device), "soma_cuda_set_device", this::deviceName);
        CudaStatus.runtime(CudaKernels.soma_cuda_free(address), "soma_cuda_free",
                () -> "0x" + Long.toHexString(address) + " on " + deviceName());
    }

    @Override
    public String deviceName() {
        return "cuda:" + device;
    }
}
