package dev.soma.memory;

/**
 * A snapshot of a pool's counters. "Allocated" bytes are held by live blocks (tensors); "reserved" bytes
 * are held from the native allocator (live blocks plus the cache). "Pending" blocks were released by their
 * owners but wait for work on another stream to finish before the pool reuses them (GPU pools only).
 */
public record PoolStats(
        String device,
        long allocatedBytes,
        long peakAllocatedBytes,
        long reservedBytes,
        long peakReservedBytes,
        long liveBlocks,
        long pendingBlocks,
        long segments,
        long nativeAllocations,
        long nativeFrees,
        long cacheHits,
        long oomRetries,
        long limitBytes) {

    @Override
    public String toString() {
        return String.format(
                "pool[%s] allocated=%s (peak %s, %d live blocks, %d pending) reserved=%s (peak %s, %d segments) "
                        + "nativeAllocations=%d nativeFrees=%d cacheHits=%d oomRetries=%d limit=%s",
                device, bytes(allocatedBytes), bytes(peakAllocatedBytes), liveBlocks, pendingBlocks, bytes(reservedBytes),
                bytes(peakReservedBytes), segments, nativeAllocations, nativeFrees, cacheHits, oomRetries,
                limitBytes == Long.MAX_VALUE ? "none" : bytes(limitBytes));
    }

    static String bytes(long b) {
        if (b < 1024) return b + " B";
        if (b < 1024L * 1024) return String.format("%.1f KiB", b / 1024.0);
        if (b < 1024L * 1024 * 1024) return String.format("%.1f MiB", b / (1024.0 * 1024));
        return String.format("%.2f GiB", b / (1024.0 * 1024 * 1024));
    }
}
