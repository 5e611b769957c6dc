package dev.soma.memory;

import dev.soma.jni.CpuKernels;
import dev.soma.jni.NativeLibraries;

/** 64-byte aligned host memory from our native library (aligned_alloc), for the CPU pool's segments. */
public final class CpuAllocator implements NativeAllocator {
    static final long ALIGNMENT = 64;

    public CpuAllocator() {
        NativeLibraries.cpu();
    }

    @Override
    public long allocate(long bytes) {
        return CpuKernels.soma_cpu_alloc(bytes, ALIGNMENT);
    }

    @Override
    public void free(long address) {
        CpuKernels.soma_cpu_free(address);
    }

    @Override
    public String deviceName() {
        return "cpu";
    }
}
