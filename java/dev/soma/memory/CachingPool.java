package dev.soma.memory;

import dev.soma.errors.OutOfMemoryException;
import dev.soma.errors.ShapeException;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * A caching allocator for one device, after PyTorch's CUDACachingAllocator.
 *
 * <p>Invariants:
 * <ol>
 *   <li>Every request is rounded up to a multiple of {@link #MIN_BLOCK} bytes, so every block address keeps
 *       the segment's 64-byte alignment.</li>
 *   <li>Requests of at most {@link #SMALL_LIMIT} come from the small pool, whose segments are
 *       {@link #SMALL_SEGMENT} bytes; larger ones from the large pool, whose segments are
 *       {@link #MID_SEGMENT} bytes for requests under {@link #MID_LIMIT} and the request rounded up to
 *       {@link #LARGE_ROUND} otherwise. Small and large blocks never share a segment.</li>
 *   <li>A segment is a doubly linked list of blocks that tile it exactly; no two free neighbours exist
 *       (they are merged on release).</li>
 *   <li>Every block belongs to the stream it was allocated for, and its free set is that of its pool (small/large)
 *       and stream: a stream reuses only its own blocks, which is safe without waiting because a stream runs its
 *       work in order. A free block is in exactly one free set; a live or pending block is in none.</li>
 *   <li>A block used by work on other streams ({@link #recordStream}) is not freed when released: an event is
 *       recorded on each of those streams and the block stays <em>pending</em> (not reusable, not mergeable)
 *       until all have completed, as in PyTorch's {@code recordStream}. Pending blocks are checked, oldest first,
 *       at every allocation; out of memory and {@link #emptyCache} wait for them.</li>
 *   <li>The native allocator is called only when no cached block fits; on failure (or above the limit) the
 *       cache is released and the request retried once, then {@link OutOfMemoryException} is thrown with the
 *       statistics.</li>
 * </ol>
 * All methods are synchronized: the pool is shared by every thread that uses the device.
 */
public final class CachingPool {
    public static final long MIN_BLOCK = 512;
    public static final long SMALL_LIMIT = 1L << 20;
    public static final long SMALL_SEGMENT = 2L << 20;
    public static final long MID_LIMIT = 10L << 20;
    public static final long MID_SEGMENT = 20L << 20;
    public static final long LARGE_ROUND = 2L << 20;

    /** One contiguous region inside a segment, live (handed out) or free (cached). */
    public static final class Block {
        final Segment segment;
        final long address;
        long size;
        long requested;
        boolean live;
        boolean pending;
        final long stream;
        /** Other streams whose work used this block since it was handed out (null: none). */
        Set<Long> usedOn;
        Block prev;
        Block next;

        Block(Segment segment, long address, long size, long stream) {
            this.segment = segment;
            this.address = address;
            this.size = size;
            this.stream = stream;
        }

        public long address() {
            return address;
        }

        public long size() {
            return size;
        }

        /** The stream the block was allocated for. */
        public long stream() {
            return stream;
        }

        boolean isFree() {
            return !live && !pending;
        }
    }

    /** A released block and the events, one per other stream that used it, that must complete before reuse. */
    private record Pending(Block block, long[] events) {}

    static final class Segment {
        final long base;
        final long size;
        final boolean small;

        Segment(long base, long size, boolean small) {
            this.base = base;
            this.size = size;
            this.small = small;
        }
    }

    // Written out: the composed comparingLong(..).thenComparingLong(..) lambdas were a tenth of a small step's Java time.
    private static final Comparator<Block> BY_SIZE_THEN_ADDRESS =
            (a, b) -> a.size != b.size ? Long.compare(a.size, b.size) : Long.compare(a.address, b.address);

    private final NativeAllocator allocator;
    private final StreamEvents events;
    private final Deque<Pending> pending = new ArrayDeque<>();
    private final Map<Long, TreeSet<Block>> smallFree = new HashMap<>();
    private final Map<Long, TreeSet<Block>> largeFree = new HashMap<>();
    private final Map<Long, Segment> segments = new HashMap<>();

    private long allocated;
    private long peakAllocated;
    private long reserved;
    private long peakReserved;
    private long liveBlocks;
    private long nativeAllocations;
    private long nativeFrees;
    private long cacheHits;
    private long oomRetries;
    private long limit = Long.MAX_VALUE;
    private long releaseThreshold = Long.MAX_VALUE;
    /** A release threshold to look up once reserved bytes first pass {@link #LOOKUP_FLOOR}; null when none is due. */
    private java.util.function.LongSupplier thresholdLookup;
    /** Below this, a looked-up release threshold is not consulted, so small programs never pay for the lookup. */
    static final long LOOKUP_FLOOR = 1L << 30;

    /** A pool whose blocks are used on one stream only (the CPU): {@link #recordStream} is refused. */
    public CachingPool(NativeAllocator allocator) {
        this(allocator, null);
    }

    /** A pool over a device with streams: {@code events} guards blocks that several streams use. */
    public CachingPool(NativeAllocator allocator, StreamEvents events) {
        this.allocator = allocator;
        this.events = events;
    }

    public String deviceName() {
        return allocator.deviceName();
    }

    /** Hands out a block of at least {@code bytes} bytes for use on {@code stream} (0 on the CPU). */
    public synchronized Block allocate(long bytes, long stream) {
        if (bytes < 0) {
            throw new ShapeException("pool[" + deviceName() + "]: cannot allocate a negative size (" + bytes + " bytes)");
        }
        long size = roundUp(Math.max(bytes, 1), MIN_BLOCK);
        if (size < 0) {
            throw new ShapeException("pool[" + deviceName() + "]: size " + bytes + " bytes overflows");
        }
        boolean small = size <= SMALL_LIMIT;
        collectCompleted();
        Block block = takeCached(small, size, stream, false);
        if (block != null) {
            cacheHits++;
        } else {
            try {
                block = newSegmentBlock(small, size, stream);
            } catch (OutOfMemoryException e) {
                // Last resort before failing: carve the request out of a cached block that is larger than the
                // pinning rule likes (a capped pool must not fail while a fitting free block sits in its cache).
                block = takeCached(small, size, stream, true);
                if (block == null) throw e;
                cacheHits++;
            }
        }
        split(block, size, small);
        block.live = true;
        block.requested = bytes;
        allocated += block.size;
        liveBlocks++;
        peakAllocated = Math.max(peakAllocated, allocated);
        return block;
    }

    /**
     * Notes that work enqueued on {@code stream} (not the block's own) uses the live block: when released, it is
     * not reused before that work has finished.
     */
    public synchronized void recordStream(Block block, long stream) {
        if (!block.live) {
            throw new IllegalStateException("pool[" + deviceName() + "]: recordStream on block 0x"
                    + Long.toHexString(block.address) + ", which is not live");
        }
        if (stream == block.stream) return;
        if (events == null) {
            throw new UnsupportedOperationException("pool[" + deviceName() + "]: this device has a single stream; "
                    + "recordStream(" + stream + ") is meaningless here");
        }
        if (block.usedOn == null) block.usedOn = new LinkedHashSet<>();
        block.usedOn.add(stream);
    }

    /**
     * Returns a block to the cache, merging it with free neighbours; a block that other streams used waits
     * (pending) until their work has finished.
     */
    public synchronized void release(Block block) {
        if (!block.live) {
            throw new IllegalStateException("pool[" + deviceName() + "]: block 0x" + Long.toHexString(block.address)
                    + " released twice");
        }
        block.live = false;
        allocated -= block.size;
        liveBlocks--;
        if (block.usedOn != null) {
            long[] recorded = new long[block.usedOn.size()];
            int i = 0;
            for (long s : block.usedOn) recorded[i++] = events.record(s);
            block.usedOn = null;
            block.pending = true;
            pending.add(new Pending(block, recorded));
            return;
        }
        addFree(block);
    }

    /** Frees the pending blocks whose streams have finished with them, oldest first. */
    private void collectCompleted() {
        if (pending.isEmpty()) return;
        List<Pending> done = new ArrayList<>();
        for (Pending p : pending) {
            boolean finished = true;
            for (long e : p.events) {
                if (!events.isDone(e)) {
                    finished = false;
                    break;
                }
            }
            if (finished) done.add(p);
        }
        for (Pending p : done) {
            pending.remove(p);
            finishPending(p);
        }
    }

    /** Waits for every pending block's streams and frees the blocks (before giving memory back). */
    private void awaitPending() {
        while (!pending.isEmpty()) {
            Pending p = pending.poll();
            for (long e : p.events) events.await(e);
            finishPending(p);
        }
    }

    private void finishPending(Pending p) {
        for (long e : p.events) events.destroy(e);
        p.block.pending = false;
        addFree(p.block);
    }

    private void addFree(Block block) {
        Block merged = block;
        if (merged.prev != null && merged.prev.isFree()) {
            Block p = merged.prev;
            freeSet(p).remove(p);
            p.size += merged.size;
            p.next = merged.next;
            if (merged.next != null) merged.next.prev = p;
            merged = p;
        }
        if (merged.next != null && merged.next.isFree()) {
            Block n = merged.next;
            freeSet(n).remove(n);
            merged.size += n.size;
            merged.next = n.next;
            if (n.next != null) n.next.prev = merged;
        }
        freeSet(merged).add(merged);
    }

    /** Gives every wholly free segment back to the native allocator (after waiting for pending blocks). */
    public synchronized void emptyCache() {
        awaitPending();
        for (Map<Long, TreeSet<Block>> sets : java.util.List.of(smallFree, largeFree)) {
            for (TreeSet<Block> set : sets.values()) {
                set.removeIf(b -> {
                    if (b.prev == null && b.next == null && b.size == b.segment.size) {
                        segments.remove(b.segment.base);
                        reserved -= b.segment.size;
                        allocator.free(b.segment.base);
                        nativeFrees++;
                        return true;
                    }
                    return false;
                });
            }
        }
    }

    /**
     * Reserved bytes beyond which a new segment is taken only after every wholly free cached segment has been given
     * back (as PyTorch's {@code garbage_collection_threshold}); unlike {@link #setLimit} it never refuses a request.
     * Requests of sizes the cache has not seen (a larger batch) otherwise add segments while stale ones stay cached.
     * {@code Long.MAX_VALUE} (the default) turns it off.
     */
    public synchronized void setReleaseThreshold(long bytes) {
        if (bytes < 0) throw new IllegalArgumentException("pool[" + deviceName() + "]: release threshold " + bytes + " < 0");
        releaseThreshold = bytes;
        thresholdLookup = null;
    }

    /**
     * {@link #setReleaseThreshold(long)} with a threshold that costs something to find (the machine's memory): looked
     * up once, when reserved bytes first pass {@link #LOOKUP_FLOOR} (1 GiB), and not before.
     */
    public synchronized void setReleaseThreshold(java.util.function.LongSupplier lookup) {
        releaseThreshold = Long.MAX_VALUE;
        thresholdLookup = java.util.Objects.requireNonNull(lookup, "release threshold lookup");
    }

    /** Caps reserved bytes (for tests and for sharing a device); {@code Long.MAX_VALUE} removes the cap. */
    public synchronized void setLimit(long bytes) {
        limit = bytes;
    }

    public synchronized PoolStats stats() {
        return new PoolStats(deviceName(), allocated, peakAllocated, reserved, peakReserved, liveBlocks,
                pending.size(), segments.size(), nativeAllocations, nativeFrees, cacheHits, oomRetries, limit);
    }

    /** Resets the peak counters to the current values (for measuring one phase). */
    public synchronized void resetPeaks() {
        peakAllocated = allocated;
        peakReserved = reserved;
    }

    private Block takeCached(boolean small, long size, long stream, boolean anyFit) {
        TreeSet<Block> set = (small ? smallFree : largeFree).get(stream);
        if (set == null) return null;
        Block probe = new Block(null, Long.MIN_VALUE, size, stream);
        // The smallest fitting block, except that a mid-sized request is not carved out of an oversized
        // (large-request) segment: it would pin all of it. Such blocks are skipped, not a reason to stop looking:
        // a bigger free block in a mid segment may follow (stopping at the first one reserved a new 20 MiB segment
        // on every LSTM step whose free list held a 12 MiB tail of a large segment).
        boolean pickyAboutSegments = !anyFit && !small && size < MID_LIMIT;
        for (Block found : set.tailSet(probe, true)) {
            if (pickyAboutSegments && found.segment.size > MID_SEGMENT) continue;
            set.remove(found);
            return found;
        }
        return null;
    }

    private Block newSegmentBlock(boolean small, long size, long stream) {
        long segmentSize = small ? SMALL_SEGMENT : size < MID_LIMIT ? MID_SEGMENT : roundUp(size, LARGE_ROUND);
        long address = 0;
        // Above the threshold the cache goes back first: on the CPU, where allocation never fails (the kernel
        // overcommits and its OOM killer strikes later), this is the only point where stale segments are freed.
        if (thresholdLookup != null && reserved + segmentSize > LOOKUP_FLOOR) {
            setReleaseThreshold(thresholdLookup.getAsLong());
        }
        if (reserved + segmentSize > releaseThreshold) emptyCache();
        if (reserved + segmentSize <= limit) address = allocator.allocate(segmentSize);
        if (address == 0) {
            oomRetries++;
            emptyCache();
            if (reserved + segmentSize <= limit) address = allocator.allocate(segmentSize);
        }
        if (address == 0) {
            long available = allocator.available();
            String why = reserved + segmentSize > limit ? "the pool's limit" : "the device's memory"
                    + (available == HostMemory.UNKNOWN ? "" : ", " + PoolStats.bytes(Math.max(0, available)) + " of it available");
            throw new OutOfMemoryException("pool[" + deviceName() + "]: out of memory allocating "
                    + PoolStats.bytes(size) + " (a segment of " + PoolStats.bytes(segmentSize) + " would exceed "
                    + why + ")", stats().toString());
        }
        nativeAllocations++;
        reserved += segmentSize;
        peakReserved = Math.max(peakReserved, reserved);
        Segment segment = new Segment(address, segmentSize, small);
        segments.put(address, segment);
        return new Block(segment, address, segmentSize, stream);
    }

    private void split(Block block, long size, boolean small) {
        long rest = block.size - size;
        boolean worthIt = small ? rest >= MIN_BLOCK : rest > SMALL_LIMIT;
        if (!worthIt) return;
        Block tail = new Block(block.segment, block.address + size, rest, block.stream);
        tail.prev = block;
        tail.next = block.next;
        if (block.next != null) block.next.prev = tail;
        block.next = tail;
        block.size = size;
        freeSet(tail).add(tail);
    }

    private TreeSet<Block> freeSet(Block b) {
        return (b.segment.small ? smallFree : largeFree)
                .computeIfAbsent(b.stream, s -> new TreeSet<>(BY_SIZE_THEN_ADDRESS));
    }

    private static long roundUp(long v, long multiple) {
        long r = (v + multiple - 1) / multiple * multiple;
        return r < v ? -1 : r;
    }
}
