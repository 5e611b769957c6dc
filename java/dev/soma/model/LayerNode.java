package dev.soma.model;

import dev.soma.nn.Layer;

import java.util.List;

/** One application of a layer in a functional graph: the layer, its symbolic inputs and its symbolic output. */
public final class LayerNode {
    private final Layer layer;
    private final List<SymbolicTensor> inputs;
    private SymbolicTensor output;

    LayerNode(Layer layer, List<SymbolicTensor> inputs) {
        this.layer = layer;
        this.inputs = List.copyOf(inputs);
    }

    void setOutput(SymbolicTensor output) {
        this.output = output;
    }

    public Layer layer() {
        return layer;
    }

    public List<SymbolicTensor> inputs() {
        return inputs;
    }

    public SymbolicTensor output() {
        return output;
    }
}
