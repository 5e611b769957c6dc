package dev.soma.model;

import dev.soma.tensor.Tensor;

/**
 * What {@link FitOptions#adversarial} and {@link FitOptions#gaussianNoise} do to each training batch: a new input
 * made from {@code x} (on the model's device) and its targets {@code y}, living in the caller's scope.
 */
public interface TrainingPerturbation {
    Tensor perturb(Model model, Tensor x, Tensor y);
}
