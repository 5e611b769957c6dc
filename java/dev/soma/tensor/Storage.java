package dev.soma.tensor;

import dev.soma.memory.CachingPool;

/**
 * The memory behind one or more tensors (a tensor and its views share one storage). Reference counted by
 * the tensors that use it; the block goes back to its pool when the last one closes.
 */
final class Storage {
    final Device device;
    final CachingPool pool;
    private CachingPool.Block block;
    private int refs;

    Storage(Device device, CachingPool pool, long bytes) {
        this.device = device;
        this.pool = pool;
        this.block = pool.allocate(bytes, 0);
    }

    synchronized void retain() {
        refs++;
    }

    synchronized void release() {
        if (--refs == 0) {
            pool.release(block);
            block = null;
        }
    }

    long address() {
        return block.address();
    }

    synchronized boolean isFreed() {
        return block == null;
    }
}
