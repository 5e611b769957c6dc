package dev.soma.memory;

import dev.soma.jni.CpuKernels;
import dev.soma.jni.NativeLibraries;

/**
 * 64-byte aligned host memory from our native library (aligned_alloc), for the CPU pool's segments. Every request is
 * first weighed against the memory the process can still take ({@link HostMemoryBudget}: Linux overcommits, and the OOM
 * killer would end the JVM when the pages are written), and answered 0 (out of memory, which the pool turns into a
 * clear exception) when it does not fit.
 */
public final class CpuAllocator implements NativeAllocator {
    static final long ALIGNMENT = 64;
    static final long MAX_RESERVE = HostMemoryBudget.MAX_RESERVE;

    private final HostMemoryBudget budget;

    public CpuAllocator() {
        this(HostMemoryBudget.system());
    }

    CpuAllocator(HostMemory memory) {
        this(new HostMemoryBudget(memory));
    }

    private CpuAllocator(HostMemoryBudget budget) {
        NativeLibraries.cpu();
        this.budget = budget;
    }

    long reserve() {
        return budget.reserve();
    }

    @Override
    public long allocate(long bytes) {
        if (!budget.take(bytes)) return 0;
        long address = CpuKernels.soma_cpu_alloc(bytes, ALIGNMENT);
        if (address == 0) budget.notTaken(bytes);
        return address;
    }

    @Override
    public void free(long address) {
        CpuKernels.soma_cpu_free(address);
    }

    @Override
    public String deviceName() {
        return "cpu";
    }

    @Override
    public long available() {
        return budget.available();
    }
}
