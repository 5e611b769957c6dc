package dev.soma.backend;

import dev.soma.jni.CpuKernels;
import dev.soma.tensor.Tensor;

/** Layer normalisation through native/src/layernorm.cpp, batch normalisation through native/src/batchnorm.cpp. */
final class CpuNormalization implements NormalizationKernels {
    @Override
    public void layerNorm(Tensor x, Tensor gamma, Tensor beta, double eps, long rows, long cols, Tensor y, Tensor mean,
                          Tensor rstd) {
        CpuKernels.soma_cpu_layer_norm(x.dtype().code(), rows, cols, x.address(), address(gamma), address(beta), eps,
                y.address(), mean.address(), rstd.address());
    }

    @Override
    public void layerNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor gradY, long rows, long cols,
                                  Tensor gradX, Tensor gradGamma, Tensor gradBeta) {
        CpuKernels.soma_cpu_layer_norm_backward(x.dtype().code(), rows, cols, x.address(), address(gamma),
                mean.address(), rstd.address(), gradY.address(), gradX.address(), address(gradGamma), address(gradBeta));
    }

    @Override
    public void batchNorm(Tensor x, Tensor gamma, Tensor beta, double eps, long rows, long cols, Tensor y, Tensor mean,
                          Tensor variance, Tensor rstd) {
        CpuKernels.soma_cpu_batch_norm(x.dtype().code(), rows, cols, x.address(), address(gamma), address(beta), eps,
                y.address(), mean.address(), variance.address(), rstd.address());
    }

    @Override
    public void batchNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor gradY, long rows, long cols,
                                  Tensor gradX, Tensor gradGamma, Tensor gradBeta) {
        CpuKernels.soma_cpu_batch_norm_backward(x.dtype().code(), rows, cols, x.address(), address(gamma),
                mean.address(), rstd.address(), gradY.address(), gradX.address(), address(gradGamma), address(gradBeta));
    }

    private static long address(Tensor t) {
        return t == null ? 0L : t.address();
    }
}
