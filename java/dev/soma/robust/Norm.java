package dev.soma.robust;

import java.util.Locale;
import java.util.SplittableRandom;

/**
 * The threat model's norm: how far a perturbation may go ({@link #project}), which way a gradient step moves
 * ({@link #direction}) and where a random start lies. All work per example on host arrays laid out one example
 * after another ({@code per} values each).
 */
public enum Norm {
    /** Every pixel moves by at most epsilon; steps follow the gradient's sign. */
    LINF,
    /** The whole example moves by at most epsilon in Euclidean length; steps follow the normalised gradient. */
    L2;

    public static Norm parse(String name) {
        return switch (name == null ? "" : name.toLowerCase(Locale.ROOT)) {
            case "linf", "inf", "l-inf" -> LINF;
            case "l2" -> L2;
            default -> throw new IllegalArgumentException("norm must be linf or l2, got '" + name + "'");
        };
    }

    /** The unit-size step direction of gradient {@code g} (sign for L-inf, g/||g||_2 per example for L2; 0 stays 0). */
    float[] direction(float[] g, int per) {
        float[] d = new float[g.length];
        if (this == LINF) {
            for (int i = 0; i < g.length; i++) d[i] = Math.signum(g[i]);
            return d;
        }
        for (int start = 0; start < g.length; start += per) {
            double n = length(g, start, per);
            if (n == 0) continue;
            for (int i = start; i < start + per; i++) d[i] = (float) (g[i] / n);
        }
        return d;
    }

    /** Pulls {@code delta} back into the epsilon ball, in place. */
    void project(float[] delta, int per, double eps) {
        if (this == LINF) {
            for (int i = 0; i < delta.length; i++) delta[i] = (float) Math.max(-eps, Math.min(eps, delta[i]));
            return;
        }
        for (int start = 0; start < delta.length; start += per) {
            double n = length(delta, start, per);
            if (n <= eps) continue;
            double f = eps / n;
            for (int i = start; i < start + per; i++) delta[i] = (float) (delta[i] * f);
        }
    }

    /** A random point of the epsilon ball per example: uniform per pixel (L-inf) or uniform in the ball (L2). */
    float[] randomStart(int count, int per, double eps, SplittableRandom random) {
        float[] delta = new float[count * per];
        if (this == LINF) {
            for (int i = 0; i < delta.length; i++) delta[i] = (float) ((2 * random.nextDouble() - 1) * eps);
            return delta;
        }
        for (int start = 0; start < delta.length; start += per) {
            for (int i = start; i < start + per; i++) delta[i] = (float) gaussian(random);
            double n = length(delta, start, per);
            // Radius eps * U^(1/d) makes the point uniform in the d-dimensional ball.
            double r = eps * Math.pow(random.nextDouble(), 1.0 / per);
            for (int i = start; i < start + per; i++) delta[i] = (float) (n == 0 ? 0 : delta[i] * r / n);
        }
        project(delta, per, eps); // float rounding may leave the point a hair outside
        return delta;
    }

    /** The norm of one example's slice: max |v| or sqrt(sum v^2). */
    double length(float[] v, int start, int per) {
        double s = 0;
        for (int i = start; i < start + per; i++) s = this == LINF ? Math.max(s, Math.abs(v[i])) : s + (double) v[i] * v[i];
        return this == LINF ? s : Math.sqrt(s);
    }

    static double gaussian(SplittableRandom random) {
        double u1 = random.nextDouble();
        double u2 = random.nextDouble();
        return Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
    }
}
