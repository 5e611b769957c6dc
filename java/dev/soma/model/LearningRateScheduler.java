package dev.soma.model;

import java.util.function.BiFunction;

/** Sets the optimizer's learning rate at the start of each epoch: {@code lr = schedule(epoch, currentLr)}. */
public final class LearningRateScheduler implements Callback {
    private final BiFunction<Integer, Double, Double> schedule;

    public LearningRateScheduler(BiFunction<Integer, Double, Double> schedule) {
        this.schedule = schedule;
    }

    @Override
    public void onEpochBegin(Model model, int epoch) {
        double lr = schedule.apply(epoch, model.optimizer().currentLearningRate());
        if (!(lr > 0) || Double.isInfinite(lr)) {
            throw new IllegalArgumentException("LearningRateScheduler: schedule gave learning rate " + lr + " at epoch " + epoch);
        }
        model.optimizer().learningRate(lr);
    }
}
