package dev.soma.memory;

/** The device's raw allocator beneath a {@link CachingPool}: malloc on the CPU, cudaMalloc on a GPU. */
public interface NativeAllocator {
    /** Returns the address of {@code bytes} fresh bytes, or 0 when the device has none left. */
    long allocate(long bytes);

    void free(long address);

    /** Device name for messages, e.g. "cpu" or "cuda:0". */
    String deviceName();

    /** Bytes the device can still give, for messages; {@link HostMemory#UNKNOWN} where the allocator cannot tell. */
    default long available() {
        return HostMemory.UNKNOWN;
    }
}
