package dev.soma.memory;

/**
 * The device's events, as a {@link CachingPool} needs them to guard blocks used by more than one stream
 * (cudaEventRecord / cudaEventQuery / cudaEventSynchronize / cudaEventDestroy on a GPU). Streams and events are
 * raw handles.
 */
public interface StreamEvents {
    /** A new event recorded on {@code stream}: it completes once all work enqueued there so far has finished. */
    long record(long stream);

    /** True when the event has completed; never blocks. */
    boolean isDone(long event);

    /** Blocks the calling thread until the event has completed. */
    void await(long event);

    void destroy(long event);
}
