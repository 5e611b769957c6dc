package dev.soma.backend.dnnl;

import dev.soma.jni.CpuKernels;
import dev.soma.memory.CachingPool;

/**
 * float32 to bfloat16 conversion of a dense run of elements into a block of Soma's pool that the caller releases,
 * rounded to nearest even as {@code vcvtneps2bf16} rounds (native/src/bf16.cpp: that instruction where the CPU has
 * it, the same rounding in C++ elsewhere). Used by the bf16 paths of {@link DnnlConvolution} and {@link DnnlMatmul}:
 * oneDNN's bf16 primitives take bf16 inputs but may write float32, so only the inputs are converted.
 *
 * <p>Our own kernel rather than a oneDNN reorder: on the reference CNN's operands (0.4-1.6 M elements) the reorder
 * moved about 20 GB/s and this kernel about 47 GB/s (1.16 against 0.50 ms a step); see docs/precision.md.
 */
public final class Bf16Conversion {
    /** Elements each thread has converted: tests count how often the same values are rounded. */
    private static final ThreadLocal<long[]> CONVERTED = ThreadLocal.withInitial(() -> new long[1]);

    private Bf16Conversion() {}

    /** float32 elements the calling thread has converted to bf16 by {@link #convert} so far. */
    public static long convertedElementsOnThisThread() {
        return CONVERTED.get()[0];
    }

    /** A fresh pool block holding {@code count} float32 values from {@code src} as bf16. Release it with {@code pool.release}. */
    public static CachingPool.Block convert(CachingPool pool, long src, long count) {
        CachingPool.Block out = pool.allocate(Math.max(2 * count, 2), 0);
        CpuKernels.soma_cpu_f32_to_bf16(src, out.address(), count);
        CONVERTED.get()[0] += count;
        return out;
    }

    /** Whether conversions run the CPU's AVX512_BF16 instruction (else a plain loop with the same results). */
    public static boolean vectorized() {
        return CpuKernels.soma_cpu_f32_to_bf16_vector() == 1;
    }
}
