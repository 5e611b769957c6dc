package dev.soma.distributed;

import dev.soma.errors.DistributedException;
import dev.soma.jni.CudaLibraries;
import dev.soma.jni.MpiKernels;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * The process's MPI world (MPI_COMM_WORLD), opened at run time through the shim libsoma_mpi.so, which dlopen()s the
 * machine's MPI library: {@code SOMA_MPI_LIBRARY} when set, else the launcher's own first ({@link MpiLibraries}:
 * libmpi.so.40 for Open MPI; libmpi.so.12 or libmpich.so.12 for MPICH, Intel MPI, MVAPICH, Cray MPICH), then libmpi.so.
 * A library that starts a world of another size than the launcher announced is refused. One instance per process
 * ({@link #world()}); call it from one thread (the training thread: MPI is initialised with MPI_THREAD_FUNNELED).
 *
 * <p>Every collective is non-blocking inside and waited for with a bound ({@code SOMA_DIST_TIMEOUT} seconds, 300 by
 * default): when a peer died or hangs, the wait ends with a {@link DistributedException} naming this rank and the
 * operation instead of a silent hang. Buffers are contiguous tensors, f32 or f64 (all-reduce) or any dtype
 * (broadcast; f32, f64 or int32 on a GPU). GPU tensors are staged through host memory ({@link HostStaging}) by
 * default; with {@code SOMA_GPU_COLLECTIVES=nccl} they stay on the device and go through one NCCL communicator per
 * GPU ({@link Nccl}), made on the first collective of a tensor on that GPU and destroyed by {@link #finish()}.
 */
public final class Mpi {
    private static Mpi world;

    private final int rank;
    private final int size;
    private final double timeoutSeconds;
    private final String library;
    private final GpuCollectives gpuCollectives;
    private final java.util.Map<Device, Nccl> nccl = new java.util.LinkedHashMap<>();
    private boolean finalized;

    /** How the collectives of GPU tensors reach the other ranks (SOMA_GPU_COLLECTIVES). */
    public enum GpuCollectives {
        /** Copied to host memory, reduced by MPI, copied back (the default: it also lets ranks share a GPU). */
        HOST,
        /** NCCL on the device, queued on the device's streams ({@link Nccl}); one GPU per rank on a real device. */
        NCCL;

        /** SOMA_GPU_COLLECTIVES: "host" (default) or "nccl". */
        public static GpuCollectives configured() {
            return configured(System.getenv());
        }

        /** {@link #configured()} from {@code env}. */
        public static GpuCollectives configured(java.util.Map<String, String> env) {
            String v = env.get("SOMA_GPU_COLLECTIVES");
            if (v == null || v.isBlank() || v.equalsIgnoreCase("host")) return HOST;
            if (v.equalsIgnoreCase("nccl")) return NCCL;
            throw new IllegalArgumentException("SOMA_GPU_COLLECTIVES must be host or nccl, got '" + v + "'");
        }
    }

    private Mpi(int rank, int size, double timeoutSeconds, String library, GpuCollectives gpuCollectives) {
        this.rank = rank;
        this.size = size;
        this.timeoutSeconds = timeoutSeconds;
        this.library = library;
        this.gpuCollectives = gpuCollectives;
    }

    /** True when this process was started by an MPI launcher (mpirun, mpiexec, srun with PMI/PMIx). */
    public static boolean launched() {
        return launchedSize() > 0;
    }

    /** The world size the launcher announced in the environment, or 0 when none did. */
    public static int launchedSize() {
        for (String v : new String[] {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"}) {
            String s = System.getenv(v);
            if (s != null && s.matches("\\d{1,6}")) return Integer.parseInt(s);
        }
        return System.getenv("PMIX_RANK") != null ? 1 : 0;
    }

    /**
     * This process's place among the ranks of its node, as the launcher announced it (Open MPI's
     * OMPI_COMM_WORLD_LOCAL_RANK, MPICH/Hydra's MPI_LOCALRANKID, Slurm's SLURM_LOCALID), or 0: which GPU a rank takes.
     */
    public static int localRank(java.util.Map<String, String> env) {
        for (String v : new String[] {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"}) {
            String s = env.get(v);
            if (s != null && s.matches("\\d{1,6}")) return Integer.parseInt(s);
        }
        return 0;
    }

    /**
     * What a rank of this machine would open, without opening anything (for {@code soma info}): the MPI libraries
     * found, or how to get one; SOMA_MPI_LIBRARY when set.
     */
    public static String librariesFound() {
        java.util.Map<String, String> env = System.getenv();
        String override = MpiLibraries.override(env);
        if (override != null) return "SOMA_MPI_LIBRARY=" + override + " (opened as given)";
        java.util.Map<String, java.nio.file.Path> found = MpiLibraries.installed(env);
        if (found.isEmpty()) {
            return "no MPI library found (data-parallel training needs Open MPI or MPICH: apt-get install openmpi-bin "
                    + "libopenmpi-dev; docs/distributed.md)";
        }
        List<String> parts = new ArrayList<>();
        found.forEach((name, path) -> parts.add(name + " (" + path + ")"));
        return String.join(", ", parts) + "\na rank opens its launcher's own: Open MPI's under mpirun, the MPICH ABI under "
                + "Hydra's mpiexec (SOMA_MPI_LIBRARY overrides)";
    }

    /**
     * Refuses a SOMA_MPI_SMALL_ALLREDUCE_BYTES that is not a byte count (0 turns the small path off): the shim would
     * read it as 0, and a mistyped value would silently change the algorithm.
     */
    static void checkSmallAllreduceBytes(java.util.Map<String, String> env) {
        String v = env.get("SOMA_MPI_SMALL_ALLREDUCE_BYTES");
        if (v == null || v.isEmpty()) return;
        if (!v.matches("\\d{1,10}") || Long.parseLong(v) > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("SOMA_MPI_SMALL_ALLREDUCE_BYTES must be a number of bytes from 0 to "
                    + Integer.MAX_VALUE + " (all-reduces up to it run as recursive doubling; 0: never), got '" + v + "'");
        }
    }

    /** Opens the MPI library and initialises MPI on first use; the same world afterwards. */
    public static synchronized Mpi world() {
        if (world == null) world = open();
        return world;
    }

    /** The world when {@link #world()} has opened it, else null (for rank-0-only outputs: no MPI means rank 0). */
    public static synchronized Mpi current() {
        return world;
    }

    /** True unless this process is a rank other than 0 of an opened world: the process that writes files and logs. */
    public static boolean writesOutputs() {
        Mpi w = current();
        return w == null || w.rank == 0;
    }

    private static Mpi open() {
        GpuCollectives gpu = GpuCollectives.configured(); // a bad value fails before MPI starts
        java.util.Map<String, String> env = System.getenv();
        checkSmallAllreduceBytes(env); // read by the shim at init
        MpiKernels.load();
        List<String> candidates = MpiLibraries.candidates(env);
        List<String> failures = new ArrayList<>();
        String opened = null;
        for (String lib : candidates) {
            byte[] err = new byte[1024];
            if (MpiKernels.soma_mpi_open(lib, err, err.length) == 0) {
                opened = lib;
                break;
            }
            failures.add(lib + ": " + CudaLibraries.cString(err));
        }
        if (opened == null) {
            throw new DistributedException("MPI: no usable MPI library could be opened (" + String.join("; ", failures)
                    + "). Install Open MPI or MPICH (Debian: apt-get install openmpi-bin libopenmpi-dev) or set "
                    + "SOMA_MPI_LIBRARY to the cluster's libmpi.so");
        }
        int[] rank = new int[1], size = new int[1];
        check(MpiKernels.soma_mpi_init(rank, size), "MPI_Init_thread", "rank ?");
        String mismatch = MpiLibraries.mismatch(env, opened, size[0]);
        if (mismatch != null) {
            MpiKernels.soma_mpi_finalize(); // a world of its own: nobody else to wait for
            throw new DistributedException(mismatch);
        }
        double timeout = 300;
        String t = env.get("SOMA_DIST_TIMEOUT");
        if (t != null && !t.isBlank()) {
            try {
                timeout = Double.parseDouble(t);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("SOMA_DIST_TIMEOUT must be a number of seconds, got '" + t + "'");
            }
            if (!(timeout > 0)) throw new IllegalArgumentException("SOMA_DIST_TIMEOUT must be > 0, got " + t);
        }
        return new Mpi(rank[0], size[0], timeout, opened, gpu);
    }

    public int rank() {
        return rank;
    }

    public int size() {
        return size;
    }

    /** How collectives of GPU tensors travel (SOMA_GPU_COLLECTIVES). */
    public GpuCollectives gpuCollectives() {
        return gpuCollectives;
    }

    /**
     * This rank's NCCL communicator for {@code device}, joined on first use: a collective, so every rank must ask at
     * the same point (the first collective of a tensor on that GPU does).
     */
    public synchronized Nccl nccl(Device device) {
        requireOpen("NCCL on " + device);
        Nccl c = nccl.get(device);
        if (c == null) {
            c = Nccl.create(this, device);
            nccl.put(device, c);
        }
        return c;
    }

    /** The bound of every wait, in seconds (SOMA_DIST_TIMEOUT). */
    public double timeoutSeconds() {
        return timeoutSeconds;
    }

    /** Which library and ABI: "libmpi.so.40 (Open MPI ABI): Open MPI v4.1.4, ...". */
    public String describe() {
        byte[] v = new byte[512];
        String version = MpiKernels.soma_mpi_library_version(v, v.length) == 0 ? CudaLibraries.cString(v).lines().findFirst().orElse("")
                : "?";
        String abi = MpiKernels.soma_mpi_abi() == MpiKernels.ABI_OPEN_MPI ? "Open MPI ABI" : "MPICH ABI";
        return library + " (" + abi + "): " + version.trim()
                + (MpiKernels.soma_mpi_progress_thread() == 1 ? "; progress thread on" : "");
    }

    /**
     * All-reduces of at most this many bytes run as recursive doubling on MPI's point-to-point calls (the shim's small
     * path; {@code SOMA_MPI_SMALL_ALLREDUCE_BYTES}, 0 turns it off), larger ones as MPI_Iallreduce.
     */
    public long smallAllreduceBytes() {
        return MpiKernels.soma_mpi_small_allreduce_bytes();
    }

    /** How many all-reduces of this process took the small path. */
    public long smallAllreduces() {
        return MpiKernels.soma_mpi_small_allreduces();
    }

    /** Seconds from an arbitrary origin (MPI_Wtime). */
    public double wtime() {
        return MpiKernels.soma_mpi_wtime();
    }

    // ------------------------------------------------------------------ collectives

    /** A collective in flight; {@link #await()} finishes it (bounded), {@link #test()} asks without waiting. */
    public final class Request {
        private final int slot;
        /** What the collective is, for error messages only: built when one is thrown, not per call. */
        private final java.util.function.Supplier<String> what;
        private boolean done;

        private Request(int slot, java.util.function.Supplier<String> what) {
            this.slot = slot;
            this.what = what;
        }

        /** True when the collective has finished; also drives MPI's progress for it. */
        public boolean test() {
            if (done) return true;
            int[] flag = new int[1];
            check(MpiKernels.soma_mpi_test(slot, flag), what);
            done = flag[0] != 0;
            return done;
        }

        /** Waits until the collective has finished, at most {@link #timeoutSeconds()}. */
        public void await() {
            if (done) return;
            checkWait(MpiKernels.soma_mpi_wait(slot, timeoutSeconds), what);
            done = true;
        }
    }

    /** Throws for a failed wait: the bound passed (a peer died or hangs), or MPI reported an error. */
    private void checkWait(int rc, java.util.function.Supplier<String> what) {
        if (rc == MpiKernels.TIMEOUT) {
            throw new DistributedException("rank " + rank + " of " + size + ": " + what.get() + " did not finish within "
                    + timeoutSeconds + " s: another rank has probably died or stopped (SOMA_DIST_TIMEOUT sets the "
                    + "bound); the job cannot continue, resume it from the last checkpoint");
        }
        check(rc, what);
    }

    /** Starts an in-place sum over every rank of {@code count} f32/f64 elements at {@code address} (CPU memory). */
    public Request iallreduceSum(DType dtype, long address, long count, String what) {
        return iallreduceSum(dtype, address, count, () -> what);
    }

    /** {@link #iallreduceSum(DType, long, long, String)} with the description made only for an error message. */
    public Request iallreduceSum(DType dtype, long address, long count, java.util.function.Supplier<String> what) {
        checkArguments(dtype, address, count, what);
        int[] slot = new int[1];
        check(MpiKernels.soma_mpi_iallreduce_sum(dtype.code(), address, count, slot), what);
        return new Request(slot[0], what);
    }

    private void checkArguments(DType dtype, long address, long count, java.util.function.Supplier<String> what) {
        if (finalized) requireOpen(what.get());
        if (dtype != DType.F32 && dtype != DType.F64) {
            throw new IllegalArgumentException(what.get() + ": all-reduce sums f32 or f64 buffers, got " + dtype);
        }
        if (count < 0 || count > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(what.get() + ": " + count + " elements; one all-reduce takes 0.." + Integer.MAX_VALUE);
        }
        if (address == 0 && count > 0) throw new IllegalArgumentException(what.get() + ": null buffer");
    }

    /**
     * Sums {@code t} (a contiguous f32/f64 tensor) over every rank, in place. A GPU tensor goes through host memory
     * (copied out, reduced, copied back), as Gloo serves CUDA tensors, or with SOMA_GPU_COLLECTIVES=nccl through NCCL on
     * the device.
     */
    public void allreduceSum(Tensor t) {
        if (onGpu(t, "allreduce", c -> c.allreduceSum(t), this::allreduceSum)) return; // else a checked CPU tensor
        java.util.function.Supplier<String> what = () -> "all-reduce of " + t.describe();
        checkArguments(t.dtype(), t.address(), t.numel(), what);
        // Started and waited for in one native call: the same bounded wait as a Request's, one JNI crossing fewer.
        checkWait(MpiKernels.soma_mpi_allreduce_sum_wait(t.dtype().code(), t.address(), t.numel(), timeoutSeconds), what);
    }

    /** Sums {@code values} over every rank (in place): logs, metrics and counts. */
    public void allreduceSum(double[] values) {
        if (values.length == 0) return;
        try (Tensor t = Tensor.empty(DType.F64, Device.cpu(), values.length).keep()) {
            dev.soma.jni.CpuKernels.copyFromDoubles(t.address(), values, 8L * values.length);
            allreduceSum(t);
            double[] out = t.toDoubleArray();
            System.arraycopy(out, 0, values, 0, values.length);
        }
    }

    /**
     * Overwrites {@code t} (contiguous; a GPU tensor goes through host memory, or NCCL with SOMA_GPU_COLLECTIVES=nccl)
     * on every rank with rank {@code root}'s values.
     */
    public void broadcast(Tensor t, int root) {
        if (onGpu(t, "broadcast", c -> c.broadcast(t, root), host -> broadcast(host, root))) return; // else a CPU tensor
        if (root < 0 || root >= size) throw new IllegalArgumentException("broadcast: root " + root + " is not a rank of " + size);
        int[] slot = new int[1];
        String what = "broadcast of " + t.describe() + " from rank " + root;
        long bytes = t.numel() * t.dtype().byteSize();
        if (bytes > Integer.MAX_VALUE) throw new IllegalArgumentException(what + ": over 2 GiB in one broadcast");
        check(MpiKernels.soma_mpi_ibcast(t.address(), bytes, root, slot), () -> what);
        new Request(slot[0], () -> what).await();
    }

    /** Waits until every rank has arrived (bounded). */
    public void barrier() {
        requireOpen("barrier");
        int[] slot = new int[1];
        check(MpiKernels.soma_mpi_ibarrier(slot), () -> "barrier");
        new Request(slot[0], () -> "barrier").await();
    }

    /** Ends MPI for this process (MPI_Finalize); call once, after the last collective, on every rank. */
    public synchronized void finish() {
        if (finalized) return;
        for (Nccl c : nccl.values()) c.close();
        nccl.clear();
        finalized = true;
        check(MpiKernels.soma_mpi_finalize(), "MPI_Finalize", "rank " + rank);
    }

    /** Ends every rank of the job now (MPI_Abort), e.g. after an error on this rank that the others cannot see. */
    public void abort(int code) {
        MpiKernels.soma_mpi_abort(code);
    }

    private void requireOpen(String what) {
        if (finalized) throw new IllegalStateException(what + ": MPI was finalized on rank " + rank);
    }

    private void requireContiguous(Tensor t, String op) {
        requireOpen(op);
        if (t == null) throw new IllegalArgumentException(op + ": the tensor is null");
        t.checkOpen(op);
        if (!t.isContiguous()) throw new IllegalArgumentException(op + ": " + t.describe() + " is not contiguous");
    }

    /**
     * Checks {@code t}; for a tensor off the CPU, runs the collective through NCCL on the device or (the default) on
     * a host copy whose result is written back, and returns true; false for a CPU tensor (the caller runs the
     * collective on it directly).
     */
    private boolean onGpu(Tensor t, String op, java.util.function.Consumer<Nccl> onDevice,
            java.util.function.Consumer<Tensor> collective) {
        requireContiguous(t, op);
        if (t.device().isCpu()) return false;
        if (gpuCollectives == GpuCollectives.NCCL) {
            onDevice.accept(nccl(t.device()));
            return true;
        }
        try (Tensor host = dev.soma.backend.Transfers.to(t, Device.cpu())) {
            collective.accept(host);
            HostStaging.writeBack(host, t);
        }
        return true;
    }

    private void check(int rc, java.util.function.Supplier<String> what) {
        if (rc == 0) return;
        check(rc, what.get(), "rank " + rank);
    }

    private static void check(int rc, String what, String who) {
        if (rc == 0) return;
        String reason = switch (rc) {
            case MpiKernels.NOT_OPENED -> "the MPI library is not open";
            case MpiKernels.NO_SLOT -> MpiKernels.soma_mpi_last_error(); // too many in flight, or no such request
            default -> MpiKernels.soma_mpi_last_error();
        };
        throw new DistributedException(who + ": " + what + " failed: " + reason
                + " (a peer rank that died shows up like this; resume the job from the last checkpoint)");
    }
}
