package dev.soma.robust;

import dev.soma.model.TrainingPerturbation;

/**
 * An adversarial attack on a compiled model: {@link #perturb} gives, for a batch {@code x} with targets {@code y}
 * (the model's compiled loss reads them), adversarial examples within {@link #epsilon()} of {@code x} in
 * {@link #norm()} and inside the valid input range. Usable as adversarial training in
 * {@link dev.soma.model.FitOptions#adversarial}.
 */
public interface Attack extends TrainingPerturbation {
    String name();

    Norm norm();

    double epsilon();
}
