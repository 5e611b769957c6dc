package dev.soma.distributed;

import dev.soma.backend.Backend;
import dev.soma.backend.Backends;
import dev.soma.errors.DistributedException;
import dev.soma.jni.CudaKernels;
import dev.soma.jni.CudaLibraries;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

/**
 * One rank's NCCL communicator on one GPU: collectives on device memory, queued on the device's compute stream after
 * the kernels that wrote their tensors, so nothing waits on the host. On a real device it is NVIDIA's libnccl.so.2,
 * opened at run time (SOMA_NCCL_LIBRARY names another file); on the emulated device, the emulator's stand-in, which
 * keeps NCCL's contract and reports a rank that died or called another collective instead of hanging.
 *
 * <p>Bootstrapped as NCCL usually is, over MPI ({@link #create}): rank 0 makes the id and broadcasts it. Every rank
 * must then call the same collectives in the same order, as with MPI. NCCL refuses two ranks on one GPU; the
 * emulation does not. {@link #close()} destroys the communicator.
 *
 * <p>Gradient buckets use {@link #allreduceSumOverlapped}: the reduction goes to a communication stream of its own,
 * which waits for the compute stream's work queued so far, so on a GPU it runs beside the rest of backward (as
 * PyTorch's NCCL process group does); {@link #joinCompute()} then makes the compute stream wait for it. The
 * collectives on the compute stream wait for the communication stream first, so on the device this communicator's
 * collectives always run in the order they were issued, the same on every rank (NCCL's rule; the emulation checks
 * it: a rank whose collectives ran out of order fails with both descriptions).
 */
public final class Nccl implements AutoCloseable {
    private final Device device;
    private final int rank, size;
    private final String library;
    private long comm;
    /** The communication stream (non-blocking), made on the first overlapped collective. */
    private long commStream;
    /** Real devices only: aborts the communicator when a collective outlives the timeout (see NcclWatchdog). */
    private NcclWatchdog watchdog;
    /** Why the watchdog aborted the communicator, once it has. */
    private volatile String abortedBecause;

    private Nccl(Device device, int rank, int size, String library, long comm) {
        this.device = device;
        this.rank = rank;
        this.size = size;
        this.library = library;
        this.comm = comm;
    }

    /** Which NCCL this process uses for {@code device} ("NCCL 2.27.3 from libnccl.so.2"); throws saying why none. */
    public static String library(Device device) {
        requireGpu(device, "NCCL");
        Backends.get(device); // opens the CUDA kernel library (real or emulated) behind the dispatcher
        byte[] info = new byte[512];
        check(CudaKernels.soma_cuda_nccl_open(info, info.length), "opening NCCL for " + device);
        return CudaLibraries.cString(info);
    }

    /** A fresh communicator id (ncclGetUniqueId), for one rank to make and give to all. */
    public static byte[] uniqueId(Device device) {
        library(device);
        byte[] id = new byte[CudaKernels.NCCL_ID_BYTES];
        check(CudaKernels.soma_cuda_nccl_unique_id(id), "ncclGetUniqueId on " + device);
        return id;
    }

    /**
     * Every rank of {@code mpi} joins one communicator on its {@code device} (a collective: all ranks call it at the
     * same point). Rank 0's id reaches the others through {@link Mpi#broadcast}.
     */
    public static Nccl create(Mpi mpi, Device device) {
        library(device); // every rank fails alike here when NCCL is missing, instead of waiting for rank 0's id
        byte[] id = mpi.rank() == 0 ? uniqueId(device) : new byte[CudaKernels.NCCL_ID_BYTES];
        int[] words = new int[id.length / 4];
        java.nio.ByteBuffer.wrap(id).asIntBuffer().get(words);
        try (Tensor t = Tensor.ofInts(words, words.length).keep()) {
            mpi.broadcast(t, 0);
            words = t.toIntArray();
        }
        java.nio.ByteBuffer.wrap(id).asIntBuffer().put(words);
        return join(device, id, mpi.rank(), mpi.size(), mpi.timeoutSeconds());
    }

    /**
     * Joins communicator {@code id} as {@code rank} of {@code size} on {@code device}; blocks until every rank has
     * joined (the emulation: at most {@code timeoutSeconds}; a real NCCL's bootstrap has its own bounds).
     */
    public static Nccl join(Device device, byte[] id, int rank, int size, double timeoutSeconds) {
        String library = library(device);
        if (id == null || id.length != CudaKernels.NCCL_ID_BYTES) {
            throw new IllegalArgumentException("NCCL: a communicator id has " + CudaKernels.NCCL_ID_BYTES + " bytes, got "
                    + (id == null ? "null" : id.length));
        }
        if (size < 1 || rank < 0 || rank >= size) {
            throw new IllegalArgumentException("NCCL: rank " + rank + " of " + size + " is not a rank (0 <= rank < size)");
        }
        if (!(timeoutSeconds > 0)) throw new IllegalArgumentException("NCCL: the timeout must be > 0 s, got " + timeoutSeconds);
        int status = CudaKernels.soma_cuda_set_device(device.index()); // NCCL binds the communicator to the current device
        if (status != 0) {
            throw new DistributedException("NCCL: making " + device + " current failed: " + CudaKernels.soma_cuda_status_string(status));
        }
        long[] out = new long[1];
        check(CudaKernels.soma_cuda_nccl_comm_init(size, id, rank, timeoutSeconds, out),
                "rank " + rank + " of " + size + ": ncclCommInitRank on " + device);
        Nccl nccl = new Nccl(device, rank, size, library, out[0]);
        if (CudaKernels.soma_cuda_kind() == CudaKernels.REAL) {
            nccl.watchdog = new NcclWatchdog(out[0], "rank " + rank + " on " + device, timeoutSeconds, 100,
                    nccl::abortFromWatchdog);
        }
        return nccl;
    }

    public Device device() {
        return device;
    }

    public int rank() {
        return rank;
    }

    public int size() {
        return size;
    }

    /** "NCCL 2.27.3 from libnccl.so.2, rank 0 of 2 on cuda:0". */
    public String describe() {
        return library + ", rank " + rank + " of " + size + " on " + device;
    }

    /** Sums {@code t} (contiguous f32/f64 on this communicator's GPU) over every rank, in place, on the compute stream. */
    public synchronized void allreduceSum(Tensor t) {
        String what = "NCCL all-reduce of " + describe(t);
        requireUsable(t, what, false);
        joinCompute(); // this communicator's collectives run on the device in the order they were issued
        long stream = stream();
        check(CudaKernels.soma_cuda_nccl_all_reduce_sum(comm, t.address(), t.address(), t.numel(), t.dtype().code(),
                stream), "rank " + rank + " of " + size + ": " + what);
        if (watchdog != null) watchdog.queued(stream, what);
    }

    /**
     * Sums {@code t} like {@link #allreduceSum} but on the communication stream, after all work queued so far on the
     * compute stream: later compute work does not wait for it until {@link #joinCompute()}. {@code t} must stay
     * untouched (and open) until then.
     */
    public synchronized void allreduceSumOverlapped(Tensor t) {
        String what = "NCCL all-reduce of " + describe(t);
        requireUsable(t, what, false);
        long compute = stream();
        if (commStream == 0) {
            long[] out = new long[1];
            cuda(CudaKernels.soma_cuda_stream_create(out), "soma_cuda_stream_create (NCCL's communication stream)");
            commStream = out[0];
        }
        streamWaits(commStream, compute);
        check(CudaKernels.soma_cuda_nccl_all_reduce_sum(comm, t.address(), t.address(), t.numel(), t.dtype().code(),
                commStream), "rank " + rank + " of " + size + ": " + what);
        if (watchdog != null) watchdog.queued(commStream, what);
    }

    /** The compute stream's later work waits for every overlapped collective queued so far. */
    public synchronized void joinCompute() {
        requireOpen("joining the communication stream");
        if (commStream != 0) streamWaits(stream(), commStream);
    }

    /** Work queued on {@code waiter} from now on starts after what {@code done} holds now (an event between them). */
    private void streamWaits(long waiter, long done) {
        long[] event = new long[1];
        cuda(CudaKernels.soma_cuda_event_create(event), "soma_cuda_event_create");
        try {
            cuda(CudaKernels.soma_cuda_event_record(event[0], done), "soma_cuda_event_record");
            cuda(CudaKernels.soma_cuda_stream_wait_event(waiter, event[0]), "soma_cuda_stream_wait_event");
        } finally {
            CudaKernels.soma_cuda_event_destroy(event[0]); // the wait keeps what it needs (CUDA's rule)
        }
    }

    private void cuda(int status, String call) {
        if (status != 0) {
            throw new DistributedException("rank " + rank + " of " + size + ": " + call + " on " + device + " failed: "
                    + CudaKernels.soma_cuda_status_string(status));
        }
    }

    /** Overwrites {@code t} (contiguous f32/f64/i32 on this GPU) on every rank with rank {@code root}'s values. */
    public synchronized void broadcast(Tensor t, int root) {
        String what = "NCCL broadcast of " + describe(t) + " from rank " + root;
        requireUsable(t, what, true);
        if (root < 0 || root >= size) throw new IllegalArgumentException(what + ": root " + root + " is not a rank of " + size);
        joinCompute();
        long stream = stream();
        check(CudaKernels.soma_cuda_nccl_broadcast(comm, t.address(), t.address(), t.numel(), t.dtype().code(), root,
                stream), "rank " + rank + " of " + size + ": " + what);
        if (watchdog != null) watchdog.queued(stream, what);
    }

    /**
     * Blocks until the collectives queued on the communication stream have finished; throws when one failed (a peer
     * that died or stopped: the watchdog aborts it after the bound, and the emulated device bounds its own wait).
     * Holds no lock while it waits, so that the watchdog can abort.
     */
    public void awaitCollectives() {
        long s;
        synchronized (this) {
            requireOpen("waiting for the collectives");
            s = commStream;
        }
        if (s == 0) return;
        int status = CudaKernels.soma_cuda_stream_synchronize(s);
        if (status != 0) {
            checkHealthy(); // the communicator's own reason first
            cuda(status, "soma_cuda_stream_synchronize (NCCL's communication stream)");
        }
    }

    /** Throws if a collective failed on the device since (NCCL reports those asynchronously: a peer that died). */
    public synchronized void checkHealthy() {
        requireOpen("checking the communicator");
        int[] failed = new int[1];
        check(CudaKernels.soma_cuda_nccl_comm_check(comm, failed), "ncclCommGetAsyncError");
        if (failed[0] != 0) {
            throw new DistributedException("rank " + rank + " of " + size + ": NCCL on " + device + " failed: " + errorText()
                    + " (a peer rank that died shows up like this; resume the job from the last checkpoint)");
        }
    }

    /** Ends the communicator without waiting (after an error another rank cannot see): their collectives fail too. */
    public void abort() {
        stopWatchdog();
        abortNow();
    }

    /** From the watchdog's thread: remembers why, then aborts (the training thread's next call throws it). */
    private void abortFromWatchdog(String reason) {
        abortedBecause = reason;
        System.err.println("soma: rank " + rank + " of " + size + ": aborting NCCL on " + device + ": " + reason);
        abortNow();
    }

    private synchronized void abortNow() {
        if (comm == 0) return;
        long c = comm;
        comm = 0;
        check(CudaKernels.soma_cuda_nccl_comm_abort(c), "ncclCommAbort");
        if (commStream != 0) {
            CudaKernels.soma_cuda_stream_destroy(commStream); // aborted collectives end; do not wait for them
            commStream = 0;
        }
    }

    private void stopWatchdog() {
        NcclWatchdog w;
        synchronized (this) {
            w = watchdog;
            watchdog = null;
        }
        if (w != null) w.close(); // outside the lock: its thread may be waiting for it to abort
    }

    @Override
    public void close() {
        stopWatchdog();
        closeNow();
    }

    private synchronized void closeNow() {
        if (comm == 0) {
            destroyCommStream(); // after an abort
            return;
        }
        long c = comm;
        comm = 0;
        try {
            check(CudaKernels.soma_cuda_nccl_comm_destroy(c), "ncclCommDestroy");
        } finally {
            destroyCommStream();
        }
    }

    private void destroyCommStream() {
        if (commStream == 0) return;
        long s = commStream;
        commStream = 0;
        // Its queued collectives finish first: a blocked stream would keep the buffers they read in use.
        int status = CudaKernels.soma_cuda_stream_synchronize(s);
        CudaKernels.soma_cuda_stream_destroy(s);
        if (status != 0) cuda(status, "soma_cuda_stream_synchronize (NCCL's communication stream)");
    }

    private long stream() {
        Backend b = Backends.get(device);
        return b.currentStream();
    }

    private void requireOpen(String what) {
        String aborted = abortedBecause;
        if (aborted != null) {
            throw new DistributedException("rank " + rank + " of " + size + ": " + what + ": NCCL on " + device
                    + " was aborted: " + aborted + " (resume the job from the last checkpoint)");
        }
        if (comm == 0) throw new IllegalStateException(what + ": the NCCL communicator (rank " + rank + " of " + size + " on "
                + device + ") is closed");
    }

    private void requireUsable(Tensor t, String what, boolean int32Allowed) {
        requireOpen(what);
        if (t == null) throw new IllegalArgumentException("NCCL: the tensor is null");
        t.checkOpen(what);
        if (!t.device().equals(device)) {
            throw new IllegalArgumentException(what + ": the tensor is on " + t.device() + ", the communicator on " + device
                    + " (NCCL moves device memory of its own GPU; CPU tensors go through Mpi)");
        }
        if (!t.isContiguous()) throw new IllegalArgumentException(what + ": the tensor is not contiguous");
        boolean ok = t.dtype() == DType.F32 || t.dtype() == DType.F64 || (int32Allowed && t.dtype() == DType.I32);
        if (!ok) {
            throw new IllegalArgumentException(what + ": dtype " + t.dtype() + "; expected float32 or float64"
                    + (int32Allowed ? " or int32" : " (sums of gradients and statistics)"));
        }
    }

    private static String describe(Tensor t) {
        return t == null ? "null" : t.describe();
    }

    private static void requireGpu(Device device, String what) {
        if (device == null || device.isCpu()) {
            throw new IllegalArgumentException(what + " needs a CUDA device, got " + device + " (CPU ranks use MPI)");
        }
    }

    private static void check(int rc, String what) {
        if (rc == 0) return;
        String reason = switch (rc) {
            case CudaKernels.NOT_OPENED, CudaKernels.MISSING_ENTRY -> CudaKernels.soma_cuda_status_string(rc);
            case CudaKernels.NCCL_ERROR -> errorText();
            default -> "status " + rc;
        };
        throw new DistributedException(what + " failed: " + reason);
    }

    /** The calling thread's last NCCL failure (soma_cuda_nccl_error_text). */
    static String errorText() {
        byte[] b = new byte[2048];
        CudaKernels.soma_cuda_nccl_error_text(b, b.length);
        return CudaLibraries.cString(b);
    }
}
