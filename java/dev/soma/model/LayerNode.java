package dev.soma.model;

import dev.soma.nn.Layer;

import java.util.List;

/**
 * One application of a layer in a functional graph: the layer, its symbolic inputs and its symbolic outputs (one
 * for most layers; several for a layer with {@link Layer#outputCount()} above 1, such as an RNN with returnState).
 */
public final class LayerNode {
    private final Layer layer;
    private final List<SymbolicTensor> inputs;
    private List<SymbolicTensor> outputs = List.of();

    LayerNode(Layer layer, List<SymbolicTensor> inputs) {
        this.layer = layer;
        this.inputs = List.copyOf(inputs);
    }

    void setOutputs(List<SymbolicTensor> outputs) {
        this.outputs = List.copyOf(outputs);
    }

    public Layer layer() {
        return layer;
    }

    public List<SymbolicTensor> inputs() {
        return inputs;
    }

    /** The first output: the only one for most layers (an RNN's sequence or last step with returnState). */
    public SymbolicTensor output() {
        return outputs.get(0);
    }

    /** Every output, in the layer's order ({@code [output, h]} or {@code [output, h, c]} for an RNN with returnState). */
    public List<SymbolicTensor> outputs() {
        return outputs;
    }
}
