package dev.soma.model;

import java.util.Map;

/** Hooks into {@code fit}, as Keras callbacks. {@code logs} maps names ("loss", "val_accuracy") to values. */
public interface Callback {
    default void onTrainBegin(Model model) {}

    default void onEpochBegin(Model model, int epoch) {}

    default void onBatchEnd(Model model, int batch, Map<String, Double> logs) {}

    default void onEpochEnd(Model model, int epoch, Map<String, Double> logs) {}

    default void onTrainEnd(Model model) {}
}
