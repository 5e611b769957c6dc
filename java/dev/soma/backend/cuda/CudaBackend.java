package dev.soma.backend.cuda;

import dev.soma.backend.AttentionKernels;
import dev.soma.backend.Backend;
import dev.soma.backend.ConvKernels;
import dev.soma.backend.CudaProbe;
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
import dev.soma.memory.CachingPool;
import dev.soma.tensor.Device;

/**
 * One CUDA device, real or emulated: a caching pool over soma_cuda_malloc and our kernels from cuda-kernels/,
 * all through our C ABI (the same calls drive either kind). Work is enqueued on the legacy default stream for
 * now (so host reads through soma_cuda_memcpy are ordered after it); per-backend streams come with the
 * stream-aware pool. Made only by {@code Backends} after {@link CudaProbe} found a usable device.
 */
public final class CudaBackend implements Backend {
    private final Device device;
    private final CachingPool pool;
    private final MemoryKernels memory;
    private final ElementwiseKernels elementwise = new CudaElementwise(this);
    private final LinalgKernels linalg = new CudaLinalg(this);
    private final RandomKernels random = new CudaRandom(this);
    private final ConvKernels conv = new CudaConv(this);
    private final OptimizerKernels optimizer = new CudaOptimizer(this);
    private final NormalizationKernels normalization = new CudaNormalization(this);
    private final ReductionKernels reductions = new CudaReductions(this);
    private final LossKernels losses = new CudaLoss(this);
    private final AttentionKernels attention = new CudaAttention(this);
    private final RecurrentKernels recurrent = new CudaRecurrent(this);

    public CudaBackend(Device device) {
        if (device.isCpu()) throw new IllegalArgumentException("CudaBackend needs a CUDA device, got " + device);
        this.device = device;
        this.memory = new CheckedMemory(device, new CudaMemory(this));
        bind();
        this.pool = new CachingPool(new CudaAllocator(device.index()));
    }

    /** Makes this backend's device current on the calling thread (cheap; CUDA keeps it per thread). */
    void bind() {
        CudaStatus.runtime(CudaKernels.soma_cuda_set_device(device.index()), "soma_cuda_set_device", device::toString);
    }

    /** The stream our kernels run on, as a raw cudaStream_t (0 = the legacy default stream). */
    long stream() {
        return 0L;
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
