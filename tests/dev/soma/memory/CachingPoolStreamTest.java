package dev.soma.memory;

import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** The pool's cross-stream guard (recordStream + events), on a fake device whose events finish when told. */
class CachingPoolStreamTest {
    private static final long COMPUTE = 11, COPY = 22;

    /** Events that stay unfinished until {@link #finish} (or an await) and remember what happened to them. */
    static final class FakeEvents implements StreamEvents {
        final Map<Long, Long> streamOf = new HashMap<>();
        final Map<Long, Boolean> done = new HashMap<>();
        long next = 1;
        int destroyed;
        int awaited;

        @Override
        public long record(long stream) {
            long e = next++;
            streamOf.put(e, stream);
            done.put(e, false);
            return e;
        }

        @Override
        public boolean isDone(long event) {
            return done.get(event);
        }

        @Override
        public void await(long event) {
            awaited++;
            done.put(event, true);
        }

        @Override
        public void destroy(long event) {
            assertNotNull(done.remove(event), "event destroyed twice or never recorded");
            destroyed++;
        }

        void finish(long stream) {
            streamOf.forEach((e, s) -> {
                if (s == stream && done.containsKey(e)) done.put(e, true);
            });
        }
    }

    @Test
    void aBlockUsedByAnotherStreamIsNotReusedBeforeThatStreamFinishes() {
        FakeEvents events = new FakeEvents();
        CachingPool pool = new CachingPool(new CachingPoolTest.FakeAllocator(), events);
        CachingPool.Block batch = pool.allocate(4096, COPY);
        pool.recordStream(batch, COMPUTE);
        pool.release(batch);
        assertEquals(0, pool.stats().allocatedBytes(), "released bytes no longer count as allocated");
        assertEquals(1, pool.stats().pendingBlocks());
        assertEquals(COMPUTE, events.streamOf.get(1L), "the event goes on the stream that used the block");

        CachingPool.Block other = pool.allocate(4096, COPY);
        assertNotEquals(batch.address(), other.address(), "reused while the compute stream may still read it");
        pool.release(other);

        events.finish(COMPUTE);
        CachingPool.Block again = pool.allocate(4096, COPY);
        assertEquals(0, pool.stats().pendingBlocks());
        assertEquals(1, events.destroyed);
        pool.release(again);
        assertEquals(0, pool.stats().allocatedBytes());
    }

    @Test
    void pendingBlocksAreNotMergedWithFreeNeighbours() {
        FakeEvents events = new FakeEvents();
        CachingPool pool = new CachingPool(new CachingPoolTest.FakeAllocator(), events);
        CachingPool.Block a = pool.allocate(1024, COPY);
        CachingPool.Block b = pool.allocate(1024, COPY);
        pool.recordStream(a, COMPUTE);
        pool.release(a);
        pool.release(b); // b's free neighbour a is pending: b must not swallow it
        CachingPool.Block big = pool.allocate(2048, COPY);
        assertTrue(big.address() < a.address() || big.address() >= a.address() + a.size(),
                "a 2 KiB block was carved over the pending block");
        pool.release(big);
        events.finish(COMPUTE);
        pool.allocate(512, COPY); // collects the finished block
        assertEquals(0, pool.stats().pendingBlocks());
    }

    @Test
    void eachUsingStreamGetsItsOwnEventAndAllMustFinish() {
        FakeEvents events = new FakeEvents();
        CachingPool pool = new CachingPool(new CachingPoolTest.FakeAllocator(), events);
        CachingPool.Block x = pool.allocate(8192, COPY);
        pool.recordStream(x, COMPUTE);
        pool.recordStream(x, 33);
        pool.recordStream(x, COPY); // its own stream: nothing to guard
        pool.release(x);
        assertEquals(2, events.streamOf.size());
        events.finish(COMPUTE);
        pool.release(pool.allocate(8192, COPY));
        assertEquals(1, pool.stats().pendingBlocks(), "stream 33 has not finished yet");
        events.finish(33);
        pool.release(pool.allocate(8192, COPY));
        assertEquals(0, pool.stats().pendingBlocks());
        assertEquals(2, events.destroyed);
    }

    @Test
    void emptyCacheAndOutOfMemoryWaitForPendingBlocks() {
        FakeEvents events = new FakeEvents();
        CachingPoolTest.FakeAllocator fake = new CachingPoolTest.FakeAllocator();
        CachingPool pool = new CachingPool(fake, events);
        CachingPool.Block x = pool.allocate(4096, COPY);
        pool.recordStream(x, COMPUTE);
        pool.release(x);
        pool.emptyCache();
        assertEquals(1, events.awaited);
        assertEquals(0, pool.stats().pendingBlocks());
        assertEquals(0, fake.inUse, "the segment went back once its block was no longer pending");

        // A device with room for one small segment: the second request must wait for the pending block.
        fake.capacity = CachingPool.SMALL_SEGMENT;
        CachingPool.Block y = pool.allocate(CachingPool.SMALL_LIMIT, COPY);
        pool.recordStream(y, COMPUTE);
        pool.release(y);
        CachingPool.Block z = pool.allocate(CachingPool.SMALL_LIMIT, COMPUTE);
        assertEquals(2, events.awaited);
        pool.release(z);
        assertEquals(0, pool.stats().allocatedBytes());
    }

    @Test
    void singleStreamPoolsRefuseRecordStreamButAcceptTheirOwnStream() {
        CachingPool pool = new CachingPool(new CachingPoolTest.FakeAllocator());
        CachingPool.Block b = pool.allocate(100, 0);
        pool.recordStream(b, 0);
        UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class, () -> pool.recordStream(b, 5));
        assertTrue(e.getMessage().contains("fake"), e.getMessage());
        pool.release(b);
        assertThrows(IllegalStateException.class, () -> pool.recordStream(b, 0));
    }
}
