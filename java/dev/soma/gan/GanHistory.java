package dev.soma.gan;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Per-epoch means of what {@link GanTrainer#trainStep} reports: d_loss, g_loss, d_accuracy, ... */
public final class GanHistory {
    private final Map<String, List<Double>> values = new LinkedHashMap<>();

    void record(Map<String, Double> logs) {
        logs.forEach((k, v) -> values.computeIfAbsent(k, x -> new ArrayList<>()).add(v));
    }

    public List<Double> get(String key) {
        List<Double> v = values.get(key);
        return v == null ? List.of() : Collections.unmodifiableList(v);
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

    public double last(String key) {
        List<Double> v = values.get(key);
        return v == null || v.isEmpty() ? Double.NaN : v.get(v.size() - 1);
    }
}
