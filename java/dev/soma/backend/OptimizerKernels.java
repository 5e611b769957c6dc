package dev.soma.backend;

import dev.soma.tensor.Tensor;

/**
 * Fused multi-tensor optimizer updates (one native call per step). All tensors are contiguous, of one
 * floating dtype; {@code params[i]}, {@code grads[i]} and each state array's {@code [i]} have equal shapes.
 * {@code gradScale} multiplies every gradient first (global-norm clipping), then {@code clipValue > 0}
 * clips each element.
 */
public interface OptimizerKernels {
    void sgd(Tensor[] params, Tensor[] grads, Tensor[] velocity, double lr, double momentum, boolean nesterov,
             double weightDecay, double gradScale, double clipValue);

    void adam(Tensor[] params, Tensor[] grads, Tensor[] m, Tensor[] v, double lr, double beta1, double beta2,
              double eps, double weightDecay, boolean decoupled, long step, double gradScale, double clipValue);

    void rmsprop(Tensor[] params, Tensor[] grads, Tensor[] avg, Tensor[] momentum, double lr, double rho,
                 double momentumFactor, double eps, double gradScale, double clipValue);

    /** Sum of the squares of every element of every tensor (for global-norm clipping). */
    double sumSquares(Tensor[] tensors);
}
