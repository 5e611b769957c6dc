package dev.soma.nn;

import dev.soma.tensor.Tensor;

/** A weight penalty added to the loss, as Keras' L1, L2 and L1L2: l1 * sum|w| + l2 * sum w². */
public record Regularizer(double l1, double l2) {
    public Regularizer {
        if (l1 < 0 || l2 < 0) throw new IllegalArgumentException("regularizer factors must be >= 0, got l1=" + l1 + " l2=" + l2);
    }

    public static Regularizer l1(double l1) {
        return new Regularizer(l1, 0);
    }

    public static Regularizer l2(double l2) {
        return new Regularizer(0, l2);
    }

    public static Regularizer l1l2(double l1, double l2) {
        return new Regularizer(l1, l2);
    }

    /** The penalty of one weight tensor: a 0-d tensor, recorded for autograd. */
    public Tensor penalty(Tensor w) {
        Tensor total = null;
        if (l1 > 0) total = w.abs().sum().mul(l1);
        if (l2 > 0) {
            Tensor t = w.mul(w).sum().mul(l2);
            total = total == null ? t : total.add(t);
        }
        return total;
    }
}
