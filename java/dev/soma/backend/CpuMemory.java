package dev.soma.backend;

import dev.soma.backend.dnnl.Bf16Conversion;
import dev.soma.jni.CpuKernels;
import dev.soma.memory.CachingPool;
import dev.soma.memory.Scope;
import dev.soma.ops.Shapes;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

/** Host-memory fills, copies and transfers through native/src/memory.cpp. */
final class CpuMemory implements MemoryKernels {
    @Override
    public void fill(Tensor dst, double value) {
        CpuKernels.soma_cpu_fill(dst.dtype().code(), dst.address(), dst.numel(), value);
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        if (src.isContiguous() && dst.isContiguous()) {
            CpuKernels.soma_cpu_copy(dst.address(), src.address(), src.numel() * src.dtype().byteSize());
            return;
        }
        CpuKernels.soma_cpu_strided_copy(src.dtype().code(), src.ndim(), src.shape(), src.address(), src.strides(),
                dst.address(), dst.strides());
    }

    @Override
    public void cast(Tensor src, Tensor dst) {
        CpuKernels.soma_cpu_cast(src.dtype().code(), src.address(), dst.dtype().code(), dst.address(), src.numel());
    }

    @Override
    public Bf16Copy keepBf16(Tensor t) {
        if (t.dtype() != DType.F32 || !MixedPrecision.bf16() || Scope.current() == null) return null;
        long count = Shapes.span(t.shape(), t.strides());
        if (count <= 0) return null; // empty, or a view running backwards (no product reads those without a copy)
        CachingPool pool = t.backend().pool();
        return new Bf16Copy(pool, t, count, Bf16Conversion.convert(pool, t.address(), count));
    }

    @Override
    public void accumulate(Tensor dst, Tensor src) {
        if (src.isContiguous()) {
            CpuKernels.soma_cpu_axpy(dst.dtype().code(), dst.numel(), 1.0, src.address(), dst.address());
            return;
        }
        try (Tensor c = Tensor.empty(src.dtype(), src.device(), src.shape()).keep()) {
            copy(src, c);
            CpuKernels.soma_cpu_axpy(dst.dtype().code(), dst.numel(), 1.0, c.address(), dst.address());
        }
    }

    @Override
    public void write(Tensor dst, float[] data) {
        CpuKernels.copyFromFloats(dst.address(), data, 4L * data.length);
    }

    @Override
    public void write(Tensor dst, double[] data) {
        CpuKernels.copyFromDoubles(dst.address(), data, 8L * data.length);
    }

    @Override
    public void write(Tensor dst, int[] data) {
        CpuKernels.copyFromInts(dst.address(), data, 4L * data.length);
    }

    @Override
    public void read(Tensor src, float[] out) {
        CpuKernels.copyToFloats(out, src.address(), 4L * out.length);
    }

    @Override
    public void read(Tensor src, double[] out) {
        CpuKernels.copyToDoubles(out, src.address(), 8L * out.length);
    }

    @Override
    public void read(Tensor src, int[] out) {
        CpuKernels.copyToInts(out, src.address(), 4L * out.length);
    }
}
