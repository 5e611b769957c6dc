package dev.soma.backend;

import dev.soma.jni.CpuKernels;
import dev.soma.tensor.Tensor;

/** Fused optimizer updates through native/src/optim.cpp. */
final class CpuOptimizer implements OptimizerKernels {
    @Override
    public void sgd(Tensor[] params, Tensor[] grads, Tensor[] velocity, double lr, double momentum, boolean nesterov,
                    double weightDecay, double gradScale, double clipValue) {
        if (velocity == null && momentum != 0) { // the kernel would read a velocity that is not there
            throw new IllegalArgumentException("sgd: momentum " + momentum + " without velocity buffers");
        }
        CpuKernels.soma_cpu_sgd(dtype(params), params.length, addresses(params), addresses(grads),
                velocity == null ? null : addresses(velocity), sizes(params), lr, momentum, nesterov ? 1 : 0,
                weightDecay, gradScale, clipValue);
    }

    @Override
    public void adam(Tensor[] params, Tensor[] grads, Tensor[] m, Tensor[] v, double lr, double beta1, double beta2,
                     double eps, double weightDecay, boolean decoupled, long step, double gradScale, double clipValue) {
        CpuKernels.soma_cpu_adam(dtype(params), params.length, addresses(params), addresses(grads), addresses(m),
                addresses(v), sizes(params), lr, beta1, beta2, eps, weightDecay, decoupled ? 1 : 0, step, gradScale,
                clipValue);
    }

    @Override
    public void rmsprop(Tensor[] params, Tensor[] grads, Tensor[] avg, Tensor[] momentum, double lr, double rho,
                        double momentumFactor, double eps, double gradScale, double clipValue) {
        CpuKernels.soma_cpu_rmsprop(dtype(params), params.length, addresses(params), addresses(grads),
                addresses(avg), momentum == null ? null : addresses(momentum), sizes(params), lr, rho,
                momentumFactor, eps, gradScale, clipValue);
    }

    @Override
    public double sumSquares(Tensor[] tensors) {
        if (tensors.length == 0) return 0;
        return CpuKernels.soma_cpu_sum_squares(dtype(tensors), tensors.length, addresses(tensors), sizes(tensors));
    }

    private static int dtype(Tensor[] ts) {
        return ts.length == 0 ? 0 : ts[0].dtype().code();
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
}
