package dev.soma.nn;

import dev.soma.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A weight penalty added to the loss, as Keras' L1, L2 and L1L2: l1 * sum|w| + l2 * sum w². Layers store theirs in
 * their config ({@link #config()}), so that a loaded model trains on with the same penalty.
 */
public record Regularizer(double l1, double l2) {
    public Regularizer {
        // Written so that NaN fails too: a NaN factor would turn every loss into NaN.
        if (!(l1 >= 0 && l2 >= 0 && l1 < Double.POSITIVE_INFINITY && l2 < Double.POSITIVE_INFINITY)) {
            throw new IllegalArgumentException("regularizer factors must be finite and >= 0, got l1=" + l1 + " l2=" + l2);
        }
    }

    /** As a layer config stores it: {"l1": ..., "l2": ...}. */
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("l1", l1);
        c.put("l2", l2);
        return c;
    }

    /** The regularizer {@link #config()} wrote, or null for a missing entry (none was set, or an older checkpoint). */
    public static Regularizer fromConfig(Object config) {
        if (config == null) return null;
        if (!(config instanceof Map<?, ?> m) || !(m.get("l1") instanceof Number l1) || !(m.get("l2") instanceof Number l2)) {
            throw new IllegalArgumentException("regularizer config: expected {\"l1\": number, \"l2\": number}, got " + config);
        }
        return new Regularizer(l1.doubleValue(), l2.doubleValue());
    }

    /** Puts {@code r}'s config under {@code key} when there is one (configs without regularizers stay as they were). */
    static void putConfig(Map<String, Object> layerConfig, String key, Regularizer r) {
        if (r != null) layerConfig.put(key, r.config());
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
