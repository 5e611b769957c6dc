package dev.soma.backend.cuda;

import dev.soma.backend.OptimizerKernels;
import dev.soma.jni.CudaKernels;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

/**
 * Fused multi-tensor optimizer updates of cuda-kernels/optim.cu: one native call per step, one launch per table
 * of ~50-100 tensors (the kernels take the device addresses by value), the CPU's arithmetic. The global-norm
 * sum of squares is reduced on the device into pool scratch and read back as one double (the optimizer needs the
 * norm on the host to choose the scale).
 */
final class CudaOptimizer implements OptimizerKernels {
    private final CudaBackend backend;

    CudaOptimizer(CudaBackend backend) {
        this.backend = backend;
    }

    @Override
    public void sgd(Tensor[] params, Tensor[] grads, Tensor[] velocity, double lr, double momentum, boolean nesterov,
                    double weightDecay, double gradScale, double clipValue) {
        if (params.length == 0) return;
        backend.bind();
        int status = CudaKernels.soma_cuda_sgd(dtype(params), params.length, addresses(params), addresses(grads),
                velocity == null ? null : addresses(velocity), sizes(params), lr, momentum, nesterov ? 1 : 0,
                weightDecay, gradScale, clipValue, backend.stream());
        CudaStatus.kernel(status, "soma_cuda_sgd", () -> "step over " + describe(params) + " (momentum " + momentum
                + (nesterov ? ", nesterov" : "") + ")");
    }

    @Override
    public void adam(Tensor[] params, Tensor[] grads, Tensor[] m, Tensor[] v, double lr, double beta1, double beta2,
                     double eps, double weightDecay, boolean decoupled, long step, double gradScale, double clipValue) {
        if (params.length == 0) return;
        backend.bind();
        int status = CudaKernels.soma_cuda_adam(dtype(params), params.length, addresses(params), addresses(grads),
                addresses(m), addresses(v), sizes(params), lr, beta1, beta2, eps, weightDecay, decoupled ? 1 : 0, step,
                gradScale, clipValue, backend.stream());
        CudaStatus.kernel(status, "soma_cuda_adam", () -> (decoupled ? "AdamW" : "Adam") + " step " + step + " over "
                + describe(params));
    }

    @Override
    public void rmsprop(Tensor[] params, Tensor[] grads, Tensor[] avg, Tensor[] momentum, double lr, double rho,
                        double momentumFactor, double eps, double gradScale, double clipValue) {
        if (params.length == 0) return;
        backend.bind();
        int status = CudaKernels.soma_cuda_rmsprop(dtype(params), params.length, addresses(params), addresses(grads),
                addresses(avg), momentum == null ? null : addresses(momentum), sizes(params), lr, rho, momentumFactor,
                eps, gradScale, clipValue, backend.stream());
        CudaStatus.kernel(status, "soma_cuda_rmsprop", () -> "step over " + describe(params) + " (momentum "
                + momentumFactor + ")");
    }

    @Override
    public double sumSquares(Tensor[] tensors) {
        if (tensors.length == 0) return 0;
        try (Tensor scratch = Tensor.empty(DType.F64, backend.device(), CudaKernels.SUM_SQUARES_SCRATCH).keep()) {
            backend.bind();
            int status = CudaKernels.soma_cuda_sum_squares(dtype(tensors), tensors.length, addresses(tensors),
                    sizes(tensors), scratch.address(), backend.stream());
            CudaStatus.kernel(status, "soma_cuda_sum_squares", () -> "of " + describe(tensors));
            // The total is scratch[0], read on the compute stream after the kernels (a plain cudaMemcpy would run
            // on the legacy default stream, which does not wait for our non-blocking compute stream).
            double[] total = new double[1];
            try (Tensor first = scratch.viewOf(0, new long[] {1}, new long[] {1})) {
                backend.memory().read(first, total);
            }
            return total[0];
        }
    }

    private static int dtype(Tensor[] ts) {
        return ts[0].dtype().code();
    }

    private static long[] addresses(Tensor[] ts) {
        long[] a = new long[ts.length];
        for (int i = 0; i < ts.length; i++) a[i] = ts[i].address();
        return a;
    }

    private static long[] sizes(Tensor[] ts) {
        long[] n = new long[ts.length];
        for (int i = 0; i < ts.length; i++) n[i] = ts[i].numel();
        return n;
    }

    /** "3 tensors of float32 (first float32[4, 5])", built only for error messages. */
    private static String describe(Tensor[] ts) {
        return ts.length + " tensor" + (ts.length == 1 ? "" : "s") + " of " + ts[0].dtype() + " (first "
                + ts[0].describe() + ")";
    }
}
