package dev.soma.privacy;

import org.apache.commons.math3.special.Erf;

import java.util.Arrays;

/**
 * Rényi-DP accountant for the sampled Gaussian mechanism of DP-SGD (Mironov, Talwar and Zhang, "Rényi Differential
 * Privacy of the Sampled Gaussian Mechanism", 2019): each step samples every example independently with probability
 * {@code q} and adds Gaussian noise of {@code sigma} times the clipping norm. RDP adds up over steps at every order
 * α; the spent (ε, δ) is the best order's conversion ε = RDP(α) − log δ / (α − 1) (Mironov 2017, Prop. 3) — the
 * conversion behind the published DP-SGD MNIST figures this is tested against.
 */
public final class RdpAccountant {
    /** The orders TensorFlow Privacy's tutorials use (1.1 .. 10.9 by 0.1, 12 .. 63), plus 128, 256, 512. */
    public static final double[] DEFAULT_ORDERS = defaultOrders();

    private final double[] orders;
    private final double[] rdp;

    public RdpAccountant() {
        this(DEFAULT_ORDERS);
    }

    public RdpAccountant(double[] orders) {
        for (double a : orders) {
            if (!(a > 1) || Double.isInfinite(a)) {
                throw new IllegalArgumentException("RdpAccountant: orders must be finite and > 1, got " + a);
            }
        }
        this.orders = orders.clone();
        this.rdp = new double[orders.length];
    }

    /** An accountant that continues from a saved {@link #orders()} and {@link #rdp()} (a resumed run). */
    public static RdpAccountant restored(double[] orders, double[] rdp) {
        RdpAccountant a = new RdpAccountant(orders);
        if (rdp.length != orders.length) {
            throw new IllegalArgumentException("RdpAccountant: " + rdp.length + " RDP values for " + orders.length + " orders");
        }
        for (double r : rdp) {
            if (!(r >= 0)) throw new IllegalArgumentException("RdpAccountant: saved RDP values must be >= 0, got " + r);
        }
        System.arraycopy(rdp, 0, a.rdp, 0, rdp.length);
        return a;
    }

    /** The orders α this accountant tracks. */
    public double[] orders() {
        return orders.clone();
    }

    /** The RDP spent so far at each of {@link #orders()}: the whole state, for checkpoints. */
    public synchronized double[] rdp() {
        return rdp.clone();
    }

    /** Records {@code steps} steps with sampling rate {@code q} and noise multiplier {@code sigma}. */
    public synchronized void step(double q, double sigma, long steps) {
        if (!(q >= 0 && q <= 1)) throw new IllegalArgumentException("RdpAccountant: sampling rate q must be in [0, 1], got " + q);
        if (!(sigma > 0) || Double.isInfinite(sigma)) {
            throw new IllegalArgumentException("RdpAccountant: noise multiplier must be finite and > 0, got " + sigma);
        }
        if (steps < 0) throw new IllegalArgumentException("RdpAccountant: steps must be >= 0, got " + steps);
        for (int i = 0; i < orders.length; i++) rdp[i] += steps * rdp(q, sigma, orders[i]);
    }

    /** The smallest ε over the orders for which training so far is (ε, δ)-DP. */
    public synchronized double epsilon(double delta) {
        return spent(delta).epsilon();
    }

    /** ε at {@code delta} and the order that gives it. */
    public synchronized Spent spent(double delta) {
        if (!(delta > 0 && delta < 1)) throw new IllegalArgumentException("RdpAccountant: delta must be in (0, 1), got " + delta);
        boolean anything = false;
        for (double r : rdp) anything |= r > 0;
        if (!anything) return new Spent(0, Double.NaN); // nothing released yet: nothing spent
        double best = Double.POSITIVE_INFINITY;
        double order = Double.NaN;
        for (int i = 0; i < orders.length; i++) {
            double eps = rdp[i] - Math.log(delta) / (orders[i] - 1);
            if (eps < best) {
                best = eps;
                order = orders[i];
            }
        }
        return new Spent(Math.max(best, 0), order);
    }

    public record Spent(double epsilon, double order) {}

    /** RDP of one step of the sampled Gaussian mechanism at order {@code alpha}. */
    public static double rdp(double q, double sigma, double alpha) {
        if (q == 0) return 0;
        if (q == 1) return alpha / (2 * sigma * sigma);
        double logA = alpha == Math.rint(alpha) ? logAInteger(q, sigma, (long) alpha) : logAFractional(q, sigma, alpha);
        return logA / (alpha - 1);
    }

    /** log A_α for integer α: the binomial expansion of E[(1 - q + q e^{...})^α] (Mironov et al. 2019, Sec. 3.3). */
    static double logAInteger(double q, double sigma, long alpha) {
        double logA = Double.NEGATIVE_INFINITY;
        double logBinom = 0; // log C(alpha, 0)
        for (long i = 0; i <= alpha; i++) {
            if (i > 0) logBinom += Math.log(alpha - i + 1) - Math.log(i);
            double s = logBinom + i * Math.log(q) + (alpha - i) * Math.log1p(-q) + (i * i - i) / (2 * sigma * sigma);
            logA = logAdd(logA, s);
        }
        return logA;
    }

    /** log A_α for fractional α: the two convergent series of Mironov et al. 2019, Sec. 3.3. */
    static double logAFractional(double q, double sigma, double alpha) {
        double logA0 = Double.NEGATIVE_INFINITY;
        double logA1 = Double.NEGATIVE_INFINITY;
        double z0 = sigma * sigma * Math.log(1 / q - 1) + 0.5;
        double logCoef = 0; // log |C(alpha, i)|
        double sign = 1;
        for (int i = 0; ; i++) {
            if (i > 0) {
                double factor = (alpha - i + 1) / i;
                if (factor == 0) break; // (cannot happen for fractional alpha)
                logCoef += Math.log(Math.abs(factor));
                sign *= Math.signum(factor);
            }
            double j = alpha - i;
            double logT0 = logCoef + i * Math.log(q) + j * Math.log1p(-q);
            double logT1 = logCoef + j * Math.log(q) + i * Math.log1p(-q);
            double logE0 = Math.log(0.5) + logErfc((i - z0) / (Math.sqrt(2) * sigma));
            double logE1 = Math.log(0.5) + logErfc((z0 - j) / (Math.sqrt(2) * sigma));
            double logS0 = logT0 + (i * (double) i - i) / (2 * sigma * sigma) + logE0;
            double logS1 = logT1 + (j * j - j) / (2 * sigma * sigma) + logE1;
            if (sign > 0) {
                logA0 = logAdd(logA0, logS0);
                logA1 = logAdd(logA1, logS1);
            } else {
                logA0 = logSub(logA0, logS0);
                logA1 = logSub(logA1, logS1);
            }
            if (Math.max(logS0, logS1) < -30 || i > 100_000) break;
        }
        return logAdd(logA0, logA1);
    }

    /** log(erfc(x)), accurate where erfc underflows (x > ~26) through its asymptotic series. */
    static double logErfc(double x) {
        if (x < 20) return Math.log(Erf.erfc(x));
        double r = 1 / (2 * x * x);
        // erfc(x) = e^{-x^2} / (x sqrt(pi)) (1 - r + 3 r^2 - 15 r^3 + 105 r^4 ...)
        double series = 1 - r + 3 * r * r - 15 * r * r * r + 105 * r * r * r * r;
        return -x * x - Math.log(x) - 0.5 * Math.log(Math.PI) + Math.log(series);
    }

    static double logAdd(double a, double b) {
        double hi = Math.max(a, b);
        double lo = Math.min(a, b);
        if (hi == Double.NEGATIVE_INFINITY) return hi;
        return hi + Math.log1p(Math.exp(lo - hi));
    }

    /** log(e^a - e^b) for a >= b; -inf when equal. */
    static double logSub(double a, double b) {
        if (b == Double.NEGATIVE_INFINITY) return a;
        if (a < b) throw new ArithmeticException("RdpAccountant: log of a negative number (" + a + " < " + b + ")");
        if (a == b) return Double.NEGATIVE_INFINITY;
        return a + Math.log1p(-Math.exp(b - a));
    }

    private static double[] defaultOrders() {
        double[] o = new double[99 + 52 + 3];
        int k = 0;
        for (int x = 1; x < 100; x++) o[k++] = 1 + x / 10.0;
        for (int a = 12; a < 64; a++) o[k++] = a;
        o[k++] = 128;
        o[k++] = 256;
        o[k] = 512;
        return o;
    }

    @Override
    public synchronized String toString() {
        return "RdpAccountant" + Arrays.toString(rdp);
    }
}
