package dev.soma.optim;

/** Adam with decoupled weight decay (Loshchilov and Hutter): p -= lr * wd * p before the Adam step. */
public final class AdamW extends Adam {
    /** Keras default weight decay 0.004. */
    public AdamW(double learningRate) {
        this(learningRate, 0.004);
    }

    public AdamW(double learningRate, double weightDecay) {
        super(learningRate);
        this.weightDecay = checkWeightDecay(weightDecay);
    }

    @Override
    protected boolean decoupled() {
        return true;
    }

    @Override
    public String name() {
        return "adamw";
    }
}
