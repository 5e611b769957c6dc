package dev.soma.tensor;

import dev.soma.memory.CachingPool;

/**
 * The memory behind one or more tensors (a tensor and its views share one storage). Reference counted by
 * the tensors that use it; the block goes back to its pool when the last one closes. {@link Tensor#moveTo} can
 * move a storage to another device in place (every view follows), so its device, pool and block may change.
 */
final class Storage {
    volatile Device device;
    volatile CachingPool pool;
    final long bytes;
    private volatile CachingPool.Block block;
    private int refs;

    Storage(Device device, CachingPool pool, long bytes, long stream) {
        this.device = device;
        this.pool = pool;
        this.bytes = bytes;
        this.block = pool.allocate(bytes, stream);
    }

    synchronized void recordStream(long stream) {
        pool.recordStream(block, stream);
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

    /** Whether exactly one tensor uses this storage (no other view of it is open). */
    synchronized boolean hasOneUser() {
        return refs == 1;
    }

    long address() {
        return block.address();
    }

    synchronized boolean isFreed() {
        return block == null;
    }

    /**
     * Exchanges device, pool and block with {@code other} (of the same size): this storage then holds the other's
     * memory and the other this one's, which it frees when its last tensor closes.
     */
    void swapWith(Storage other) {
        if (other.bytes != bytes) throw new IllegalArgumentException("Storage.swapWith: " + bytes + " != " + other.bytes + " bytes");
        synchronized (this) {
            synchronized (other) {
                Device d = device;
                CachingPool p = pool;
                CachingPool.Block b = block;
                device = other.device;
                pool = other.pool;
                block = other.block;
                other.device = d;
                other.pool = p;
                other.block = b;
            }
        }
    }
}
