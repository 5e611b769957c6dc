package dev.soma.nn;

import dev.soma.tensor.Tensor;

/**
 * A layer's weight: a kept tensor (outside every scope, freed when the layer closes) that requires grad
 * when trainable, with an optional regulariser whose penalty is added to the loss and an optional constraint
 * projected after every optimizer step.
 */
public final class Param {
    private final String name;
    private final Tensor value;
    private final Regularizer regularizer;
    private final Constraint constraint;
    private boolean trainable;

    Param(String name, Tensor value, Regularizer regularizer, boolean trainable) {
        this(name, value, regularizer, null, trainable);
    }

    Param(String name, Tensor value, Regularizer regularizer, Constraint constraint, boolean trainable) {
        this.name = name;
        this.value = value;
        this.regularizer = regularizer;
        this.constraint = constraint;
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

    /** The projection applied after every optimizer step, or null. */
    public Constraint constraint() {
        return constraint;
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
