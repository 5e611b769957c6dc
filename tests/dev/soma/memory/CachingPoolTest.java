package dev.soma.memory;

import dev.soma.errors.OutOfMemoryException;
import dev.soma.errors.ShapeException;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class CachingPoolTest {
    /** A fake device: hands out increasing addresses and counts calls, so the pool logic is tested alone. */
    static final class FakeAllocator implements NativeAllocator {
        long next = 1L << 20;
        long capacity = Long.MAX_VALUE;
        long inUse;
        final Map<Long, Long> live = new HashMap<>();
        int allocations;

        @Override
        public long allocate(long bytes) {
            if (inUse + bytes > capacity) return 0;
            long a = next;
            next += bytes + 4096;
            live.put(a, bytes);
            inUse += bytes;
            allocations++;
            return a;
        }

        @Override
        public void free(long address) {
            Long b = live.remove(address);
            assertNotNull(b, "free of an address never allocated");
            inUse -= b;
        }

        @Override
        public String deviceName() {
            return "fake";
        }
    }

    /**
     * Ever larger requests (record Poisson batches) each need a new segment; past the release threshold the stale
     * ones go back first, below it they stay cached. Without a threshold all of them stay.
     */
    @Test
    void aReleaseThresholdGivesStaleSegmentsBackBeforeGrowing() {
        long mib = 1L << 20;
        for (long threshold : new long[] {Long.MAX_VALUE, 100 * mib}) {
            FakeAllocator fake = new FakeAllocator();
            CachingPool pool = new CachingPool(fake);
            pool.setReleaseThreshold(threshold);
            for (int i = 0; i < 10; i++) pool.release(pool.allocate((40 + 2 * i) * mib, 0));
            long sum = 0;
            for (int i = 0; i < 10; i++) sum += (40 + 2 * i) * mib;
            if (threshold == Long.MAX_VALUE) {
                assertEquals(sum, pool.stats().reservedBytes(), "every size's segment stays cached");
                assertEquals(0, pool.stats().nativeFrees());
            } else {
                // A request that would take reserved past 100 MiB first frees what is cached (nine segments in all).
                assertEquals(58 * mib, pool.stats().reservedBytes());
                assertEquals(58 * mib, fake.inUse);
                assertEquals(9, pool.stats().nativeFrees());
                assertTrue(pool.stats().peakReservedBytes() <= 100 * mib, pool.stats().toString());
            }
            assertEquals(0, pool.stats().allocatedBytes());
        }
    }

    /** A threshold that costs a lookup is looked up once, when reserved bytes first pass 1 GiB, and then applies. */
    @Test
    void aLookedUpReleaseThresholdIsFoundOnlyOnceThePoolIsLarge() {
        long mib = 1L << 20;
        FakeAllocator fake = new FakeAllocator();
        CachingPool pool = new CachingPool(fake);
        int[] lookups = {0};
        pool.setReleaseThreshold(() -> {
            lookups[0]++;
            return 1100 * mib;
        });
        for (int i = 0; i < 5; i++) pool.release(pool.allocate((40 + 2 * i) * mib, 0));
        assertEquals(0, lookups[0], "no lookup below 1 GiB");
        pool.release(pool.allocate(1000 * mib, 0)); // 220 + 1000 MiB: past the floor and past the threshold
        assertEquals(1, lookups[0]);
        assertEquals(1000 * mib, pool.stats().reservedBytes(), "the cached segments went back first");
        pool.release(pool.allocate(1002 * mib, 0));
        assertEquals(1, lookups[0], "looked up once");
    }

    @Test
    void reusesFreedBlocksWithoutNativeCalls() {
        FakeAllocator fake = new FakeAllocator();
        CachingPool pool = new CachingPool(fake);
        CachingPool.Block a = pool.allocate(1000, 0);
        pool.release(a);
        CachingPool.Block b = pool.allocate(900, 0);
        assertEquals(a.address(), b.address());
        assertEquals(1, fake.allocations);
        assertEquals(1, pool.stats().cacheHits());
        pool.release(b);
        assertEquals(0, pool.stats().allocatedBytes());
    }

    @Test
    void aMidRequestLooksPastFreeBlocksOfLargeSegments() {
        // Regression: the smallest fitting free block was a 12 MiB tail of a 24 MiB (large-request) segment, which a
        // mid-sized request must not pin; the pool stopped looking there and reserved a new 20 MiB segment on every
        // request although a whole free mid segment sat in the cache (an LSTM step leaked 60 MiB this way).
        FakeAllocator fake = new FakeAllocator();
        CachingPool pool = new CachingPool(fake);
        long mib = 1L << 20;
        pool.release(pool.allocate(24 * mib, 0));
        CachingPool.Block big = pool.allocate(12 * mib, 0);  // carved from the 24 MiB segment, 12 MiB tail free
        pool.release(pool.allocate(6 * mib, 0));             // a new 20 MiB mid segment, whole and free again
        int before = fake.allocations;
        for (int i = 0; i < 5; i++) pool.release(pool.allocate(6 * mib, 0));
        assertEquals(before, fake.allocations, "the free mid segment serves every further mid request");
        pool.release(big);
        assertEquals(2, pool.stats().segments());
    }

    @Test
    void splitsSegmentsAndMergesNeighboursBack() {
        FakeAllocator fake = new FakeAllocator();
        CachingPool pool = new CachingPool(fake);
        List<CachingPool.Block> blocks = new ArrayList<>();
        for (int i = 0; i < 8; i++) blocks.add(pool.allocate(100_000, 0));
        assertEquals(1, fake.allocations, "eight 100 kB blocks fit in one 2 MiB small segment");
        for (int i = 1; i < 8; i++) {
            assertEquals(blocks.get(i - 1).address() + blocks.get(i - 1).size(), blocks.get(i).address(),
                    "blocks tile the segment");
        }
        // Free in an interleaved order so merging runs both ways.
        for (int i = 0; i < 8; i += 2) pool.release(blocks.get(i));
        for (int i = 1; i < 8; i += 2) pool.release(blocks.get(i));
        // Fully merged: a request for the whole segment is a cache hit.
        CachingPool.Block whole = pool.allocate(CachingPool.SMALL_LIMIT, 0);
        assertEquals(blocks.get(0).address(), whole.address());
        assertEquals(1, fake.allocations);
        pool.release(whole);
        pool.emptyCache();
        assertEquals(0, pool.stats().reservedBytes());
        assertEquals(0, fake.inUse);
    }

    @Test
    void aWhollyFreeMidSegmentIsReused() {
        FakeAllocator fake = new FakeAllocator();
        CachingPool pool = new CachingPool(fake);
        for (int step = 0; step < 5; step++) {
            CachingPool.Block a = pool.allocate(6L << 20, 0);
            CachingPool.Block b = pool.allocate(6L << 20, 0);
            pool.release(a);
            pool.release(b);
        }
        assertEquals(1, fake.allocations, "mid-sized temporaries freed every step must reuse their segment");
    }

    @Test
    void largeRequestsUseTheirOwnSegments() {
        FakeAllocator fake = new FakeAllocator();
        CachingPool pool = new CachingPool(fake);
        CachingPool.Block small = pool.allocate(4096, 0);
        CachingPool.Block mid = pool.allocate(3L << 20, 0);
        CachingPool.Block big = pool.allocate(50L << 20, 0);
        assertEquals(3, fake.allocations);
        assertEquals(CachingPool.SMALL_SEGMENT + CachingPool.MID_SEGMENT + (50L << 20), pool.stats().reservedBytes());
        pool.release(small);
        pool.release(mid);
        pool.release(big);
    }

    @Test
    void outOfMemoryReleasesCacheRetriesThenThrowsWithStatistics() {
        FakeAllocator fake = new FakeAllocator();
        fake.capacity = 30L << 20;
        CachingPool pool = new CachingPool(fake);
        CachingPool.Block a = pool.allocate(20L << 20, 0);
        pool.release(a); // cached, still reserved
        CachingPool.Block b = pool.allocate(24L << 20, 0); // does not fit beside the cache: retry after emptying
        assertEquals(1, pool.stats().oomRetries());
        OutOfMemoryException e = assertThrows(OutOfMemoryException.class, () -> pool.allocate(24L << 20, 0));
        assertTrue(e.getMessage().contains("reserved="), e.getMessage());
        assertTrue(e.poolStatistics().contains("oomRetries=2"), e.poolStatistics());
        pool.release(b);
        CachingPool.Block c = pool.allocate(10L << 20, 0); // and the pool works on afterwards
        pool.release(c);
    }

    @Test
    void limitCapsReservedBytes() {
        CachingPool pool = new CachingPool(new FakeAllocator());
        pool.setLimit(4L << 20);
        assertThrows(OutOfMemoryException.class, () -> pool.allocate(8L << 20, 0));
        pool.setLimit(Long.MAX_VALUE);
        pool.release(pool.allocate(8L << 20, 0));
    }

    @Test
    void rejectsNegativeAndOverflowingSizesAndDoubleRelease() {
        CachingPool pool = new CachingPool(new FakeAllocator());
        assertThrows(ShapeException.class, () -> pool.allocate(-1, 0));
        assertThrows(ShapeException.class, () -> pool.allocate(Long.MAX_VALUE - 10, 0));
        CachingPool.Block a = pool.allocate(10, 0);
        pool.release(a);
        assertThrows(IllegalStateException.class, () -> pool.release(a));
    }

    @Test
    void midSizedRequestsReuseTheirFreedSegment() {
        FakeAllocator fake = new FakeAllocator();
        CachingPool pool = new CachingPool(fake);
        for (int i = 0; i < 5; i++) pool.release(pool.allocate(6_400_000, 0));
        assertEquals(1, fake.allocations, "one 20 MiB segment serves every 6.1 MiB request");
        assertEquals(CachingPool.MID_SEGMENT, pool.stats().reservedBytes());
        pool.emptyCache();
        CachingPool.Block big = pool.allocate(64L << 20, 0);
        pool.release(big);
        CachingPool.Block mid = pool.allocate(3L << 20, 0);
        assertEquals(3, fake.allocations, "a mid request gets a mid segment, not a piece of the cached 64 MiB one");
        assertNotEquals(big.address(), mid.address());
        pool.release(mid);
    }

    @Test
    void streamsDoNotShareCachedBlocks() {
        FakeAllocator fake = new FakeAllocator();
        CachingPool pool = new CachingPool(fake);
        CachingPool.Block a = pool.allocate(1 << 16, 1);
        pool.release(a);
        CachingPool.Block b = pool.allocate(1 << 16, 2);
        assertNotEquals(a.address(), b.address());
        assertEquals(2, fake.allocations);
        pool.release(b);
    }
}
