package dev.soma.memory;

/**
 * The host memory this process may still take, weighed before each allocation of it: the CPU pool's segments, the
 * CUDA backend's pinned staging buffers and, on the emulated CUDA device, its "device" memory (which is host memory).
 * Linux overcommits: malloc hands out more than the machine has and the OOM killer ends the JVM when the pages are
 * written, so a request that would leave less than a reserve for the JVM's own growth is answered "does not fit"
 * instead, which the pools turn into a clear out-of-memory exception.
 *
 * <p>A reading costs tens of microseconds, so small requests use an estimate: the last reading less what was handed
 * out since (frees are not credited: memory freed is not always given back to the machine). It is read again for every
 * large request, after every {@link #REREAD_AFTER} handed out, and for every request once the estimate runs low. One
 * budget serves every allocator of the process ({@link #system()}): they draw on the same memory.
 */
public final class HostMemoryBudget {
    /** From this size on a request always reads the machine's memory: such an allocation costs more than the read. */
    static final long WEIGHED_FROM = 16L << 20;
    /** Bytes handed out since the last reading after which any request reads again (other processes change it too). */
    static final long REREAD_AFTER = 256L << 20;
    /** Below this estimated headroom every request reads again. */
    static final long LOW = 2L << 30;
    /** Kept free for the JVM's heap and threads, the native libraries' buffers and the rest of the machine. */
    static final long MAX_RESERVE = 512L << 20;

    private static final HostMemoryBudget SYSTEM = new HostMemoryBudget(HostMemory.system());

    private final HostMemory memory;
    private final long reserve;
    /** The last reading of available memory (none yet: false), and the bytes handed out since. */
    private boolean read;
    private long lastReading;
    private long handedOut;

    /** The budget of the machine {@code memory} reads (the system's is {@link #system()}). */
    public HostMemoryBudget(HostMemory memory) {
        this.memory = memory;
        long total = memory.total();
        // A 512 MiB reserve would refuse everything in a 512 MiB container; there it is a sixteenth of the memory.
        this.reserve = total == HostMemory.UNKNOWN ? MAX_RESERVE : Math.min(MAX_RESERVE, total / 16);
    }

    /** The budget of this process's machine or container. */
    public static HostMemoryBudget system() {
        return SYSTEM;
    }

    long reserve() {
        return reserve;
    }

    /**
     * Whether {@code bytes} more fit, keeping the reserve; when they do, they count as handed out (give them back with
     * {@link #notTaken} if the allocation then fails).
     */
    public synchronized boolean take(long bytes) {
        if (bytes > headroom(bytes) - reserve) return false;
        handedOut += bytes;
        return true;
    }

    /** Undoes a {@link #take} whose allocation failed. */
    public synchronized void notTaken(long bytes) {
        handedOut = Math.max(0, handedOut - bytes);
    }

    /** What the machine has available now (a fresh reading), for messages. */
    public long available() {
        return memory.available();
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
}
