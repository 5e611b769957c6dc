package dev.soma.backend.cuda;

import dev.soma.memory.NativeAllocator;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.PointerPointer;

/**
 * Device memory for a CUDA pool's segments: cudaMalloc / cudaFree through the JavaCPP cuda preset (the same
 * runtime our kernel library links). Out of memory answers 0 so the pool can free its cache and retry.
 */
public final class CudaAllocator implements NativeAllocator {
    private final int device;

    public CudaAllocator(int device) {
        this.device = device;
    }

    @Override
    public long allocate(long bytes) {
        CudaStatus.checkRuntime(cudart.cudaSetDevice(device), "cudaSetDevice(" + device + ")");
        try (PointerPointer<?> out = new PointerPointer<>(1)) {
            int status = cudart.cudaMalloc(out, bytes);
            if (status == cudart.cudaErrorMemoryAllocation) {
                cudart.cudaGetLastError(); // clear it, so the next kernel launch does not report it
                return 0;
            }
            CudaStatus.checkRuntime(status, "cudaMalloc of " + bytes + " bytes on " + deviceName());
            return out.get(0).address();
        }
    }

    @Override
    public void free(long address) {
        CudaStatus.checkRuntime(cudart.cudaSetDevice(device), "cudaSetDevice(" + device + ")");
        CudaStatus.checkRuntime(cudart.cudaFree(new DevicePointer(address)), "cudaFree on " + deviceName());
    }

    @Override
    public String deviceName() {
        return "cuda:" + device;
    }
}
