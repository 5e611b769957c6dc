package dev.soma.backend.cuda;

import dev.soma.backend.ConvKernels;
import dev.soma.backend.CudaProbe;
import dev.soma.jni.CudaKernels;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

/**
 * Convolution and pooling through our kernels of cuda-kernels/conv.cu: the three convolution passes as one
 * tiled implicit GEMM (no im2col buffer), deterministic weight gradients (partial sums per slice of the
 * batch-and-positions axis, then a fixed-order sum; the slice workspace comes from the pool), pooling with the
 * max winners recorded in the op's workspace (int32, one per output). Same semantics as {@code CpuConv}.
 * The op hands over contiguous tensors (its contract), so nothing is copied here.
 */
final class CudaConv implements ConvKernels {
    private final CudaBackend backend;

    CudaConv(CudaBackend backend) {
        this.backend = backend;
    }

    private static int isMax(PoolKind kind) {
        return kind == PoolKind.MAX ? 1 : 0;
    }

    @Override
    public void conv2d(Geometry g, Tensor x, Tensor kernel, Tensor bias, boolean relu, Tensor out) {
        backend.bind();
        int status = CudaKernels.soma_cuda_conv2d(out.dtype().code(), g.nativeArray(), x.address(), kernel.address(),
                bias == null ? 0 : bias.address(), relu ? 1 : 0, out.address(), backend.stream());
        CudaStatus.kernel(status, "soma_cuda_conv2d", () -> "conv2d" + (relu ? "+relu " : " ") + out.dtype() + " " + g);
    }

    @Override
    public void conv2dBackwardData(Geometry g, Tensor gradOut, Tensor kernel, Tensor gradX) {
        backend.bind();
        int status = CudaKernels.soma_cuda_conv2d_backward_data(gradX.dtype().code(), g.nativeArray(),
                gradOut.address(), kernel.address(), gradX.address(), backend.stream());
        CudaStatus.kernel(status, "soma_cuda_conv2d_backward_data", () -> "conv2d backward data " + gradX.dtype() + " " + g);
    }

    @Override
    public void conv2dBackwardWeights(Geometry g, Tensor x, Tensor gradOut, Tensor gradKernel, Tensor gradBias) {
        DType dt = gradKernel.dtype();
        long[] geom = g.nativeArray();
        backend.bind();
        long[] bytes = new long[1];
        CudaStatus.kernel(CudaKernels.soma_cuda_conv2d_backward_weights_workspace(dt.code(), geom, bytes),
                "soma_cuda_conv2d_backward_weights_workspace", () -> dt + " " + g);
        // The slices' partial sums: freed right after the launches, which is safe because the pool hands the
        // block out again only to work on this same stream.
        Tensor workspace = bytes[0] == 0 ? null
                : Tensor.empty(dt, gradKernel.device(), (bytes[0] + dt.byteSize() - 1) / dt.byteSize()).keep();
        try {
            int status = CudaKernels.soma_cuda_conv2d_backward_weights(dt.code(), geom, x.address(), gradOut.address(),
                    gradKernel.address(), gradBias == null ? 0 : gradBias.address(),
                    workspace == null ? 0 : workspace.address(), bytes[0], backend.stream());
            CudaStatus.kernel(status, "soma_cuda_conv2d_backward_weights", () -> "conv2d backward weights "
                    + (gradBias != null ? "and bias " : "") + dt + " " + g);
        } finally {
            if (workspace != null) workspace.close();
        }
    }

    @Override
    public String[] conv2dImplementations(Geometry g, DType dtype, boolean bias) {
        String where = CudaProbe.result().emulated() ? " (emulated)" : "";
        return new String[] {
            "soma implicit-GEMM conv2d forward" + (bias ? " + bias" : "") + where,
            "soma implicit-GEMM conv2d backward data" + where,
            "soma implicit-GEMM conv2d backward weights (split, deterministic)" + where,
        };
    }

    @Override
    public long pool2dWorkspaceBytes(PoolKind kind, Geometry g, DType dtype) {
        long[] bytes = new long[1];
        CudaStatus.kernel(CudaKernels.soma_cuda_pool2d_workspace(isMax(kind), g.nativeArray(), bytes),
                "soma_cuda_pool2d_workspace", () -> kind + " " + g);
        return bytes[0];
    }

    @Override
    public void pool2d(PoolKind kind, Geometry g, Tensor x, Tensor out, long workspace) {
        backend.bind();
        int status = CudaKernels.soma_cuda_pool2d(isMax(kind), out.dtype().code(), g.nativeArray(), x.address(),
                out.address(), workspace, backend.stream());
        CudaStatus.kernel(status, "soma_cuda_pool2d", () -> kind + " pool2d " + out.dtype() + " " + g);
    }

    @Override
    public void pool2dBackward(PoolKind kind, Geometry g, Tensor x, Tensor gradOut, long workspace, Tensor gradX) {
        if (kind == PoolKind.MAX && workspace == 0 && x == null) {
            throw new IllegalStateException("maxPool2d backward " + g + ": needs the forward's workspace or its input");
        }
        backend.bind();
        int status = CudaKernels.soma_cuda_pool2d_backward(isMax(kind), gradX.dtype().code(), g.nativeArray(),
                x == null ? 0 : x.address(), workspace, gradOut.address(), gradX.address(), backend.stream());
        CudaStatus.kernel(status, "soma_cuda_pool2d_backward", () -> kind + " pool2d backward " + gradX.dtype() + " " + g);
    }

    @Override
    public String[] pool2dImplementations(PoolKind kind, Geometry g, DType dtype) {
        String where = CudaProbe.result().emulated() ? " (emulated)" : "";
        String name = kind == PoolKind.MAX ? "max" : "average";
        return new String[] {"soma " + name + " pool2d forward" + where,
            "soma " + name + " pool2d backward (gather" + (kind == PoolKind.MAX ? ", recorded winners" : "") + ")" + where};
    }
}
