package dev.soma.fuzz;

import dev.soma.nn.Initializer;
import dev.soma.nn.Layer;
import dev.soma.nn.RecurrentLayer;
import dev.soma.nn.Regularizer;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;

/**
 * Calls a random half of a layer's fluent setters (public methods that take options and hand back the layer) with
 * random values from {@link LayerKnobs}. Found by reflection, so that a setter added later is fuzzed, and saved and
 * loaded, without anyone remembering to: a setter whose parameter this class cannot make fails the fuzz test and names
 * itself.
 */
final class LayerSetters {
    private LayerSetters() {}

    /** Methods that hand back the layer but are not options: restoring state, rebuilding from a checkpoint. */
    private static final Set<String> NOT_OPTIONS = Set.of("restoreState", "configure");

    /** The fluent setters of {@code type}, in a fixed order. */
    static List<Method> of(Class<?> type) {
        List<Method> out = new ArrayList<>();
        for (Method m : type.getMethods()) {
            if (m.isBridge() || Modifier.isStatic(m.getModifiers()) || m.getParameterCount() == 0) continue;
            if (NOT_OPTIONS.contains(m.getName())) continue;
            Class<?> r = m.getReturnType();
            if (Layer.class.isAssignableFrom(r) && r.isAssignableFrom(type)) out.add(m);
        }
        out.sort(Comparator.comparing(Method::toString));
        return out;
    }

    /**
     * Calls each setter with probability one half; returns what it set, as "name(values)" items. A setter that refuses
     * its value must do so clearly: its exception propagates to the fuzzer, which judges it.
     */
    static List<String> randomize(Layer layer, LayerKnobs knobs) throws Throwable {
        List<String> set = new ArrayList<>();
        for (Method m : of(layer.getClass())) {
            if (!knobs.flag()) continue;
            Object[] args = new Object[m.getParameterCount()];
            for (int i = 0; i < args.length; i++) args[i] = value(layer, m.getName(), m.getParameterTypes()[i], knobs);
            set.add(m.getName() + java.util.Arrays.toString(args).replace('[', '(').replace(']', ')'));
            try {
                m.invoke(layer, args);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
        }
        return set;
    }

    private static Object value(Layer layer, String setter, Class<?> type, LayerKnobs knobs) {
        if (type == boolean.class) return knobs.flag();
        if (type == Initializer.class) return knobs.initializer();
        if (type == Regularizer.class) return knobs.regularizer();
        if (type == int.class) {
            switch (setter) {
                case "strides": return knobs.count(1, 3);
                case "dilation": return knobs.count(1, 2);
                case "outputDim": return knobs.count(1, 6);
                default: break;
            }
        } else if (type == double.class) {
            switch (setter) {
                case "dropout", "recurrentDropout": return knobs.rate(0.5);
                case "excitatoryShare": return knobs.number(0.3, 0.9);
                default: break;
            }
        } else if (type == String.class) {
            switch (setter) {
                case "activation": return layer instanceof RecurrentLayer<?> ? knobs.recurrentActivation() : knobs.activation();
                case "recurrentActivation": return knobs.recurrentActivation();
                case "padding": return knobs.padding();
                default: break;
            }
        }
        throw new AssertionError("LayerSetters has no value for " + layer.getClass().getSimpleName() + "." + setter + "("
                + type.getSimpleName() + "): add one, so that the option is fuzzed and checked to survive a save");
    }
}
