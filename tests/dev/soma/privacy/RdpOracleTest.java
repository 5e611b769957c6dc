package dev.soma.privacy;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The accountant's RDP of the sampled Gaussian mechanism against its definition, computed another way: for random
 * sampling rates, noise multipliers and orders (integer and fractional), {@code A_α = E_{z ~ N(0, σ²)}[((1 - q) + q
 * e^{(2z - 1) / (2σ²)})^α]} by quadrature (trapezoid in log space over the whole peak), where the accountant sums
 * Mironov et al.'s series. The seed changes every run and is printed; {@code -Dsoma.fuzz.seed=S} replays it.
 */
class RdpOracleTest {
    static final long SEED = Long.getLong("soma.fuzz.seed", System.nanoTime());

    @Test
    void rdpOfTheSampledGaussianMatchesQuadrature() {
        SplittableRandom r = new SplittableRandom(SEED);
        StringBuilder failures = new StringBuilder();
        int checked = 0;
        for (int trial = 0; trial < 60; trial++) {
            double q = Math.exp(Math.log(1e-4) + r.nextDouble() * Math.log(0.9 / 1e-4)); // 1e-4 to 0.9, log-uniform
            double sigma = Math.exp(Math.log(0.5) + r.nextDouble() * Math.log(20 / 0.5)); // 0.5 to 20
            double[] orders = RdpAccountant.DEFAULT_ORDERS;
            double alpha = r.nextInt(4) == 0 ? orders[r.nextInt(orders.length)] : 1.05 + r.nextDouble() * 40;
            String what = String.format("q=%s sigma=%s alpha=%s", q, sigma, alpha);
            double want = logA(q, sigma, alpha) / (alpha - 1);
            double got;
            try {
                got = RdpAccountant.rdp(q, sigma, alpha);
            } catch (RuntimeException e) {
                failures.append(what).append(": threw ").append(e).append('\n');
                continue;
            }
            checked++;
            if (!(Math.abs(got - want) <= 1e-6 * Math.abs(want) + 1e-12)) {
                failures.append(what).append(": accountant ").append(got).append(", quadrature ").append(want).append('\n');
            }
        }
        System.out.println("rdp oracle, seed " + SEED + ": " + checked + " checked");
        assertEquals("", failures.toString(), "seed " + SEED);
    }

    /** log A_α by the trapezoid rule on a grid of σ/400 over the integrand's peak, summed in log space. */
    static double logA(double q, double sigma, double alpha) {
        double s2 = 2 * sigma * sigma;
        // The log-integrand is concave with its peak in [0, α] (the mixture pulls it from 0 towards α): cover that
        // and 40 standard deviations on each side.
        double lo = -40 * sigma - 1, hi = alpha + 40 * sigma + 1, h = sigma / 400;
        long n = (long) Math.ceil((hi - lo) / h);
        double logNorm = -0.5 * Math.log(Math.PI * s2);
        double max = Double.NEGATIVE_INFINITY;
        double[] g = new double[(int) n + 1];
        for (int i = 0; i <= n; i++) {
            double z = lo + i * h;
            double mix = RdpAccountant.logAdd(Math.log1p(-q), Math.log(q) + (2 * z - 1) / s2);
            g[i] = logNorm - z * z / s2 + alpha * mix;
            max = Math.max(max, g[i]);
        }
        double sum = 0;
        for (int i = 0; i <= n; i++) sum += (i == 0 || i == n ? 0.5 : 1) * Math.exp(g[i] - max);
        return max + Math.log(sum * h);
    }
}
