package dev.soma.model;

import dev.soma.errors.ShapeException;
import dev.soma.nn.Layer;
import dev.soma.nn.Merge;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A placeholder for a tensor in a functional graph (Keras' KerasTensor): a per-example shape and the layer
 * application that produces it, but no data. Applying a layer to symbolic tensors records a {@link LayerNode}
 * and infers the output shape at once, so a shape error is reported where the graph is written.
 * <pre>{@code
 * Input in = Input.of(784);
 * SymbolicTensor h = in.then(new Dense(64, "relu"));
 * SymbolicTensor out = SymbolicTensor.apply(new Concatenate(), h, other).then(new Dense(10, "softmax"));
 * }</pre>
 * Applying one layer twice shares it: both applications use the same weights.
 */
public class SymbolicTensor {
    private final long[] shape;
    private final LayerNode producer;
    private String name;

    SymbolicTensor(long[] shape, LayerNode producer, String name) {
        this.shape = shape.clone();
        this.producer = producer;
        this.name = name;
    }

    /** Applies {@code layer} to this tensor. */
    public SymbolicTensor then(Layer layer) {
        return apply(layer, this);
    }

    /** Applies {@code layer} to {@code inputs}: one input for an ordinary layer, two or more for a {@link Merge}. */
    public static SymbolicTensor apply(Layer layer, SymbolicTensor... inputs) {
        if (layer == null) throw new IllegalArgumentException("SymbolicTensor.apply: the layer is null");
        if (inputs.length == 0) throw new IllegalArgumentException(layer.name() + ": applied to no inputs");
        for (SymbolicTensor t : inputs) {
            if (t == null) throw new IllegalArgumentException(layer.name() + ": applied to a null input");
        }
        List<SymbolicTensor> in = List.of(inputs);
        long[] out;
        try {
            out = inferShape(layer, in);
        } catch (ShapeException e) {
            throw new ShapeException(layer.name() + " (" + layer.getClass().getSimpleName() + ") applied to "
                    + describe(in) + ": " + e.getMessage(), e);
        }
        LayerNode node = new LayerNode(layer, in);
        SymbolicTensor result = new SymbolicTensor(out, node, null);
        node.setOutput(result);
        return result;
    }

    private static long[] inferShape(Layer layer, List<SymbolicTensor> in) {
        if (layer instanceof Merge m) {
            List<long[]> shapes = new ArrayList<>();
            for (SymbolicTensor t : in) shapes.add(t.shape());
            return m.computeOutputShape(shapes);
        }
        if (in.size() != 1) {
            throw new ShapeException("takes one input, got " + in.size() + " (join inputs with a merge layer such as "
                    + "Concatenate or Add first)");
        }
        long[] s = in.get(0).shape();
        if (layer.isBuilt()) {
            if (!Arrays.equals(layer.inputShape(), s)) {
                throw new ShapeException("the layer is built for input shape " + Arrays.toString(layer.inputShape())
                        + ", not " + Arrays.toString(s));
            }
            return layer.outputShape();
        }
        return layer.computeOutputShape(s.clone());
    }

    /** Per-example shape (no batch axis). */
    public long[] shape() {
        return shape.clone();
    }

    /** The layer application that produces this tensor; null for an {@link Input}. */
    public LayerNode producer() {
        return producer;
    }

    /**
     * The name used in summaries and, for a model output, in logs ("out_1_loss", "out_1_accuracy"). Defaults
     * to the producing layer's name.
     */
    public String name() {
        if (name != null) return name;
        return producer.layer().name();
    }

    /** Names this tensor (returns it). */
    public SymbolicTensor named(String newName) {
        if (newName == null || newName.isBlank()) throw new IllegalArgumentException("SymbolicTensor.named: empty name");
        this.name = newName;
        return this;
    }

    boolean hasExplicitName() {
        return name != null;
    }

    static String describe(List<SymbolicTensor> ts) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < ts.size(); i++) {
            b.append(i == 0 ? "" : ", ").append('\'').append(ts.get(i).name()).append("' ")
                    .append(Arrays.toString(ts.get(i).shape));
        }
        return b.toString();
    }

    @Override
    public String toString() {
        return name() + " " + Arrays.toString(shape);
    }
}
