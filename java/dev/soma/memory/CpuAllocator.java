package dev.soma.memory;

import dev.soma.jni.CpuKernels;
import dev.soma.jni.NativeLibraries;

/**
 * 64-byte aligned host memory from our native library (aligned_alloc), for the CPU pool's segments. Linux overcommits:
 * malloc hands out more than the machine has and the OOM killer ends the JVM when the pages are written. So every
 * request is first weighed against the memory the process can still take ({@link HostMemory}), keeping a reserve for
 * the JVM's own growth, and answered 0 (out of memory, which the pool turns into a clear exception) when it does not
 * fit. A reading costs tens of microseconds, so small requests use an estimate instead: the last reading less what
 * this allocator handed out since (frees are not credited: memory freed is not always given back to the machine). It
 * is read again for every large request, after every {@link #REREAD_AFTER} handed out, and for every request once the
 * estimate runs low.
 */
public final class CpuAllocator implements NativeAllocator {
    static final long ALIGNMENT = 64;
    /** From this size on a request always reads the machine's memory: such an allocation costs more than the read. */
    static final long WEIGHED_FROM = 16L << 20;
    /** Bytes handed out since the last reading after which any request reads again (other processes change it too). */
    static final long REREAD_AFTER = 256L << 20;
    /** Below this estimated headroom every request reads again. */
    static final long LOW = 2L << 30;
    /** Kept free for the JVM's heap and threads, the native libraries' buffers and the rest of the machine. */
    static final long MAX_RESERVE = 512L << 20;

    private final HostMemory memory;
    private final long reserve;
    /** The last reading of available memory (none yet: false), and the bytes handed out since. */
    private boolean read;
    private long lastReading;
    private long handedOut;

    public CpuAllocator() {
        this(HostMemory.system());
    }

    CpuAllocator(HostMemory memory) {
        NativeLibraries.cpu();
        this.memory = memory;
        long total = memory.total();
        // A 512 MiB reserve would refuse everything in a 512 MiB container; there it is a sixteenth of the memory.
        this.reserve = total == HostMemory.UNKNOWN ? MAX_RESERVE : Math.min(MAX_RESERVE, total / 16);
    }

    long reserve() {
        return reserve;
    }

    @Override
    public synchronized long allocate(long bytes) {
        if (bytes > headroom(bytes) - reserve) return 0;
        long address = CpuKernels.soma_cpu_alloc(bytes, ALIGNMENT);
        if (address != 0) handedOut += bytes;
        return address;
    }

    /** Available bytes for a request of {@code bytes}: read now, or estimated from the last reading when that is safe. */
    private long headroom(long bytes) {
        long estimate = lastReading - handedOut;
        if (!read || bytes >= WEIGHED_FROM || handedOut >= REREAD_AFTER || estimate - bytes < LOW) {
            lastReading = memory.available();
            handedOut = 0;
            read = true;
            return lastReading;
        }
        return estimate;
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
