package dev.soma.custom;

import dev.soma.tensor.Tensor;

/** The CPU implementation of a custom op: Java over host arrays, or a call of your own native code. */
public sealed interface CpuKernel permits CpuKernel.Host, CpuKernel.Native {
    /**
     * Java over heap arrays (simplest): inputs are contiguous copies, outputs start at zero and are written
     * back to the output tensors after {@code compute} returns. Costs one copy per input and output.
     */
    @FunctionalInterface
    non-sealed interface Host extends CpuKernel {
        void compute(HostArray[] inputs, HostArray[] outputs);
    }

    /**
     * Native code on the tensors' memory: inputs are contiguous CPU tensors, outputs freshly allocated
     * contiguous CPU tensors (uninitialised). Read {@link Tensor#address()}, {@link Tensor#shape()} and call
     * your own JNI / JavaCPP function (or a oneDNN primitive) on those addresses; no copies are made.
     */
    @FunctionalInterface
    non-sealed interface Native extends CpuKernel {
        void compute(Tensor[] inputs, Tensor[] outputs);
    }
}
