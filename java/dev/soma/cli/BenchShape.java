package dev.soma.cli;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * The sizes of a {@code bench train-step} model ({@code --shape key=value,...}): every key has the reference model's
 * value by default, so no {@code --shape} is the model of ../shared/peers and any other value times a variant of it
 * (another kernel size, width, hidden size, sequence length or head count). bench/pytorch's ShapeBench builds the
 * PyTorch twin of each variant from the same keys, so the two sides can be compared at shapes nobody tuned for.
 */
final class BenchShape {
    /** The keys each model takes, with the reference values. */
    private static final Map<String, Map<String, String>> DEFAULTS = Map.of(
            "cnn", ordered("image", "28", "channels", "1", "kernel", "3", "filters1", "32", "filters2", "64",
                    "pool", "2", "dense", "128"),
            "lstm", ordered("length", "100", "vocab", "10000", "embed", "64", "hidden", "128", "cell", "lstm"),
            "attn", ordered("length", "100", "dim", "64", "heads", "1"),
            "gan", ordered("latent", "100", "hidden", "256", "pixels", "784"));

    private final String model;
    private final Map<String, String> values;

    private BenchShape(String model, Map<String, String> values) {
        this.model = model;
        this.values = values;
    }

    /** The reference sizes of {@code model} overridden by {@code given}; unknown keys or models are refused. */
    static BenchShape of(String model, Map<String, String> given) {
        Map<String, String> defaults = DEFAULTS.get(model);
        if (defaults == null) {
            if (given.isEmpty()) return new BenchShape(model, Map.of());
            throw new IllegalArgumentException("bench train-step: --shape applies to " + new TreeMap<>(DEFAULTS).keySet()
                    + ", not to --model " + model);
        }
        Map<String, String> values = new LinkedHashMap<>(defaults);
        for (Map.Entry<String, String> e : given.entrySet()) {
            if (!defaults.containsKey(e.getKey())) {
                throw new IllegalArgumentException("bench train-step: --shape key '" + e.getKey() + "' is not one of "
                        + model + "'s keys " + defaults.keySet());
            }
            values.put(e.getKey(), e.getValue().trim());
        }
        BenchShape s = new BenchShape(model, values);
        for (String key : values.keySet()) if (!key.equals("cell")) s.positive(key);
        if (model.equals("lstm") && !values.get("cell").matches("lstm|gru")) {
            throw new IllegalArgumentException("bench train-step: --shape cell must be lstm or gru, got '"
                    + values.get("cell") + "'");
        }
        if (model.equals("attn") && s.positive("dim") % s.positive("heads") != 0) {
            throw new IllegalArgumentException("bench train-step: --shape dim " + s.positive("dim")
                    + " must be a multiple of heads " + s.positive("heads"));
        }
        if (model.equals("cnn") && s.positive("image") < s.positive("pool")) {
            throw new IllegalArgumentException("bench train-step: --shape image " + s.positive("image")
                    + " is smaller than pool " + s.positive("pool"));
        }
        return s;
    }

    int get(String key) {
        return positive(key);
    }

    String text(String key) {
        String v = values.get(key);
        if (v == null) throw new IllegalStateException(model + " has no shape key " + key);
        return v;
    }

    /** "kernel=5,filters1=16" for the keys that differ from the reference model; empty for the reference itself. */
    String describeChanges() {
        StringBuilder b = new StringBuilder();
        Map<String, String> defaults = DEFAULTS.getOrDefault(model, Map.of());
        for (Map.Entry<String, String> e : values.entrySet()) {
            if (e.getValue().equals(defaults.get(e.getKey()))) continue;
            if (b.length() > 0) b.append(',');
            b.append(e.getKey()).append('=').append(e.getValue());
        }
        return b.toString();
    }

    private int positive(String key) {
        String v = text(key);
        int n;
        try {
            n = Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("bench train-step: --shape " + key + " must be an integer, got '" + v + "'");
        }
        if (n <= 0) throw new IllegalArgumentException("bench train-step: --shape " + key + " must be > 0, got " + n);
        return n;
    }

    private static Map<String, String> ordered(String... kv) {
        Map<String, String> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) m.put(kv[i], kv[i + 1]);
        return java.util.Collections.unmodifiableMap(m);
    }
}
