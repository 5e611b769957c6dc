package dev.soma.nn;

import dev.soma.tensor.Tensor;

/**
 * A layer's weight: a kept tensor (outside every scope, freed when the layer closes) that requires grad
 * when trainable, with an optional regulariser whose penalty is added to the loss.
 */
public final class Param {
    private final String name;
    private final Tensor value;
    private final Regularizer regularizer;
    private boolean trainable;

    Param(String name, Tensor value, Regularizer regularizer, boolean trainable) {
        this.name = name;
        this.value = value;
        this.regularizer = regularizer;
        this.trainable = trainable;
        value.setRequiresGrad(trainable);
    }

    /** "dense_1/kernel": the layer's name and the weight's name. */
    public String name() {
        return name;
    }

    public Tensor value() {
        return value;
    }

    public Regularizer regularizer() {
        return regularizer;
    }

    public boolean trainable() {
        return trainable;
    }

    public void setTrainable(boolean on) {
        trainable = on;
        value.zeroGrad();
        value.setRequiresGrad(on);
    }
}
