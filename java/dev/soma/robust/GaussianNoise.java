package dev.soma.robust;

import dev.soma.model.Model;
import dev.soma.model.TrainingPerturbation;
import dev.soma.tensor.Tensor;

import java.util.SplittableRandom;

/**
 * Gaussian-noise augmentation: each input element gets fresh N(0, sigma^2) noise, unclipped (as in randomized
 * smoothing's training, Cohen et al. 2019). Seeded: in fit, per batch from the seed and the batch's place (see
 * {@link #startStep}); elsewhere one stream, so each call gets new noise.
 */
public final class GaussianNoise implements TrainingPerturbation {
    private final double sigma;
    private final long seed;
    private SplittableRandom random;

    public GaussianNoise(double sigma, long seed) {
        if (!Double.isFinite(sigma) || sigma < 0) {
            throw new IllegalArgumentException("gaussianNoise: sigma must be finite and >= 0, got " + sigma);
        }
        this.sigma = sigma;
        this.seed = seed;
        this.random = new SplittableRandom(seed);
    }

    /** In fit, each batch's noise comes from the seed and the batch's place (a resumed run draws the same). */
    @Override
    public void startStep(int epoch, int batch, int rank) {
        random = new SplittableRandom(TrainingPerturbation.stepSeed(seed, epoch, batch, rank));
    }

    public double sigma() {
        return sigma;
    }

    /** {@code values} plus noise, as a new array. */
    public float[] apply(float[] values) {
        float[] out = new float[values.length];
        for (int i = 0; i < out.length; i++) out[i] = (float) (values[i] + sigma * Norm.gaussian(random));
        return out;
    }

    @Override
    public Tensor perturb(Model model, Tensor x, Tensor y) {
        InputGradient.requireFloat32("gaussianNoise", x);
        return InputGradient.upload(apply(x.toFloatArray()), x.shape(), x);
    }
}
