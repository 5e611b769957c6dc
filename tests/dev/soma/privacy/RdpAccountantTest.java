package dev.soma.privacy;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The accountant against the published DP-SGD MNIST figures (TensorFlow Privacy's tutorial table: batch 256 of
 * 60,000, δ = 1e-5) and against closed forms.
 */
class RdpAccountantTest {
    private static double mnistEpsilon(double noise, int epochs) {
        RdpAccountant acc = new RdpAccountant();
        double q = 256.0 / 60_000;
        long steps = (long) epochs * 60_000 / 256;
        acc.step(q, noise, steps);
        return acc.epsilon(1e-5);
    }

    @Test
    void matchesThePublishedMnistFiguresWithinOnePercent() {
        assertEquals(2.92, mnistEpsilon(1.12, 60), 0.01 * 2.92);
        assertEquals(1.20, mnistEpsilon(1.2, 10), 0.01 * 1.20);
        assertEquals(9.74, mnistEpsilon(0.6, 30), 0.01 * 9.74);
    }

    @Test
    void withoutSamplingItIsTheGaussianMechanism() {
        // q = 1: RDP(alpha) = alpha / (2 sigma^2) exactly (Mironov 2017, Prop. 7), summed over steps.
        assertEquals(3 / (2 * 4.0), RdpAccountant.rdp(1, 2, 3), 0);
        RdpAccountant acc = new RdpAccountant(new double[] {2, 8});
        acc.step(1, 2, 10);
        double eps8 = 10 * 8 / 8.0 - Math.log(1e-5) / 7;
        double eps2 = 10 * 2 / 8.0 - Math.log(1e-5);
        assertEquals(Math.min(eps2, eps8), acc.epsilon(1e-5), 1e-12);
    }

    @Test
    void integerAndFractionalSeriesAgreeAtNeighbouringOrders() {
        // RDP is continuous in alpha: the fractional series just beside an integer order meets the binomial sum.
        for (double sigma : new double[] {0.6, 1.1, 4}) {
            for (int alpha : new int[] {2, 5, 32}) {
                double exact = RdpAccountant.rdp(0.01, sigma, alpha);
                double near = RdpAccountant.rdp(0.01, sigma, alpha + 1e-7);
                assertEquals(exact, near, 1e-5 * Math.max(exact, 1e-9), "sigma " + sigma + " alpha " + alpha);
            }
        }
    }

    @Test
    void moreStepsOrLessNoiseNeverCostLess() {
        assertTrue(mnistEpsilon(1.1, 20) > mnistEpsilon(1.1, 10));
        assertTrue(mnistEpsilon(0.8, 10) > mnistEpsilon(1.1, 10));
        assertEquals(0, new RdpAccountant().epsilon(1e-5), 0, "no step: nothing spent");
    }

    @Test
    void badArgumentsAreRefusedWithTheirValue() {
        RdpAccountant acc = new RdpAccountant();
        assertTrue(assertThrows(IllegalArgumentException.class, () -> acc.step(1.5, 1, 1)).getMessage().contains("1.5"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> acc.step(0.1, 0, 1)).getMessage().contains("noise"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> acc.step(0.1, 1, -1)).getMessage().contains("-1"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> acc.epsilon(0)).getMessage().contains("delta"));
        assertThrows(IllegalArgumentException.class, () -> new RdpAccountant(new double[] {1}));
    }
}
