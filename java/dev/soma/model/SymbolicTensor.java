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
 * List<SymbolicTensor> seqAndStates = in2.thenAll(new LSTM(8).returnSequences(true).returnState(true));
 * }</pre>
 * Applying one layer twice shares it: both applications use the same weights.
 */
public class SymbolicTensor {
    private final long[] shape;
    private final LayerNode producer;
    /** Which of the producer's outputs this is (0 unless the layer has several, as an RNN with returnState). */
    private final int outputIndex;
    private String name;

    SymbolicTensor(long[] shape, LayerNode producer, String name) {
        this(shape, producer, 0, name);
    }

    private SymbolicTensor(long[] shape, LayerNode producer, int outputIndex, String name) {
        this.shape = shape.clone();
        this.producer = producer;
        this.outputIndex = outputIndex;
        this.name = name;
    }

    /** Applies {@code layer} to this tensor. */
    public SymbolicTensor then(Layer layer) {
        return apply(layer, this);
    }

    /** Applies {@code layer} to {@code inputs}: one input for an ordinary layer, two or more for a {@link Merge}. */
    public static SymbolicTensor apply(Layer layer, SymbolicTensor... inputs) {
        if (layer != null && layer.outputCount() != 1) {
            throw new IllegalArgumentException(layer.name() + " (" + layer.getClass().getSimpleName() + ") returns "
                    + layer.outputCount() + " tensors (return_state): use SymbolicTensor.applyAll or thenAll, e.g. "
                    + "List<SymbolicTensor> out = x.thenAll(lstm); out.get(0) is the output, then the states");
        }
        return applyAll(layer, inputs).get(0);
    }

    /** Applies {@code layer} to this tensor and returns every output (Keras' {@code output, h, c = lstm(x)}). */
    public List<SymbolicTensor> thenAll(Layer layer) {
        return applyAll(layer, this);
    }

    /**
     * Applies {@code layer} to {@code inputs} and returns every output: one for most layers, {@code [output, h]} or
     * {@code [output, h, c]} for a recurrent layer with returnState.
     */
    public static List<SymbolicTensor> applyAll(Layer layer, SymbolicTensor... inputs) {
        if (layer == null) throw new IllegalArgumentException("SymbolicTensor.apply: the layer is null");
        if (inputs.length == 0) throw new IllegalArgumentException(layer.name() + ": applied to no inputs");
        for (SymbolicTensor t : inputs) {
            if (t == null) throw new IllegalArgumentException(layer.name() + ": applied to a null input");
        }
        List<SymbolicTensor> in = List.of(inputs);
        List<long[]> out;
        try {
            out = inferShapes(layer, in);
        } catch (ShapeException e) {
            throw new ShapeException(layer.name() + " (" + layer.getClass().getSimpleName() + ") applied to "
                    + describe(in) + ": " + e.getMessage(), e);
        }
        LayerNode node = new LayerNode(layer, in);
        List<SymbolicTensor> results = new ArrayList<>(out.size());
        for (int i = 0; i < out.size(); i++) results.add(new SymbolicTensor(out.get(i), node, i, null));
        node.setOutputs(results);
        return List.copyOf(results);
    }

    private static List<long[]> inferShapes(Layer layer, List<SymbolicTensor> in) {
        if (layer.outputCount() == 1) return List.of(inferShape(layer, in));
        inferShape(layer, in); // the checks of one input and of a built layer's shape
        return layer.computeOutputShapes(in.get(0).shape());
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

    /** Which of the producer's outputs this tensor is: 0 unless its layer has several (see {@link Layer#outputCount()}). */
    public int outputIndex() {
        return outputIndex;
    }

    /**
     * The name used in summaries and, for a model output, in logs ("out_1_loss", "out_1_accuracy"). Defaults
     * to the producing layer's name.
     */
    public String name() {
        if (name != null) return name;
        return outputIndex == 0 ? producer.layer().name() : producer.layer().name() + "_" + outputIndex;
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
