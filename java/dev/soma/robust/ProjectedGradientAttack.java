package dev.soma.robust;

import dev.soma.errors.SomaException;
import dev.soma.model.Model;
import dev.soma.tensor.Tensor;

import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Projected gradient ascent on the model's loss (Madry et al. 2018): from {@code x} (or a random point of the
 * epsilon ball), {@code steps} steps of size {@code stepSize} along the norm's steepest-ascent direction, each
 * followed by projection onto the epsilon ball and clipping to the valid range {@code [lo, hi]}. FGSM is the
 * one-step case without random start and step epsilon; FGSM-RS (Wong et al. 2020) one step from a random start.
 * The random start draws from a stream seeded once, so successive batches get fresh starts.
 */
public final class ProjectedGradientAttack implements Attack {
    private final String name;
    private final Norm norm;
    private final double epsilon;
    private final double stepSize;
    private final int steps;
    private final boolean randomStart;
    private final double lo;
    private final double hi;
    private final long seed;
    private SplittableRandom random;

    public ProjectedGradientAttack(String name, Norm norm, double epsilon, double stepSize, int steps,
                                   boolean randomStart, double lo, double hi, long seed) {
        if (norm == null) throw new IllegalArgumentException(name + ": the norm is null");
        if (!Double.isFinite(epsilon) || epsilon < 0) {
            throw new IllegalArgumentException(name + ": epsilon must be finite and >= 0, got " + epsilon);
        }
        if (!Double.isFinite(stepSize) || stepSize < 0) {
            throw new IllegalArgumentException(name + ": the step size must be finite and >= 0, got " + stepSize);
        }
        if (steps < 1) throw new IllegalArgumentException(name + ": steps must be >= 1, got " + steps);
        if (!(Double.isFinite(lo) && Double.isFinite(hi) && hi > lo)) {
            throw new IllegalArgumentException(name + ": the valid range [lo, hi] must be finite with hi > lo, got ["
                    + lo + ", " + hi + "]");
        }
        this.name = name;
        this.norm = norm;
        this.epsilon = epsilon;
        this.stepSize = stepSize;
        this.steps = steps;
        this.randomStart = randomStart;
        this.lo = lo;
        this.hi = hi;
        this.seed = seed;
        this.random = new SplittableRandom(seed);
    }

    /** In adversarial training, each batch's random start comes from the seed and the batch's place. */
    @Override
    public void startStep(int epoch, int batch, int rank) {
        random = new SplittableRandom(dev.soma.model.TrainingPerturbation.stepSeed(seed, epoch, batch, rank));
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public Norm norm() {
        return norm;
    }

    @Override
    public double epsilon() {
        return epsilon;
    }

    public int steps() {
        return steps;
    }

    public double stepSize() {
        return stepSize;
    }

    @Override
    public Tensor perturb(Model model, Tensor x, Tensor y) {
        InputGradient.requireFloat32(name, x);
        if (x.ndim() < 2) {
            throw new dev.soma.errors.ShapeException(name + ": the input " + x.describe() + " needs a batch axis and at "
                    + "least one feature axis");
        }
        long[] shape = x.shape();
        float[] clean = x.toFloatArray();
        int count = (int) shape[0];
        if (clean.length == 0) return InputGradient.upload(clean, shape, x); // no example (or no value) to move
        int per = clean.length / count;
        checkRange(clean);
        float[] delta = randomStart ? norm.randomStart(count, per, epsilon, random) : new float[clean.length];
        float[] adv = clip(clean, delta);
        for (int s = 0; s < steps; s++) {
            float[] dir = norm.direction(InputGradient.of(model, adv, shape, y), per);
            for (int i = 0; i < adv.length; i++) delta[i] = (float) (adv[i] + stepSize * dir[i] - clean[i]);
            norm.project(delta, per, epsilon);
            adv = clip(clean, delta);
        }
        return InputGradient.upload(adv, shape, x);
    }

    /** x + delta clipped to [lo, hi]; delta is updated to what was kept (clipping toward x only shrinks it). */
    private float[] clip(float[] clean, float[] delta) {
        float[] adv = new float[clean.length];
        for (int i = 0; i < adv.length; i++) {
            adv[i] = (float) Math.max(lo, Math.min(hi, clean[i] + delta[i]));
            delta[i] = adv[i] - clean[i];
        }
        return adv;
    }

    private void checkRange(float[] clean) {
        for (int i = 0; i < clean.length; i++) {
            if (!(clean[i] >= lo && clean[i] <= hi)) {
                throw new SomaException(String.format(Locale.ROOT, "%s: input value %s at flat index %d is outside the "
                        + "valid range [%s, %s] the attack clips to; scale the data or give the attack its range",
                        name, clean[i], i, lo, hi));
            }
        }
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "%s(%s, eps=%s, step=%s, steps=%d%s)", name, norm.name().toLowerCase(Locale.ROOT),
                epsilon, stepSize, steps, randomStart ? ", random start" : "");
    }
}
