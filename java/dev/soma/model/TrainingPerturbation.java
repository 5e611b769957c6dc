package dev.soma.model;

import dev.soma.tensor.Tensor;

/**
 * What {@link FitOptions#adversarial} and {@link FitOptions#gaussianNoise} do to each training batch: a new input
 * made from {@code x} (on the model's device) and its targets {@code y}, living in the caller's scope.
 */
public interface TrainingPerturbation {
    Tensor perturb(Model model, Tensor x, Tensor y);

    /**
     * Called by {@code fit} before each training batch's {@link #perturb}: a perturbation with random draws (noise, a
     * random start) takes them from a stream of its own seed and this batch's place ({@link #stepSeed}), so that a run
     * resumed from a checkpoint draws what the unbroken run drew there, and ranks draw independently. Outside fit
     * nothing calls this and the draws follow one stream.
     */
    default void startStep(int epoch, int batch, int rank) {}

    /** The seed of one training batch's draws: {@code seed} mixed with the batch's epoch, index and rank. */
    static long stepSeed(long seed, int epoch, int batch, int rank) {
        long h = seed;
        for (long v : new long[] {epoch, batch, rank}) {
            h = (h ^ v) * 0x9E3779B97F4A7C15L;
            h = (h ^ (h >>> 31)) * 0xBF58476D1CE4E5B9L;
            h ^= h >>> 29;
        }
        return h;
    }
}
