package dev.soma.nn;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/** Helpers for {@link Layer#randomState()}: building, checking and nesting the maps of stream counters. */
public final class RandomStates {
    private RandomStates() {}

    static Map<String, Long> of(String k1, long v1, String k2, long v2) {
        Map<String, Long> m = new LinkedHashMap<>();
        m.put(k1, v1);
        m.put(k2, v2);
        return m;
    }

    /** The state must hold exactly {@code keys}: a different set means it belongs to another kind of layer. */
    static void check(Layer layer, Map<String, Long> state, String... keys) {
        if (!state.keySet().equals(Set.of(keys))) {
            throw new IllegalArgumentException(layer.name() + ": random state " + state.keySet() + " does not fit the "
                    + "layer (expected " + Set.of(keys) + ")");
        }
    }

    /** Adds {@code part}'s entries under {@code prefix + "/"}. */
    public static void nest(Map<String, Long> into, String prefix, Map<String, Long> part) {
        part.forEach((k, v) -> into.put(prefix + "/" + k, v));
    }

    /** The entries under {@code prefix + "/"}, with the prefix taken off. */
    public static Map<String, Long> under(Map<String, Long> state, String prefix) {
        Map<String, Long> out = new LinkedHashMap<>();
        String p = prefix + "/";
        state.forEach((k, v) -> {
            if (k.startsWith(p)) out.put(k.substring(p.length()), v);
        });
        return out;
    }

    /** Checks that every entry of {@code state} starts with one of {@code prefixes} followed by "/". */
    public static void checkPrefixes(Layer layer, Map<String, Long> state, Set<String> prefixes) {
        for (String k : state.keySet()) {
            int slash = k.indexOf('/');
            if (slash < 0 || !prefixes.contains(k.substring(0, slash))) {
                throw new IllegalArgumentException(layer.name() + ": random state entry '" + k + "' names no part of the "
                        + "layer (parts: " + prefixes + ")");
            }
        }
    }
}
