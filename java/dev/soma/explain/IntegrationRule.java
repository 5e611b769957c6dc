package dev.soma.explain;

import java.util.Locale;

/**
 * The quadrature Integrated Gradients uses along the path from the baseline (alpha 0) to the input (alpha 1),
 * as Captum's {@code method}: Riemann sums (left, right, middle, trapezoid) or Gauss-Legendre (Captum's default,
 * exact for polynomials of degree up to 2n - 1, so it needs the fewest steps on smooth models).
 */
public enum IntegrationRule {
    RIEMANN_LEFT, RIEMANN_RIGHT, RIEMANN_MIDDLE, RIEMANN_TRAPEZOID, GAUSS_LEGENDRE;

    /** The points and weights of an {@code n}-step rule on [0, 1]: {@code {alphas, weights}}; weights sum to 1. */
    public double[][] pointsAndWeights(int n) {
        int min = this == RIEMANN_TRAPEZOID ? 2 : 1;
        if (n < min) throw new IllegalArgumentException("IntegratedGradients: " + cliName() + " needs at least " + min + " steps, got " + n);
        double[] a = new double[n];
        double[] w = new double[n];
        switch (this) {
            case RIEMANN_LEFT, RIEMANN_RIGHT, RIEMANN_MIDDLE -> {
                double shift = this == RIEMANN_LEFT ? 0 : this == RIEMANN_RIGHT ? 1 : 0.5;
                for (int i = 0; i < n; i++) {
                    a[i] = (i + shift) / n;
                    w[i] = 1.0 / n;
                }
            }
            case RIEMANN_TRAPEZOID -> {
                for (int i = 0; i < n; i++) {
                    a[i] = (double) i / (n - 1);
                    w[i] = (i == 0 || i == n - 1 ? 0.5 : 1.0) / (n - 1);
                }
            }
            case GAUSS_LEGENDRE -> {
                double[][] xw = legendre(n);
                for (int i = 0; i < n; i++) {
                    a[i] = (xw[0][i] + 1) / 2;
                    w[i] = xw[1][i] / 2;
                }
            }
        }
        return new double[][] {a, w};
    }

    /** Gauss-Legendre nodes and weights on [-1, 1] by Newton's method on P_n (as numpy's leggauss gives them). */
    static double[][] legendre(int n) {
        double[] x = new double[n];
        double[] w = new double[n];
        for (int i = 0; i < n; i++) {
            double z = Math.cos(Math.PI * (i + 0.75) / (n + 0.5)); // Tricomi's first guess of root i
            double dp = 0;
            for (int iter = 0; iter < 100; iter++) {
                double p0 = 1, p1 = z;
                for (int k = 2; k <= n; k++) {
                    double p2 = ((2.0 * k - 1) * z * p1 - (k - 1.0) * p0) / k;
                    p0 = p1;
                    p1 = p2;
                }
                dp = n * (z * p1 - p0) / (z * z - 1);
                double dz = p1 / dp;
                z -= dz;
                if (Math.abs(dz) < 1e-15) break;
            }
            // Recompute the derivative at the converged root for the weight.
            double p0 = 1, p1 = z;
            for (int k = 2; k <= n; k++) {
                double p2 = ((2.0 * k - 1) * z * p1 - (k - 1.0) * p0) / k;
                p0 = p1;
                p1 = p2;
            }
            dp = n * (z * p1 - p0) / (z * z - 1);
            x[n - 1 - i] = z; // ascending order
            w[n - 1 - i] = 2 / ((1 - z * z) * dp * dp);
        }
        return new double[][] {x, w};
    }

    /** The CLI spelling: riemann-left, ..., gauss-legendre. */
    public String cliName() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    public static IntegrationRule parse(String s) {
        for (IntegrationRule r : values()) if (r.cliName().equals(s)) return r;
        throw new IllegalArgumentException("unknown integration rule '" + s + "': expected riemann-left, riemann-right, "
                + "riemann-middle, riemann-trapezoid or gauss-legendre");
    }
}
