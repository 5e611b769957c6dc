package dev.soma.backend.cuda;

import dev.soma.jni.CudaKernels;
import dev.soma.memory.StreamEvents;
import dev.soma.tensor.Device;

/**
 * One device's streams and events. Every kernel and copy of the backend goes to the <em>compute</em> stream (a
 * non-blocking stream of its own, so nothing else on the device serialises with it); the <em>copy</em> stream
 * (made on first use) carries uploads of the next batch while the compute stream runs the current step. The
 * events guard the pools' blocks that both streams use (see {@link dev.soma.memory.CachingPool#recordStream}).
 */
final class CudaStreams implements StreamEvents {
    private final Device device;
    private final long compute;
    private volatile long copy;

    CudaStreams(Device device) {
        this.device = device;
        this.compute = create("compute");
    }

    long compute() {
        return compute;
    }

    long copy() {
        long c = copy;
        if (c == 0) {
            synchronized (this) {
                if (copy == 0) copy = create("copy");
                c = copy;
            }
        }
        return c;
    }

    /** Work enqueued on {@code stream} from now on waits for {@code event} (recorded on another stream). */
    void waitFor(long stream, long event) {
        CudaStatus.runtime(CudaKernels.soma_cuda_stream_wait_event(stream, event), "soma_cuda_stream_wait_event",
                () -> "stream 0x" + Long.toHexString(stream) + " on " + device);
    }

    void synchronize(long stream) {
        CudaStatus.runtime(CudaKernels.soma_cuda_stream_synchronize(stream), "soma_cuda_stream_synchronize",
                () -> "stream 0x" + Long.toHexString(stream) + " on " + device);
    }

    @Override
    public long record(long stream) {
        long[] out = new long[1];
        CudaStatus.runtime(CudaKernels.soma_cuda_event_create(out), "soma_cuda_event_create", device::toString);
        int status = CudaKernels.soma_cuda_event_record(out[0], stream);
        if (status != 0) {
            CudaKernels.soma_cuda_event_destroy(out[0]);
            CudaStatus.runtime(status, "soma_cuda_event_record", () -> "stream 0x" + Long.toHexString(stream) + " on " + device);
        }
        return out[0];
    }

    @Override
    public boolean isDone(long event) {
        int status = CudaKernels.soma_cuda_event_query(event);
        if (status == CudaKernels.NOT_READY) return false;
        CudaStatus.runtime(status, "soma_cuda_event_query", device::toString);
        return true;
    }

    @Override
    public void await(long event) {
        CudaStatus.runtime(CudaKernels.soma_cuda_event_synchronize(event), "soma_cuda_event_synchronize", device::toString);
    }

    @Override
    public void destroy(long event) {
        CudaStatus.runtime(CudaKernels.soma_cuda_event_destroy(event), "soma_cuda_event_destroy", device::toString);
    }

    private long create(String role) {
        long[] out = new long[1];
        CudaStatus.runtime(CudaKernels.soma_cuda_stream_create(out), "soma_cuda_stream_create",
                () -> "the " + role + " stream of " + device);
        return out[0];
    }
}
