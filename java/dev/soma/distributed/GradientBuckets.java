package dev.soma.distributed;

import dev.soma.autograd.Autograd;
import dev.soma.jni.CpuKernels;
import dev.soma.jni.MpiKernels;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Data-parallel gradient averaging, as PyTorch's DistributedDataParallel reducer: the trainable parameters are
 * grouped into buckets of about {@code bucketBytes} (in reverse order, the order backward finishes them), each with
 * one flat buffer. During backward, autograd tells when a parameter's gradient is final; the gradient is copied into
 * its bucket scaled by this rank's share of the global batch, and when a bucket is complete its sum over the ranks
 * (MPI_Iallreduce) starts while backward goes on. Buckets start strictly in bucket order on every rank, because MPI
 * collectives must be issued in the same order everywhere. After backward every bucket is waited for and copied
 * back into the gradients, which then hold the global batch's gradient on every rank. The buckets live in host
 * memory; a GPU gradient is copied there when it is final and back after the all-reduce ({@link HostStaging}).
 *
 * <p>With {@code SOMA_GPU_COLLECTIVES=nccl} and every parameter on one GPU, the buckets live in that GPU's memory
 * instead: a final gradient is scaled into its bucket by a kernel, a complete bucket's {@code ncclAllReduce} is queued
 * on NCCL's communication stream behind it (so on a GPU it runs beside the rest of backward), and the gradients are
 * copied back by kernels that the compute stream runs after the reductions, so the host never waits for them; a
 * failed one shows up at the next synchronisation and in {@link Nccl#checkHealthy}.
 *
 * <p>With overlap off ({@code SOMA_DDP_OVERLAP=0}) the same buckets start only after backward: the reference for
 * measuring how much all-reduce time the overlap hides. Owns its buffers: {@link #close()} frees them.
 */
public final class GradientBuckets implements AutoCloseable {
    private final Mpi mpi;
    /** Non-null when the buckets live on the GPU and NCCL reduces them there. */
    private final Nccl nccl;
    private final boolean overlap;
    /** Overlap on even steps and off on odd ones (SOMA_DDP_OVERLAP=alternate): both measured in the same run. */
    private final boolean alternate;
    private boolean overlapThisStep;
    private final List<Bucket> buckets = new ArrayList<>();
    private final Map<Tensor, Slot> slots = new IdentityHashMap<>();
    private double share;
    private int nextToStart;
    /**
     * Per parameter, 1 when this rank's backward gave it a gradient, then (after their all-reduce) on how many ranks
     * it had one: a parameter no rank used keeps no gradient, so the optimizer leaves it alone, as in one process
     * (PyTorch's DDP does the same with find_unused_parameters). One small all-reduce per step, started after the
     * buckets and waited for with them.
     */
    private final double[] usedHere;
    private final double[] usedAnywhere;
    private Tensor usedCounts;
    /** Statistics: steps, nanoseconds spent waiting after backward, nanoseconds of backward (with packing). */
    private long steps, waitNanos, backwardNanos;
    /** The same, separately for the steps with overlap off, when alternating. */
    private long stepsOff, waitNanosOff, backwardNanosOff;

    private static final class Slot {
        final Tensor param;
        final Bucket bucket;
        final long offset;
        /** The parameter's place in the usage counts. */
        final int index;
        /** NCCL mode: the parameter's part of its bucket, shaped like the parameter. */
        Tensor view;
        boolean ready;

        Slot(Tensor param, Bucket bucket, long offset, int index) {
            this.param = param;
            this.bucket = bucket;
            this.offset = offset;
            this.index = index;
        }
    }

    private static final class Bucket {
        final DType dtype;
        final List<Slot> slots = new ArrayList<>();
        long numel;
        Tensor buffer;
        int pending;
        Mpi.Request request;

        Bucket(DType dtype) {
            this.dtype = dtype;
        }
    }

    public GradientBuckets(Mpi mpi, List<Tensor> params, long bucketBytes, boolean overlap) {
        this(mpi, params, bucketBytes, overlap, false);
    }

    /**
     * {@code alternate}: overlap on even steps, off on odd ones (every rank alike), to measure in one run how much
     * of the all-reduce the overlap hides ({@link #hiddenFraction}); {@code overlap} is then ignored.
     */
    public GradientBuckets(Mpi mpi, List<Tensor> params, long bucketBytes, boolean overlap, boolean alternate) {
        if (bucketBytes <= 0) throw new IllegalArgumentException("GradientBuckets: bucket size must be > 0, got " + bucketBytes);
        this.mpi = mpi;
        this.overlap = overlap || alternate;
        this.alternate = alternate;
        Bucket current = null;
        for (int i = params.size() - 1; i >= 0; i--) {
            Tensor p = params.get(i);
            if (p.dtype() != DType.F32 && p.dtype() != DType.F64) {
                throw new IllegalArgumentException("data-parallel training: parameter " + p.describe() + " is not f32/f64");
            }
            long bytes = p.numel() * p.dtype().byteSize();
            if (current == null || current.dtype != p.dtype()
                    || (current.numel > 0 && (current.numel * current.dtype.byteSize() + bytes) > bucketBytes)) {
                current = new Bucket(p.dtype());
                buckets.add(current);
            }
            Slot s = new Slot(p, current, current.numel, slots.size());
            current.slots.add(s);
            current.numel += p.numel();
            slots.put(p, s);
        }
        usedHere = new double[slots.size()];
        usedAnywhere = new double[slots.size()];
        Device gpu = onOneGpu(params);
        this.nccl = gpu != null && mpi.gpuCollectives() == Mpi.GpuCollectives.NCCL ? mpi.nccl(gpu) : null;
        try {
            Device home = nccl != null ? gpu : Device.cpu();
            usedCounts = Tensor.zeros(DType.F64, Device.cpu(), Math.max(1, slots.size())).keep();
            for (Bucket b : buckets) {
                b.buffer = Tensor.zeros(b.dtype, home, b.numel).keep();
                if (nccl == null) continue;
                for (Slot s : b.slots) {
                    try (Tensor flat = b.buffer.slice(0, s.offset, s.offset + s.param.numel(), 1)) {
                        s.view = flat.reshape(s.param.shape()).keep();
                    }
                }
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** The GPU that holds every parameter, or null (CPU parameters, or more than one device). */
    private static Device onOneGpu(List<Tensor> params) {
        Device d = null;
        for (Tensor p : params) {
            if (p.device().isCpu() || (d != null && !d.equals(p.device()))) return null;
            d = p.device();
        }
        return d;
    }

    /** True when the buckets live on the GPU and NCCL reduces them (SOMA_GPU_COLLECTIVES=nccl). */
    public boolean onDevice() {
        return nccl != null;
    }

    /** The bucket size data-parallel training uses: SOMA_DDP_BUCKET_MB (default 4; PyTorch uses 25 for larger models). */
    public static long configuredBucketBytes() {
        String v = System.getenv("SOMA_DDP_BUCKET_MB");
        double mb = 4;
        if (v != null && !v.isBlank()) {
            try {
                mb = Double.parseDouble(v);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("SOMA_DDP_BUCKET_MB must be a number of MiB, got '" + v + "'");
            }
            if (!(mb > 0)) throw new IllegalArgumentException("SOMA_DDP_BUCKET_MB must be > 0, got " + v);
        }
        return (long) (mb * 1024 * 1024);
    }

    /** Whether buckets start during backward: unless SOMA_DDP_OVERLAP=0 (the reference for measuring overlap). */
    public static boolean configuredOverlap() {
        return !"0".equals(System.getenv("SOMA_DDP_OVERLAP"));
    }

    /** SOMA_DDP_OVERLAP=alternate: overlap on every other step only, to measure the hidden fraction in one run. */
    public static boolean configuredAlternate() {
        return "alternate".equals(System.getenv("SOMA_DDP_OVERLAP"));
    }

    /** Buckets for {@code params} as data-parallel training configures them (SOMA_DDP_BUCKET_MB, SOMA_DDP_OVERLAP). */
    public static GradientBuckets configured(Mpi mpi, List<Tensor> params) {
        return new GradientBuckets(mpi, params, configuredBucketBytes(), configuredOverlap(), configuredAlternate());
    }

    /** Bucket count (for logs and tests). */
    public int bucketCount() {
        return buckets.size();
    }

    /**
     * Backward from {@code loss} (this rank's mean loss of its part of the global batch) with the buckets' all-reduce,
     * then waits: afterwards every parameter's gradient is the global batch's gradient. {@code share} is this rank's
     * examples over the global batch's. {@code loss} null: this rank has no examples in this batch and contributes
     * zero gradients (it still joins every all-reduce).
     */
    public void backward(Tensor loss, double share) {
        begin(share);
        overlapThisStep = alternate ? (steps + stepsOff) % 2 == 0 : overlap;
        long t0 = System.nanoTime();
        if (loss != null) Autograd.backward(loss, overlapThisStep ? this::gradientReady : t -> { });
        long t1 = System.nanoTime();
        // Parameters backward did not reach (or all of them, without overlap) are packed now, in bucket order.
        for (Bucket b : buckets) {
            for (Slot s : b.slots) if (!s.ready) markReady(s);
        }
        // After every bucket on every rank: the same collective order everywhere.
        CpuKernels.copyFromDoubles(usedCounts.address(), usedHere, 8L * usedHere.length);
        Mpi.Request usedRequest = mpi.iallreduceSum(DType.F64, usedCounts.address(), usedHere.length,
                () -> "all-reduce of which parameters got gradients (" + usedHere.length + " float64)");
        // The wait is timed from here: packing the gradients is not all-reduce time (without overlap it all
        // happens above, with overlap during backward).
        t1 = System.nanoTime();
        for (Bucket b : buckets) if (b.request != null) b.request.await();
        if (nccl == null) usedRequest.await();
        else awaitBesideNccl(usedRequest);
        CpuKernels.copyToDoubles(usedAnywhere, usedCounts.address(), 8L * usedAnywhere.length);
        if (nccl != null) nccl.joinCompute(); // the copies back wait on the device, not here
        long t2 = System.nanoTime();
        for (Bucket b : buckets) unpack(b);
        if (nccl != null) nccl.checkHealthy(); // what failed on the device so far (cheap: no synchronisation)
        if (overlapThisStep) {
            steps++;
            backwardNanos += t1 - t0;
            waitNanos += t2 - t1;
        } else {
            stepsOff++;
            backwardNanosOff += t1 - t0;
            waitNanosOff += t2 - t1;
        }
    }

    /**
     * NCCL mode: the usage counts are the host's only wait of the step. When a peer stopped, the NCCL collectives
     * already queued wait for it too, and NCCL's own failure path (the watchdog on a device, the emulated device's
     * bounded wait) is what names it; so after 100 ms without the counts the host waits for those collectives first
     * (which ends when the peer has queued its own, or fails), then for the counts with MPI's bound.
     */
    private void awaitBesideNccl(Mpi.Request request) {
        long start = System.nanoTime();
        while (!request.test()) {
            long waited = System.nanoTime() - start;
            if (waited > 100_000_000L) {
                nccl.awaitCollectives();
                request.await();
                return;
            }
            if (waited > 10_000_000L) java.util.concurrent.locks.LockSupport.parkNanos(50_000);
            else Thread.onSpinWait();
        }
    }

    private void begin(double share) {
        if (!(share >= 0 && share <= 1)) throw new IllegalArgumentException("GradientBuckets: share " + share + " is not in [0, 1]");
        this.share = share;
        nextToStart = 0;
        for (Bucket b : buckets) {
            b.pending = b.slots.size();
            b.request = null;
            for (Slot s : b.slots) s.ready = false;
        }
    }

    /** Autograd finished {@code t}: a parameter's gradient is final, or (any other tensor) a chance to progress. */
    private void gradientReady(Tensor t) {
        Slot s = slots.get(t);
        if (s != null && !s.ready) markReady(s);
        if (nccl != null) return; // NCCL progresses on the device
        // MPI moves non-blocking collectives on only inside MPI calls: ask about the oldest one in flight.
        for (int i = 0; i < nextToStart; i++) {
            Bucket b = buckets.get(i);
            if (!b.request.test()) break;
        }
    }

    private void markReady(Slot s) {
        s.ready = true;
        Tensor g = s.param.grad();
        usedHere[s.index] = g != null && !g.isClosed() ? 1 : 0;
        Bucket b = s.bucket;
        if (nccl != null) {
            packOnDevice(s);
        } else {
            packOnHost(s);
        }
        if (--b.pending == 0) {
            // Start complete buckets in bucket order only (the same order on every rank).
            while (nextToStart < buckets.size() && buckets.get(nextToStart).pending == 0) {
                Bucket next = buckets.get(nextToStart++);
                int index = nextToStart - 1;
                if (nccl != null) {
                    nccl.allreduceSumOverlapped(next.buffer);
                } else {
                    next.request = mpi.iallreduceSum(next.dtype, next.buffer.address(), next.numel,
                            () -> "gradient all-reduce (bucket " + index + " of " + buckets.size() + ", " + next.numel
                                    + " " + next.dtype + ")");
                }
            }
        }
    }

    /** NCCL mode: the gradient times this rank's share, written into its bucket by a kernel (zeros without one). */
    private void packOnDevice(Slot s) {
        Tensor g = s.param.grad();
        dev.soma.backend.Backend backend = s.view.backend();
        if (g == null || g.isClosed()) {
            backend.memory().fill(s.view, 0.0);
            return;
        }
        requireBucketable(g, s);
        backend.elementwise().unary(dev.soma.backend.ElementwiseKernels.UnaryOp.MUL_SCALAR, g, s.view, share, 0);
    }

    private void requireBucketable(Tensor g, Slot s) {
        if (!g.isContiguous() || g.dtype() != s.bucket.dtype || !g.device().equals(s.bucket.buffer.device())) {
            throw new IllegalStateException("data-parallel training: the gradient " + g.describe() + " of "
                    + s.param.describe() + " is not a contiguous " + s.bucket.dtype + " tensor on "
                    + s.bucket.buffer.device());
        }
    }

    private void packOnHost(Slot s) {
        Bucket b = s.bucket;
        long dst = b.buffer.address() + s.offset * b.dtype.byteSize();
        Tensor g = s.param.grad();
        if (g == null || g.isClosed()) {
            CpuKernels.soma_cpu_fill(b.dtype.code(), dst, s.param.numel(), 0.0);
        } else {
            if (!g.isContiguous() || g.dtype() != b.dtype) {
                throw new IllegalStateException("data-parallel training: the gradient " + g.describe() + " of "
                        + s.param.describe() + " is not a contiguous " + b.dtype + " tensor");
            }
            if (g.device().isCpu()) {
                MpiKernels.soma_mpi_pack(b.dtype.code(), dst, g.address(), s.param.numel(), share);
            } else {
                try (Tensor host = dev.soma.backend.Transfers.to(g, Device.cpu())) { // see HostStaging
                    MpiKernels.soma_mpi_pack(b.dtype.code(), dst, host.address(), s.param.numel(), share);
                }
            }
        }
    }

    private void unpack(Bucket b) {
        for (Slot s : b.slots) {
            if (usedAnywhere[s.index] == 0) continue; // no rank's backward reached it: it keeps no gradient
            Tensor g = s.param.grad();
            if (g == null || g.isClosed()) {
                // A parameter with no local gradient (this rank had no examples, or its branch was not taken here)
                // that another rank used: it gets the global gradient too.
                try (Tensor zero = Tensor.zeros(s.param.dtype(), s.param.device(), s.param.shape())) {
                    s.param.accumulateGrad(zero);
                }
                g = s.param.grad();
            }
            if (nccl != null) {
                requireBucketable(g, s);
                g.backend().memory().copy(s.view, g);
                continue;
            }
            long src = b.buffer.address() + s.offset * b.dtype.byteSize();
            if (g.device().isCpu()) {
                CpuKernels.soma_cpu_copy(g.address(), src, s.param.numel() * b.dtype.byteSize());
            } else {
                HostStaging.writeBack(b.dtype, src, s.param.numel(), g);
            }
        }
    }

    /** Steps so far, and the mean milliseconds per step of backward and of the wait for all-reduce after it. */
    public String statistics() {
        return timings() + "; " + (nccl != null ? "buckets on " + nccl.device() + ", reduced by " + nccl.describe()
                : "buckets in host memory, reduced by MPI");
    }

    private String timings() {
        if (!alternate) {
            long n = overlap ? steps : stepsOff;
            double d = Math.max(n, 1);
            return String.format(java.util.Locale.ROOT, "%d steps, %d buckets, backward %.2f ms/step, all-reduce wait after "
                    + "backward %.2f ms/step (overlap %s)", n, buckets.size(), (backwardNanos + backwardNanosOff) / 1e6 / d,
                    (waitNanos + waitNanosOff) / 1e6 / d, overlap ? "on" : "off");
        }
        return String.format(java.util.Locale.ROOT, "%d steps, %d buckets, alternating: overlap on %d steps, backward %.2f "
                + "ms/step, wait after backward %.2f ms/step; overlap off %d steps, backward %.2f ms/step, wait %.2f "
                + "ms/step; all-reduce time hidden behind backward %.0f %%", steps + stepsOff, buckets.size(), steps,
                meanBackwardMillis(), meanWaitMillis(), stepsOff, backwardNanosOff / 1e6 / Math.max(stepsOff, 1),
                waitNanosOff / 1e6 / Math.max(stepsOff, 1), 100 * hiddenFraction());
    }

    /**
     * With alternating steps: 1 - (wait after backward with overlap) / (wait without), the fraction of the
     * all-reduce time that overlap hides behind backward (without overlap the whole all-reduce comes after
     * backward). NaN unless both kinds of step ran.
     */
    public double hiddenFraction() {
        if (steps == 0 || stepsOff == 0 || waitNanosOff == 0) return Double.NaN;
        return 1 - ((double) waitNanos / steps) / ((double) waitNanosOff / stepsOff);
    }

    /** Steps with overlap on (all steps unless alternating or overlap is off). */
    public long steps() {
        return overlap ? steps : stepsOff;
    }

    /** Mean milliseconds per overlapped step (or per step, with overlap off) of the wait after backward. */
    public double meanWaitMillis() {
        if (!overlap) return waitNanosOff / 1e6 / Math.max(stepsOff, 1);
        return waitNanos / 1e6 / Math.max(steps, 1);
    }

    public double meanBackwardMillis() {
        if (!overlap) return backwardNanosOff / 1e6 / Math.max(stepsOff, 1);
        return backwardNanos / 1e6 / Math.max(steps, 1);
    }

    @Override
    public void close() {
        for (Bucket b : buckets) {
            for (Slot s : b.slots) {
                if (s.view != null) {
                    s.view.close();
                    s.view = null;
                }
            }
            if (b.buffer != null) {
                b.buffer.close();
                b.buffer = null;
            }
        }
        if (usedCounts != null) {
            usedCounts.close();
            usedCounts = null;
        }
    }
}
