package dev.soma.optim;

import dev.soma.backend.OptimizerKernels;
import dev.soma.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.Map;

/** Adam (Kingma and Ba) with bias correction; L2 weight decay added to the gradient when set. */
public class Adam extends Optimizer {
    protected final double beta1;
    protected final double beta2;
    protected final double epsilon;
    protected double weightDecay;

    public Adam(double learningRate) {
        this(learningRate, 0.9, 0.999, 1e-7);
    }

    /** Keras defaults: beta1 0.9, beta2 0.999, epsilon 1e-7. */
    public Adam(double learningRate, double beta1, double beta2, double epsilon) {
        super(learningRate);
        if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1)) { // NaN fails too
            throw new IllegalArgumentException(name() + ": betas must be in [0, 1), got " + beta1 + ", " + beta2);
        }
        if (!(epsilon > 0) || Double.isInfinite(epsilon)) {
            throw new IllegalArgumentException(name() + ": epsilon must be finite and > 0, got " + epsilon);
        }
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.epsilon = epsilon;
    }

    public Adam weightDecay(double wd) {
        this.weightDecay = checkWeightDecay(wd);
        return this;
    }

    protected boolean decoupled() {
        return false;
    }

    @Override
    public String name() {
        return "adam";
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("learning_rate", currentLearningRate());
        c.put("beta_1", beta1);
        c.put("beta_2", beta2);
        c.put("epsilon", epsilon);
        c.put("weight_decay", weightDecay);
        return c;
    }

    @Override
    protected int stateSlots() {
        return 2;
    }

    @Override
    protected void update(OptimizerKernels k, Tensor[] params, Tensor[] grads, Tensor[][] slots, double lr, long step,
                          double gradScale, double clipValue) {
        k.adam(params, grads, slots[0], slots[1], lr, beta1, beta2, epsilon, weightDecay, decoupled(), step, gradScale,
                clipValue);
    }
}
