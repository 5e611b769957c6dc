package dev.soma.cli;

import dev.soma.model.Sequential;
import dev.soma.nn.Layer;
import dev.soma.nn.Param;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** {@code train --freeze dense_1,...}: the named layers (the summary's model-local names) keep their initial weights. */
final class FrozenLayers {
    private FrozenLayers() {}

    static void apply(Sequential m, List<String> names) {
        if (names.isEmpty()) return;
        Map<String, Layer> byName = new HashMap<>();
        Map<String, Integer> count = new HashMap<>();
        List<String> all = new ArrayList<>();
        for (Layer l : m.layers()) { // "dense_1", "dense_2", ... as the summary (and weight files) name them
            String name = l.typeName() + "_" + count.merge(l.typeName(), 1, Integer::sum);
            byName.put(name, l);
            all.add(name);
        }
        for (String name : names) {
            Layer l = byName.get(name);
            if (l == null) {
                throw new IllegalArgumentException("train: --freeze: no layer '" + name + "' in this model; its layers are " + all);
            }
            if (l.params().isEmpty()) {
                throw new IllegalArgumentException("train: --freeze: layer '" + name + "' has no weights to freeze");
            }
            for (Param p : l.params()) p.setTrainable(false);
        }
    }
}
