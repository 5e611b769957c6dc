package dev.soma.memory;

import dev.soma.jni.CpuKernels;
import dev.soma.jni.NativeLibraries;

/**
 * 64-byte aligned host memory from our native library (aligned_alloc), for the CPU pool's segments. Linux overcommits:
 * malloc hands out more than the machine has and the OOM killer ends the JVM when the pages are written. So a large
 * request is first weighed against the memory the process can still take ({@link HostMemory}), keeping a reserve for
 * the JVM's own growth, and answered 0 (out of memory, which the pool turns into a clear exception) when it does not fit.
 */
public final class CpuAllocator implements NativeAllocator {
    static final long ALIGNMENT = 64;
    /** Below this a request is not weighed: reading the machine's memory costs more than such an allocation. */
    static final long WEIGHED_FROM = 16L << 20;
    /** Left free for the JVM's heap and threads, the native libraries' own buffers and the rest of the machine. */
    static final long RESERVE = 512L << 20;

    private final HostMemory memory;

    public CpuAllocator() {
        this(HostMemory.system());
    }

    CpuAllocator(HostMemory memory) {
        NativeLibraries.cpu();
        this.memory = memory;
    }

    @Override
    public long allocate(long bytes) {
        if (bytes >= WEIGHED_FROM && bytes > memory.available() - RESERVE) return 0;
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

    @Override
    public long available() {
        return memory.available();
    }
}
