package dev.soma.custom;

import dev.soma.tensor.Tensor;

import java.util.List;
import java.util.Objects;

/**
 * The CUDA implementation of a custom op: CUDA C++ source compiled at run time by NVRTC (for the device's own
 * architecture, as a cubin), the kernel to run for given inputs, and its launch rule. {@code kernels} lists
 * every kernel the source defines that can be chosen (plain {@code extern "C"} names or template
 * instantiations such as {@code "silu<float>"}); {@code choose} picks one per call (by dtype, say).
 *
 * <pre>{@code
 * CudaKernel.of(SOURCE, List.of("scale_f32"), (in, out) -> "scale_f32",
 *               (in, out) -> Launch.linear(out[0].numel(), 256, out[0].numel()));
 * }</pre>
 */
public record CudaKernel(String source, List<String> kernels, Chooser choose, LaunchRule launch, List<String> options) {
    /** Which of {@code kernels} runs for these inputs and (already allocated) outputs. */
    @FunctionalInterface
    public interface Chooser {
        String kernel(Tensor[] inputs, Tensor[] outputs);
    }

    /** Grid, block, shared memory and scalar arguments for one call. */
    @FunctionalInterface
    public interface LaunchRule {
        Launch plan(Tensor[] inputs, Tensor[] outputs);
    }

    public CudaKernel {
        Objects.requireNonNull(source, "CudaKernel: source");
        Objects.requireNonNull(choose, "CudaKernel: choose");
        Objects.requireNonNull(launch, "CudaKernel: launch");
        if (kernels == null || kernels.isEmpty()) throw new IllegalArgumentException("CudaKernel: name at least one kernel");
        kernels = List.copyOf(kernels);
        options = options == null ? List.of() : List.copyOf(options);
    }

    public static CudaKernel of(String source, List<String> kernels, Chooser choose, LaunchRule launch) {
        return new CudaKernel(source, kernels, choose, launch, List.of());
    }

    /** A source with one kernel. */
    public static CudaKernel of(String source, String kernel, LaunchRule launch) {
        return new CudaKernel(source, List.of(kernel), (in, out) -> kernel, launch, List.of());
    }

    /** The same kernel with extra NVRTC options (e.g. {@code "--use_fast_math"}). */
    public CudaKernel withOptions(String... extra) {
        return new CudaKernel(source, kernels, choose, launch, List.of(extra));
    }
}
