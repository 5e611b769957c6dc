package dev.soma.model;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Values logged per epoch ("loss", "accuracy", "val_loss", ...; "d_loss", "g_loss" for GANs): what {@code fit}
 * returns.
 */
public final class History {
    private final Map<String, List<Double>> values = new LinkedHashMap<>();

    /** Appends one epoch's values. */
    public void record(Map<String, Double> logs) {
        logs.forEach((k, v) -> values.computeIfAbsent(k, x -> new ArrayList<>()).add(v));
    }

    /** A separate history with the same values (a resumed fit continues a copy, not the caller's object). */
    History copy() {
        History h = new History();
        values.forEach((k, v) -> h.values.put(k, new ArrayList<>(v)));
        return h;
    }

    public List<Double> get(String key) {
        List<Double> v = values.get(key);
        return v == null ? List.of() : Collections.unmodifiableList(v);
    }

    public Map<String, List<Double>> all() {
        return Collections.unmodifiableMap(values);
    }

    /** Every series as arrays (for {@link dev.soma.util.Plots}). */
    public Map<String, double[]> arrays() {
        Map<String, double[]> out = new LinkedHashMap<>();
        values.forEach((k, v) -> out.put(k, v.stream().mapToDouble(Double::doubleValue).toArray()));
        return out;
    }

    public int epochs() {
        return values.isEmpty() ? 0 : values.values().iterator().next().size();
    }

    /** The last epoch's value of {@code key}, or NaN. */
    public double last(String key) {
        List<Double> v = values.get(key);
        return v == null || v.isEmpty() ? Double.NaN : v.get(v.size() - 1);
    }
}
