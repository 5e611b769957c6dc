package dev.soma.backend.cuda;

import dev.soma.backend.NormalizationKernels;
import dev.soma.jni.CudaKernels;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

/**
 * Layer normalisation of cuda-kernels/layernorm.cu and batch normalisation of cuda-kernels/batchnorm.cu on contiguous
 * rows x cols tensors (the ops make them so). Column sums (layer norm's gamma / beta gradients, every batch norm
 * statistic) take a workspace from the pool whose size the kernel library answers.
 */
final class CudaNormalization implements NormalizationKernels {
    private final CudaBackend backend;

    CudaNormalization(CudaBackend backend) {
        this.backend = backend;
    }

    @Override
    public void layerNorm(Tensor x, Tensor gamma, Tensor beta, double eps, long rows, long cols, Tensor y, Tensor mean,
                          Tensor rstd) {
        backend.bind();
        int status = CudaKernels.soma_cuda_layer_norm(x.dtype().code(), rows, cols, x.address(), address(gamma),
                address(beta), eps, y.address(), mean.address(), rstd.address(), backend.stream());
        CudaStatus.kernel(status, "soma_cuda_layer_norm", () -> "of " + x.describe() + " as " + rows + " x " + cols
                + (gamma == null ? "" : ", gamma") + (beta == null ? "" : ", beta"));
    }

    @Override
    public void layerNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor gradY, long rows, long cols,
                                  Tensor gradX, Tensor gradGamma, Tensor gradBeta) {
        long bytes = 0;
        if (gradGamma != null || gradBeta != null) {
            long[] b = new long[1];
            CudaStatus.runtime(CudaKernels.soma_cuda_layer_norm_backward_workspace(rows, cols, b),
                    "soma_cuda_layer_norm_backward_workspace", () -> rows + " x " + cols);
            bytes = b[0];
        }
        try (Tensor workspace = doubles(bytes)) {
            backend.bind();
            int status = CudaKernels.soma_cuda_layer_norm_backward(x.dtype().code(), rows, cols, x.address(),
                    address(gamma), mean.address(), rstd.address(), gradY.address(), gradX.address(),
                    address(gradGamma), address(gradBeta), address(workspace), backend.stream());
            CudaStatus.kernel(status, "soma_cuda_layer_norm_backward", () -> "of " + x.describe() + " as " + rows
                    + " x " + cols + (gamma == null ? "" : ", gamma") + (gradGamma == null ? "" : ", gradGamma")
                    + (gradBeta == null ? "" : ", gradBeta"));
        }
    }

    @Override
    public void batchNorm(Tensor x, Tensor gamma, Tensor beta, double eps, long rows, long cols, Tensor y, Tensor mean,
                          Tensor variance, Tensor rstd) {
        try (Tensor workspace = batchNormWorkspace(rows, cols)) {
            backend.bind();
            int status = CudaKernels.soma_cuda_batch_norm(x.dtype().code(), rows, cols, x.address(), address(gamma),
                    address(beta), eps, y.address(), mean.address(), variance.address(), rstd.address(),
                    address(workspace), backend.stream());
            CudaStatus.kernel(status, "soma_cuda_batch_norm", () -> "of " + x.describe() + " as " + rows + " x "
                    + cols + (gamma == null ? "" : ", gamma") + (beta == null ? "" : ", beta"));
        }
    }

    @Override
    public void batchNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor gradY, long rows, long cols,
                                  Tensor gradX, Tensor gradGamma, Tensor gradBeta) {
        try (Tensor workspace = batchNormWorkspace(rows, cols)) {
            backend.bind();
            int status = CudaKernels.soma_cuda_batch_norm_backward(x.dtype().code(), rows, cols, x.address(),
                    address(gamma), mean.address(), rstd.address(), gradY.address(), gradX.address(),
                    address(gradGamma), address(gradBeta), address(workspace), backend.stream());
            CudaStatus.kernel(status, "soma_cuda_batch_norm_backward", () -> "of " + x.describe() + " as " + rows
                    + " x " + cols + (gamma == null ? "" : ", gamma") + (gradGamma == null ? "" : ", gradGamma")
                    + (gradBeta == null ? "" : ", gradBeta"));
        }
    }

    private Tensor batchNormWorkspace(long rows, long cols) {
        long[] b = new long[1];
        CudaStatus.runtime(CudaKernels.soma_cuda_batch_norm_workspace(rows, cols, b),
                "soma_cuda_batch_norm_workspace", () -> rows + " x " + cols);
        return doubles(b[0]);
    }

    /** A workspace of {@code bytes} for the column sums' double partials, from the pool (null for 0 bytes). */
    private Tensor doubles(long bytes) {
        return bytes == 0 ? null : Tensor.empty(DType.F64, backend.device(), (bytes + 7) / 8).keep();
    }

    private static long address(Tensor t) {
        return t == null ? 0L : t.address();
    }
}
