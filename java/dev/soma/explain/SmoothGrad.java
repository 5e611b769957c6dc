package dev.soma.explain;

import java.util.SplittableRandom;

/**
 * SmoothGrad (Smilkov et al. 2017): the input gradient averaged over {@link #samples} copies of the input with
 * Gaussian noise added, which removes much of a raw gradient's speckle. As in the paper, the noise level is a
 * fraction of the input's range: {@code sigma = noise * (max(x) - min(x))} (the level itself when x is constant).
 * Seeded, so the same call gives the same map.
 */
public final class SmoothGrad implements AttributionMethod {
    private double noise = 0.15;
    private int samples = 50;
    private long seed = 1;

    public SmoothGrad noise(double level) {
        if (!(level >= 0) || Double.isInfinite(level)) throw new IllegalArgumentException("SmoothGrad: noise must be a finite value >= 0, got " + level);
        this.noise = level;
        return this;
    }

    public SmoothGrad samples(int n) {
        if (n < 1) throw new IllegalArgumentException("SmoothGrad: samples must be >= 1, got " + n);
        this.samples = n;
        return this;
    }

    public SmoothGrad seed(long s) {
        this.seed = s;
        return this;
    }

    @Override
    public String name() {
        return "smoothgrad";
    }

    @Override
    public Attribution attribute(Target target, float[] example, long[] shape) {
        target.checkExample(name(), example, shape);
        float lo = Float.POSITIVE_INFINITY, hi = Float.NEGATIVE_INFINITY;
        for (float v : example) {
            lo = Math.min(lo, v);
            hi = Math.max(hi, v);
        }
        double sigma = noise * (hi > lo ? hi - lo : 1.0);
        int per = example.length;
        float[] noisy = new float[samples * per];
        SplittableRandom r = new SplittableRandom(seed);
        for (int s = 0; s < samples; s++) {
            for (int i = 0; i < per; i++) noisy[s * per + i] = (float) (example[i] + sigma * gaussian(r));
        }
        float[] grads = Gradients.withGradients(target, noisy, shape, samples).gradients();
        float[] mean = new float[per];
        for (int i = 0; i < per; i++) {
            double g = 0;
            for (int s = 0; s < samples; s++) g += grads[s * per + i];
            mean[i] = (float) (g / samples);
        }
        float score = Gradients.scores(target, example, shape, 1)[0];
        return new Attribution(name(), shape, mean, score, Double.NaN);
    }

    /** A standard normal draw (Box-Muller), from the seeded generator. */
    private static double gaussian(SplittableRandom r) {
        double u = 1 - r.nextDouble(); // in (0, 1]: log is finite
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r.nextDouble());
    }
}
