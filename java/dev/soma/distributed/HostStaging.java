package dev.soma.distributed;

import dev.soma.backend.Backends;
import dev.soma.backend.MemoryKernels;
import dev.soma.jni.CpuKernels;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

/**
 * GPU tensors for MPI, which reads and writes host memory: their values copied to and from host buffers. This is the
 * path Gloo gives CUDA tensors in PyTorch; it costs two copies per collective over PCIe, where NCCL (not built yet)
 * would reduce in device memory. Float32 and float64 only (the dtypes of gradients and weights), int32 for broadcast.
 */
final class HostStaging {
    private HostStaging() {}

    /** Writes {@code host}'s values (a CPU tensor of the same dtype and size) into {@code device}. */
    static void writeBack(Tensor host, Tensor device) {
        switch (device.dtype()) {
            case F32, F64 -> writeBack(device.dtype(), host.address(), host.numel(), device);
            case I32 -> Backends.get(device.device()).memory().write(device, host.toIntArray());
            default -> throw new UnsupportedOperationException("MPI on " + device.device() + ": " + device.describe()
                    + " has dtype " + device.dtype() + "; GPU tensors go through host memory as float32, float64 or int32");
        }
    }

    /** Writes {@code count} values of {@code dtype} at host address {@code src} into {@code device} (that many elements). */
    static void writeBack(DType dtype, long src, long count, Tensor device) {
        MemoryKernels memory = Backends.get(device.device()).memory();
        if (dtype == DType.F32) {
            float[] v = new float[Math.toIntExact(count)];
            CpuKernels.copyToFloats(v, src, 4L * count);
            memory.write(device, v);
        } else if (dtype == DType.F64) {
            double[] v = new double[Math.toIntExact(count)];
            CpuKernels.copyToDoubles(v, src, 8L * count);
            memory.write(device, v);
        } else {
            throw new UnsupportedOperationException("MPI on " + device.device() + ": buckets of " + dtype
                    + " cannot be staged; expected float32 or float64");
        }
    }
}
