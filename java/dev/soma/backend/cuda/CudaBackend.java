package dev.soma.backend.cuda;

import dev.soma.backend.AttentionKernels;
import dev.soma.backend.Backend;
import dev.soma.backend.ConvKernels;
import dev.soma.backend.CudaProbe;
import dev.soma.backend.KernelProfiler;
import dev.soma.backend.ElementwiseKernels;
import dev.soma.backend.LinalgKernels;
import dev.soma.backend.LossKernels;
import dev.soma.backend.CheckedMemory;
import dev.soma.backend.MemoryKernels;
import dev.soma.backend.NormalizationKernels;
import dev.soma.backend.OptimizerKernels;
import dev.soma.backend.RandomKernels;
import dev.soma.backend.RecurrentKernels;
import dev.soma.backend.ReductionKernels;
import dev.soma.jni.CudaKernels;
import dev.soma.jni.NativeLibraries;
import dev.soma.memory.CachingPool;
import dev.soma.backend.Prefetched;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

import java.util.List;
import java.util.function.Supplier;

/**
 * One CUDA device, real or emulated: a stream-aware caching pool over soma_cuda_malloc, a pool of pinned host
 * staging buffers, and our kernels from cuda-kernels/, all through our C ABI (the same calls drive either kind).
 * Work is enqueued on the device's compute stream, or on its copy stream inside {@link #prefetch}; the host waits
 * only when it reads values. Made only by {@code Backends} after {@link CudaProbe} found a usable device.
 */
public final class CudaBackend implements Backend {
    /** The pinned pool's blocks belong to no stream: every use is recorded, so each waits for its copy. */
    static final long HOST = -1L;

    private final Device device;
    private final CudaStreams streams;
    private final CachingPool pool;
    private final CachingPool pinned;
    /** The stream the calling thread enqueues on, when it is not the compute stream (inside prefetch). */
    private final ThreadLocal<Long> streamOverride = new ThreadLocal<>();
    private final MemoryKernels memory;
    private final ElementwiseKernels elementwise = profiled(ElementwiseKernels.class, new CudaElementwise(this));
    private final LinalgKernels linalg = profiled(LinalgKernels.class, new CudaLinalg(this));
    private final RandomKernels random = profiled(RandomKernels.class, new CudaRandom(this));
    private final CudaConv cudaConv = new CudaConv(this);
    private final ConvKernels conv = profiled(ConvKernels.class, cudaConv);
    private final OptimizerKernels optimizer = profiled(OptimizerKernels.class, new CudaOptimizer(this));
    private final NormalizationKernels normalization = profiled(NormalizationKernels.class, new CudaNormalization(this));
    private final ReductionKernels reductions = profiled(ReductionKernels.class, new CudaReductions(this));
    private final LossKernels losses = profiled(LossKernels.class, new CudaLoss(this));
    private final AttentionKernels attention = profiled(AttentionKernels.class, new CudaAttention(this));
    private final RecurrentKernels recurrent = profiled(RecurrentKernels.class, new CudaRecurrent(this));

    public CudaBackend(Device device) {
        if (device.isCpu()) throw new IllegalArgumentException("CudaBackend needs a CUDA device, got " + device);
        this.device = device;
        this.memory = profiled(MemoryKernels.class, new CheckedMemory(device, new CudaMemory(this)));
        NativeLibraries.cpu(); // host-side copies into the pinned staging buffers
        bind();
        this.streams = new CudaStreams(device);
        this.pool = new CachingPool(new CudaAllocator(device.index()), streams);
        this.pinned = new CachingPool(new PinnedHostAllocator(device.index()), streams);
    }

    /** The kernels, timed per call when {@code -Dsoma.profile=true} (KernelProfiler; waits on the current stream). */
    private <T> T profiled(Class<T> type, T kernels) {
        return KernelProfiler.wrap(type, kernels, () -> streams.synchronize(currentStream()));
    }

    /**
     * cuDNN's own timing of every convolution algorithm for each geometry this backend has convolved, one line
     * per (pass, algorithm), the one our heuristic choice uses marked "[chosen]": for benchmarks deciding whether
     * an algorithm search would pay. One line saying why when cuDNN does not run here.
     */
    public java.util.List<String> cudnnConvolutionAlgorithmTimings() {
        bind();
        return cudaConv.cudnnAlgorithmTimings();
    }

    /** Makes this backend's device current on the calling thread (cheap; CUDA keeps it per thread). */
    void bind() {
        CudaStatus.runtime(CudaKernels.soma_cuda_set_device(device.index()), "soma_cuda_set_device", device::toString);
    }

    /** The stream our kernels run on, as a raw cudaStream_t: the calling thread's current stream. */
    long stream() {
        return currentStream();
    }

    @Override
    public long currentStream() {
        Long s = streamOverride.get();
        return s != null ? s : streams.compute();
    }

    CudaStreams streams() {
        return streams;
    }

    /** Statistics of the pinned host staging pool (transfers), as {@link #pool()}'s for device memory. */
    public dev.soma.memory.PoolStats pinnedStats() {
        return pinned.stats();
    }

    /** Page-locked host staging buffers for transfers (blocks allocated for {@link #HOST}). */
    CachingPool pinned() {
        return pinned;
    }

    /**
     * Runs {@code upload} with the copy stream current (its tensors' memory belongs to that stream, its copies are
     * enqueued there) and records an event after it. {@code use()} makes the compute stream wait for the event and
     * notes that the compute stream uses the tensors, so their blocks are not reused before it is done with them.
     */
    @Override
    public Prefetched prefetch(Supplier<List<Tensor>> upload) {
        bind();
        long copy = streams.copy();
        Long previous = streamOverride.get();
        List<Tensor> tensors;
        streamOverride.set(copy);
        try {
            tensors = upload.get();
        } finally {
            if (previous == null) streamOverride.remove();
            else streamOverride.set(previous);
        }
        long event;
        try {
            event = streams.record(copy);
        } catch (RuntimeException e) {
            for (Tensor t : tensors) t.close();
            throw e;
        }
        return new Prefetched(tensors, () -> {
            long consumer = currentStream();
            try {
                streams.waitFor(consumer, event);
                for (Tensor t : tensors) t.recordStream(consumer);
            } finally {
                streams.destroy(event);
            }
        }, () -> streams.destroy(event));
    }

    @Override
    public Device device() {
        return device;
    }

    @Override
    public CachingPool pool() {
        return pool;
    }

    @Override
    public String describe() {
        var devices = CudaProbe.devices();
        String gpu = device.index() < devices.size() ? devices.get(device.index()) : device.toString();
        return gpu + "; Soma CUDA kernels (" + CudaKernels.soma_cuda_build_info() + ")";
    }

    @Override
    public MemoryKernels memory() {
        return memory;
    }

    @Override
    public ElementwiseKernels elementwise() {
        return elementwise;
    }

    @Override
    public ReductionKernels reductions() {
        return reductions;
    }

    @Override
    public LossKernels losses() {
        return losses;
    }

    @Override
    public LinalgKernels linalg() {
        return linalg;
    }

    @Override
    public RandomKernels random() {
        return random;
    }

    @Override
    public ConvKernels conv() {
        return conv;
    }

    @Override
    public OptimizerKernels optimizer() {
        return optimizer;
    }

    @Override
    public NormalizationKernels normalization() {
        return normalization;
    }

    @Override
    public AttentionKernels attention() {
        return attention;
    }

    @Override
    public RecurrentKernels recurrent() {
        return recurrent;
    }
}
