package dev.soma.model;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** What {@code fit} returns: each logged value ("loss", "accuracy", "val_loss", ...) per epoch. */
public final class History {
    private final Map<String, List<Double>> values = new LinkedHashMap<>();

    void record(Map<String, Double> logs) {
        logs.forEach((k, v) -> values.computeIfAbsent(k, x -> new ArrayList<>()).add(v));
    }

    public List<Double> get(String key) {
        List<Double> v = values.get(key);
        return v == null ? List.of() : Collections.unmodifiableList(v);
    }

    public Map<String, List<Double>> all() {
        return Collections.unmodifiableMap(values);
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
