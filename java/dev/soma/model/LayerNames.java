package dev.soma.model;

import dev.soma.nn.Layer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Model-local layer names: the type and its count within the model ("dense_1", "dense_2", "dropout_1"), in layer
 * order. Unlike {@link Layer#name()}, which counts every layer the JVM made, these are the same for every model of
 * one architecture, so weight files written by one model load into a freshly built one.
 */
final class LayerNames {
    private LayerNames() {}

    static List<String> local(List<Layer> layers) {
        Map<String, Integer> count = new HashMap<>();
        List<String> out = new ArrayList<>(layers.size());
        for (Layer l : layers) out.add(l.typeName() + "_" + count.merge(l.typeName(), 1, Integer::sum));
        return out;
    }

    /** The part of a parameter's name after its layer's name ("kernel", "attention/query/kernel"). */
    static String weightName(dev.soma.nn.Param p) {
        return p.name().substring(p.name().indexOf('/') + 1);
    }
}
