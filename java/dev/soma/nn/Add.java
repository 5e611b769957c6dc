package dev.soma.nn;

import dev.soma.tensor.Tensor;

import java.util.List;

/** Sums inputs of one shape element by element, as Keras' Add. */
public final class Add extends Merge {
    @Override
    public String typeName() {
        return "add";
    }

    @Override
    public long[] computeOutputShape(List<long[]> inputShapes) {
        checkShapes(inputShapes, true);
        return inputShapes.get(0).clone();
    }

    @Override
    protected Tensor call(List<Tensor> inputs, boolean training) {
        Tensor sum = inputs.get(0).add(inputs.get(1));
        for (int i = 2; i < inputs.size(); i++) sum = sum.add(inputs.get(i));
        return sum;
    }
}
