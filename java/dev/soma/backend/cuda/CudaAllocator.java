package dev.soma.backend.cuda;

import dev.soma.jni.CudaKernels;
import dev.soma.memory.HostMemoryBudget;
import dev.soma.memory.NativeAllocator;

/**
 * Device memory for a CUDA pool's segments: soma_cuda_malloc / soma_cuda_free (our C ABI, on a real or an
 * emulated device). Out of memory answers 0 so the pool can free its cache and retry; soma_cuda_malloc has
 * already cleared the error, so the next kernel launch does not report it. The emulated device's memory is host
 * memory behind a fixed cap: there each request is weighed against the host's ({@link HostMemoryBudget}) too, or a
 * large tensor on a small machine would end the JVM through the OOM killer.
 */
public final class CudaAllocator implements NativeAllocator {
    private final int device;
    /** The host's budget on the emulated device, else null. */
    private final HostMemoryBudget host;

    public CudaAllocator(int device) {
        this(device, dev.soma.backend.CudaProbe.result().emulated() ? HostMemoryBudget.system() : null);
    }

    /** On {@code device}, weighing every request against {@code host} too (null: not at all). */
    public CudaAllocator(int device, HostMemoryBudget host) {
        this.device = device;
        this.host = host;
    }

    @Override
    public long allocate(long bytes) {
        CudaStatus.runtime(CudaKernels.soma_cuda_set_device(device), "soma_cuda_set_device", this::deviceName);
        if (host != null && !host.take(bytes)) return 0;
        long[] out = new long[1];
        int status = CudaKernels.soma_cuda_malloc(bytes, out);
        if (status != 0 && host != null) host.notTaken(bytes); // 0: success
        if (status == CudaKernels.OUT_OF_MEMORY) return 0;
        CudaStatus.runtime(status, "soma_cuda_malloc", () -> bytes + " bytes on " + deviceName());
        return out[0];
    }

    @Override
    public long available() {
        return host != null ? host.available() : NativeAllocator.super.available();
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
