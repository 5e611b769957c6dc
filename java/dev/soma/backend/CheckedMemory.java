package dev.soma.backend;

import dev.soma.errors.DTypeException;
import dev.soma.errors.DeviceException;
import dev.soma.errors.ShapeException;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

import java.util.Arrays;

/**
 * The public face of a backend's {@link MemoryKernels}: checks every size, dtype, device and layout in Java and
 * only then calls the native kernels, which trust their arguments (a copy from a larger source would otherwise
 * write past the destination's allocation).
 */
public final class CheckedMemory implements MemoryKernels {
    private final Device device;
    private final MemoryKernels kernels;

    public CheckedMemory(Device device, MemoryKernels kernels) {
        this.device = device;
        this.kernels = kernels;
    }

    @Override
    public void fill(Tensor dst, double value) {
        here("fill", dst);
        contiguous("fill", dst);
        kernels.fill(dst, value);
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        here("copy", src, dst);
        sameDType("copy", src, dst);
        sameShape("copy", src, dst);
        kernels.copy(src, dst);
    }

    @Override
    public void cast(Tensor src, Tensor dst) {
        here("cast", src, dst);
        contiguous("cast", src);
        contiguous("cast", dst);
        if (src.numel() != dst.numel()) {
            throw new ShapeException("cast: " + src.describe() + " and " + dst.describe()
                    + " hold different element counts; expected equal ones");
        }
        kernels.cast(src, dst);
    }

    @Override
    public Bf16Copy keepBf16(Tensor t) {
        here("keepBf16", t);
        return kernels.keepBf16(t);
    }

    @Override
    public void accumulate(Tensor dst, Tensor src) {
        here("accumulate", dst, src);
        sameDType("accumulate", dst, src);
        sameShape("accumulate", src, dst);
        contiguous("accumulate", dst);
        kernels.accumulate(dst, src);
    }

    @Override
    public void write(Tensor dst, float[] data) {
        host("write", dst, DType.F32, "float", data.length);
        kernels.write(dst, data);
    }

    @Override
    public void write(Tensor dst, double[] data) {
        host("write", dst, DType.F64, "double", data.length);
        kernels.write(dst, data);
    }

    @Override
    public void write(Tensor dst, int[] data) {
        host("write", dst, DType.I32, "int", data.length);
        kernels.write(dst, data);
    }

    @Override
    public void read(Tensor src, float[] out) {
        host("read", src, DType.F32, "float", out.length);
        kernels.read(src, out);
    }

    @Override
    public void read(Tensor src, double[] out) {
        host("read", src, DType.F64, "double", out.length);
        kernels.read(src, out);
    }

    @Override
    public void read(Tensor src, int[] out) {
        host("read", src, DType.I32, "int", out.length);
        kernels.read(src, out);
    }

    // ------------------------------------------------------------------ checks

    /** Open tensors on this backend's device (another device's address means nothing here). */
    private void here(String op, Tensor... tensors) {
        for (Tensor t : tensors) {
            if (t == null) throw new NullPointerException("memory." + op + ": a tensor argument is null");
            t.checkOpen("memory." + op);
            if (!t.device().equals(device)) {
                throw new DeviceException("memory." + op + ": tensor " + t.describe() + " is not on " + device
                        + ", the device of this backend; move it with to(device) first");
            }
        }
    }

    private static void contiguous(String op, Tensor t) {
        if (!t.isContiguous()) {
            throw new ShapeException("memory." + op + ": tensor " + t.describe() + " (strides "
                    + Arrays.toString(t.strides()) + ") is not contiguous; expected a contiguous tensor (contiguous())");
        }
    }

    private static void sameDType(String op, Tensor a, Tensor b) {
        if (a.dtype() != b.dtype()) {
            throw new DTypeException("memory." + op + ": dtypes differ (" + a.describe() + " vs " + b.describe()
                    + "); expected one dtype (use cast)");
        }
    }

    private static void sameShape(String op, Tensor src, Tensor dst) {
        if (!Arrays.equals(src.shape(), dst.shape())) {
            throw new ShapeException("memory." + op + ": source " + src.describe() + " and destination "
                    + dst.describe() + " differ in shape; expected equal shapes");
        }
    }

    private static void host(String op, Tensor t, DType dtype, String type, int length) {
        t.checkOpen("memory." + op);
        if (t.dtype() != dtype) {
            throw new DTypeException("memory." + op + ": a " + type + "[] cannot hold tensor " + t.describe()
                    + "; expected a " + t.dtype() + " tensor for a " + type + "[] (or convert with to(dtype))");
        }
        if (t.numel() != length) {
            throw new ShapeException("memory." + op + ": " + length + " values for tensor " + t.describe() + " of "
                    + t.numel() + " elements; expected exactly " + t.numel());
        }
        contiguous(op, t);
    }
}
