package dev.soma.optim;

import dev.soma.backend.OptimizerKernels;
import dev.soma.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.Map;

/** RMSprop in Keras' form (rho 0.9, epsilon 1e-7, optional momentum). */
public final class RMSprop extends Optimizer {
    private final double rho;
    private final double momentum;
    private final double epsilon;

    public RMSprop(double learningRate) {
        this(learningRate, 0.9, 0.0, 1e-7);
    }

    public RMSprop(double learningRate, double rho, double momentum, double epsilon) {
        super(learningRate);
        if (!(rho >= 0 && rho < 1)) throw new IllegalArgumentException("rmsprop: rho must be in [0, 1), got " + rho);
        if (!(momentum >= 0 && momentum < 1)) throw new IllegalArgumentException("rmsprop: momentum must be in [0, 1), got " + momentum);
        if (!(epsilon > 0) || Double.isInfinite(epsilon)) { // 0 divides a zero gradient by zero
            throw new IllegalArgumentException("rmsprop: epsilon must be finite and > 0, got " + epsilon);
        }
        this.rho = rho;
        this.momentum = momentum;
        this.epsilon = epsilon;
    }

    @Override
    public String name() {
        return "rmsprop";
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("learning_rate", currentLearningRate());
        c.put("rho", rho);
        c.put("momentum", momentum);
        c.put("epsilon", epsilon);
        return c;
    }

    @Override
    protected int stateSlots() {
        return momentum > 0 ? 2 : 1;
    }

    @Override
    protected void update(OptimizerKernels k, Tensor[] params, Tensor[] grads, Tensor[][] slots, double lr, long step,
                          double gradScale, double clipValue) {
        k.rmsprop(params, grads, slots[0], momentum > 0 ? slots[1] : null, lr, rho, momentum, epsilon, gradScale, clipValue);
    }
}
