package dev.soma.nn;

import dev.soma.autograd.GradMode;
import dev.soma.errors.DTypeException;
import dev.soma.errors.ShapeException;
import dev.soma.memory.Scope;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Reading and writing weight values from outside a layer (Keras' get_weights / set_weights, checkpoints): every
 * count, shape and dtype is checked in Java, naming the weight, before a byte is copied.
 */
public final class Weights {
    private Weights() {}

    /** CPU copies of every weight of {@code layer}, in {@link Layer#params()} order, in the current scope. */
    static List<Tensor> copiesOf(Layer layer) {
        List<Tensor> out = new ArrayList<>();
        try (GradMode.Guard g = GradMode.disable()) {
            for (Param p : layer.params()) {
                p.value().checkOpen(p.name() + ": getWeights");
                out.add(p.value().to(Device.cpu()));
            }
        }
        return out;
    }

    /** Checks every value against {@code layer}'s weights, then copies them in. */
    static void set(Layer layer, List<Tensor> values) {
        List<Param> params = layer.params();
        if (values == null || values.size() != params.size()) {
            throw new IllegalArgumentException(layer.name() + ".setWeights: the layer has " + params.size()
                    + " weight(s) " + names(params) + ", got " + (values == null ? "null" : values.size() + " value(s)"));
        }
        for (int i = 0; i < params.size(); i++) {
            if (values.get(i) == null) throw new IllegalArgumentException(layer.name() + ".setWeights: value " + i + " is null");
            check(layer.name() + ".setWeights: " + params.get(i).name(), params.get(i).value(), values.get(i));
        }
        for (int i = 0; i < params.size(); i++) copy(params.get(i).value(), values.get(i));
    }

    /**
     * Checks that {@code value} can replace {@code target}'s values: both open, the same shape and dtype.
     * {@code what} names the weight in the message.
     */
    public static void check(String what, Tensor target, Tensor value) {
        target.checkOpen(what);
        value.checkOpen(what);
        if (!Arrays.equals(target.shape(), value.shape())) {
            throw new ShapeException(what + ": expected shape " + Arrays.toString(target.shape()) + ", got "
                    + value.describe());
        }
        if (target.dtype() != value.dtype()) {
            throw new DTypeException(what + ": expected dtype " + target.dtype() + ", got " + value.describe());
        }
    }

    /** {@link #check}, then copies {@code value} into {@code target} (from any device). */
    public static void assign(String what, Tensor target, Tensor value) {
        check(what, target, value);
        copy(target, value);
    }

    private static void copy(Tensor target, Tensor value) {
        try (Scope s = Scope.open(); GradMode.Guard g = GradMode.disable()) {
            Tensor src = value.device().equals(target.device()) ? value : value.to(target.device());
            target.backend().memory().copy(src, target);
        }
    }

    private static List<String> names(List<Param> params) {
        List<String> out = new ArrayList<>();
        for (Param p : params) out.add(p.name());
        return out;
    }
}
