package dev.soma.custom.examples;

import dev.soma.custom.Cost;
import dev.soma.custom.CpuKernel;
import dev.soma.custom.CudaKernel;
import dev.soma.custom.CustomOp;
import dev.soma.custom.HostArray;
import dev.soma.custom.Launch;
import dev.soma.custom.OutputSpec;
import dev.soma.ops.Check;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

import java.util.List;

/**
 * Worked example (docs/custom-ops.md): SiLU, {@code x * sigmoid(x)}, in one pass instead of the two ops (and
 * one temporary) of {@code x.mul(x.sigmoid())}. Its backward is a second custom op, also fused:
 * {@code dx = g * s * (1 + x * (1 - s))} with {@code s = sigmoid(x)}. Both run on the CPU (Java) and on CUDA
 * (one NVRTC module holds the four kernels: forward and backward for float and double).
 */
public final class FusedSilu {
    private FusedSilu() {}

    /** CUDA C++ for both ops; templates instantiated by the name expressions listed in {@link #KERNELS}. */
    public static final String CUDA_SOURCE = """
            __device__ inline float ex(float v) { return expf(v); }
            __device__ inline double ex(double v) { return exp(v); }
            template <typename T> __device__ inline T sigmoid(T v) { return T(1) / (T(1) + ex(-v)); }

            template <typename T>
            __global__ void silu_forward(const T* x, T* y, long long n) {
                long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x;
                if (i < n) y[i] = x[i] * sigmoid(x[i]);
            }

            template <typename T>
            __global__ void silu_backward(const T* x, const T* g, T* dx, long long n) {
                long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x;
                if (i < n) {
                    T s = sigmoid(x[i]);
                    dx[i] = g[i] * s * (T(1) + x[i] * (T(1) - s));
                }
            }
            """;

    static final List<String> KERNELS = List.of("silu_forward<float>", "silu_forward<double>",
            "silu_backward<float>", "silu_backward<double>");

    /** The backward op: (x, g) to the gradient of x. */
    public static final CustomOp BACKWARD = CustomOp.builder("silu_backward")
            .arity(2)
            .validate((op, in) -> {
                Check.floating(op, in[0]);
                Check.sameDType(op, in[0], in[1]);
                Check.sameShape(op, in[0], in[1]);
            })
            .output(in -> OutputSpec.of(in[0].dtype(), in[0].shape()))
            .cpu((CpuKernel.Host) FusedSilu::backwardCpu)
            .cuda(CudaKernel.of(CUDA_SOURCE, KERNELS, (in, out) -> "silu_backward<" + cType(in[0]) + ">",
                    (in, out) -> Launch.linear(in[0].numel(), 256, in[0].numel())))
            .cost(in -> new Cost(8.0 * in[0].numel(), 3.0 * in[0].numel() * in[0].dtype().byteSize()))
            .build();

    /** The forward op: x to x * sigmoid(x), any shape, float32 or float64. */
    public static final CustomOp OP = CustomOp.builder("silu")
            .arity(1)
            .validate((op, in) -> Check.floating(op, in[0]))
            .output(in -> OutputSpec.of(in[0].dtype(), in[0].shape()))
            .cpu((CpuKernel.Host) FusedSilu::forwardCpu)
            .cuda(CudaKernel.of(CUDA_SOURCE, KERNELS, (in, out) -> "silu_forward<" + cType(in[0]) + ">",
                    (in, out) -> Launch.linear(in[0].numel(), 256, in[0].numel())))
            .backward((in, out, g) -> new Tensor[] {BACKWARD.apply(in[0], g[0])})
            .cost(in -> new Cost(5.0 * in[0].numel(), 2.0 * in[0].numel() * in[0].dtype().byteSize()))
            .build();

    public static Tensor silu(Tensor x) {
        return OP.apply(x);
    }

    private static String cType(Tensor t) {
        return t.dtype() == DType.F32 ? "float" : "double";
    }

    private static double sigmoid(double v) {
        return 1 / (1 + Math.exp(-v));
    }

    private static void forwardCpu(HostArray[] in, HostArray[] out) {
        HostArray x = in[0];
        HostArray y = out[0];
        if (x.f32() != null) {
            float[] a = x.f32();
            float[] b = y.f32();
            for (int i = 0; i < a.length; i++) b[i] = (float) (a[i] * sigmoid(a[i]));
        } else {
            double[] a = x.f64();
            double[] b = y.f64();
            for (int i = 0; i < a.length; i++) b[i] = a[i] * sigmoid(a[i]);
        }
    }

    private static void backwardCpu(HostArray[] in, HostArray[] out) {
        HostArray x = in[0];
        HostArray g = in[1];
        HostArray dx = out[0];
        for (int i = 0; i < x.length(); i++) {
            double v = x.get(i);
            double s = sigmoid(v);
            dx.set(i, g.get(i) * s * (1 + v * (1 - s)));
        }
    }
}
