package dev.soma.optim;

import dev.soma.backend.OptimizerKernels;
import dev.soma.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.Map;

/** Stochastic gradient descent with optional momentum (heavy-ball or Nesterov) and L2 weight decay. */
public final class SGD extends Optimizer {
    private final double momentum;
    private final boolean nesterov;
    private double weightDecay;

    public SGD(double learningRate) {
        this(learningRate, 0, false);
    }

    public SGD(double learningRate, double momentum, boolean nesterov) {
        super(learningRate);
        // Written so that NaN fails too: it once passed, and the update then read a velocity that was never made.
        if (!(momentum >= 0 && momentum < 1)) throw new IllegalArgumentException("SGD: momentum must be in [0, 1), got " + momentum);
        if (nesterov && momentum == 0) throw new IllegalArgumentException("SGD: nesterov needs momentum > 0");
        this.momentum = momentum;
        this.nesterov = nesterov;
    }

    public SGD weightDecay(double wd) {
        this.weightDecay = checkWeightDecay(wd);
        return this;
    }

    @Override
    public String name() {
        return "sgd";
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("learning_rate", currentLearningRate());
        c.put("momentum", momentum);
        c.put("nesterov", nesterov);
        c.put("weight_decay", weightDecay);
        return c;
    }

    @Override
    protected int stateSlots() {
        return momentum > 0 ? 1 : 0;
    }

    @Override
    protected void update(OptimizerKernels k, Tensor[] params, Tensor[] grads, Tensor[][] slots, double lr, long step,
                          double gradScale, double clipValue) {
        k.sgd(params, grads, momentum > 0 ? slots[0] : null, lr, momentum, nesterov, weightDecay, gradScale, clipValue);
    }
}
