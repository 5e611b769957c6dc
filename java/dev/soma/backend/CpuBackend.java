package dev.soma.backend;

import dev.soma.jni.CpuKernels;
import dev.soma.jni.NativeLibraries;
import dev.soma.memory.CachingPool;
import dev.soma.memory.CpuAllocator;
import dev.soma.tensor.Device;

/** The default backend: our C++ kernels (OpenMP) and oneDNN, on host memory from a caching pool. */
public final class CpuBackend implements Backend {
    private final CachingPool pool;
    private final MemoryKernels memory = profiled(MemoryKernels.class, new CheckedMemory(Device.cpu(), new CpuMemory()));
    private final ElementwiseKernels elementwise = profiled(ElementwiseKernels.class, new CpuElementwise());
    private final ReductionKernels reductions = profiled(ReductionKernels.class, new CpuReductions());
    private final LossKernels losses = profiled(LossKernels.class, new CpuLoss());
    private final LinalgKernels linalg = profiled(LinalgKernels.class, new CpuLinalg());
    private final RandomKernels random = profiled(RandomKernels.class, new CpuRandom());
    private final OptimizerKernels optimizer = profiled(OptimizerKernels.class, new CpuOptimizer());
    private final ConvKernels conv = profiled(ConvKernels.class, new CpuConv());
    private final AttentionKernels attention = profiled(AttentionKernels.class, new CpuAttention());
    private final NormalizationKernels normalization = profiled(NormalizationKernels.class, new CpuNormalization());
    private final RecurrentKernels recurrent = profiled(RecurrentKernels.class, new CpuRecurrent());

    /** The kernels, timed per call when {@code -Dsoma.profile=true} (KernelProfiler; CPU calls are synchronous). */
    private static <T> T profiled(Class<T> type, T kernels) {
        return KernelProfiler.wrap(type, kernels, () -> { });
    }

    CpuBackend() {
        NativeLibraries.cpu();
        pool = new CachingPool(new CpuAllocator());
        Long configured = configuredPoolReleaseBytes(); // checked now; the machine's memory only when the pool is large
        if (configured != null) pool.setReleaseThreshold(configured);
        else pool.setReleaseThreshold(CpuBackend::halfTheMachinesMemory);
        LoadAwareWaiting.start();
    }

    /**
     * Where the CPU pool gives its cache back before growing: half the machine's (or the container's) memory, or
     * {@code -Dsoma.cpu.poolReleaseGiB}. Host allocations never fail on Linux (the kernel overcommits), so the pool's
     * give-back-and-retry path never runs there: without a threshold, a run whose request sizes keep changing (DP-SGD's
     * Poisson batches) keeps a segment for every size it has seen. This is the property, or null when it is not set.
     */
    static Long configuredPoolReleaseBytes() {
        String gib = System.getProperty("soma.cpu.poolReleaseGiB");
        if (gib == null) return null;
        double v;
        try {
            v = Double.parseDouble(gib);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("-Dsoma.cpu.poolReleaseGiB must be a number of GiB, got '" + gib + "'");
        }
        if (!(v > 0)) throw new IllegalArgumentException("-Dsoma.cpu.poolReleaseGiB must be > 0, got " + gib);
        return (long) Math.min(v * (1L << 30), Long.MAX_VALUE);
    }

    /** Half the machine's (or the container's) memory; the lookup costs ~40 ms, so the pool makes it only when large. */
    static long halfTheMachinesMemory() {
        var os = java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        if (os instanceof com.sun.management.OperatingSystemMXBean sun && sun.getTotalMemorySize() > 0) {
            return sun.getTotalMemorySize() / 2;
        }
        return Long.MAX_VALUE;
    }

    @Override
    public Device device() {
        return Device.cpu();
    }

    @Override
    public CachingPool pool() {
        return pool;
    }

    @Override
    public String describe() {
        return "cpu: Soma C++ kernels (" + CpuKernels.soma_cpu_threads() + " OpenMP threads) + oneDNN";
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
    public OptimizerKernels optimizer() {
        return optimizer;
    }

    @Override
    public ConvKernels conv() {
        return conv;
    }

    @Override
    public AttentionKernels attention() {
        return attention;
    }

    @Override
    public NormalizationKernels normalization() {
        return normalization;
    }


    @Override
    public RecurrentKernels recurrent() {
        return recurrent;
    }
}
