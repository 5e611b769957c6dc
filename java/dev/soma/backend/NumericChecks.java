package dev.soma.backend;

import dev.soma.jni.CpuKernels;
import dev.soma.tensor.Tensor;

/**
 * Finds NaN and Inf in a tensor (for anomaly mode). On the CPU a vectorised native scan of the contiguous data;
 * elsewhere the values are read to the host first (slow, but anomaly mode is a debugging aid).
 */
public final class NumericChecks {
    private NumericChecks() {}

    /**
     * The row-major index of the first NaN or Inf of an open floating-point tensor (any strides), or -1 when every
     * element is finite or the tensor is not floating point. Records nothing, allocates only for strided tensors.
     */
    public static long firstNonFinite(Tensor t) {
        t.checkOpen("firstNonFinite");
        if (!t.dtype().isFloating() || t.numel() == 0) return -1;
        if (!t.device().isCpu()) return firstNonFinite(t.toDoubleArray());
        if (t.isContiguous()) return CpuKernels.soma_cpu_first_non_finite(t.dtype().code(), t.address(), t.numel());
        try (Tensor c = Tensor.empty(t.dtype(), t.device(), t.shape()).keep()) {
            t.backend().memory().copy(t, c);
            return CpuKernels.soma_cpu_first_non_finite(c.dtype().code(), c.address(), c.numel());
        }
    }

    private static long firstNonFinite(double[] values) {
        for (int i = 0; i < values.length; i++) if (!Double.isFinite(values[i])) return i;
        return -1;
    }
}
