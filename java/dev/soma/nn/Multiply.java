package dev.soma.nn;

import dev.soma.tensor.Tensor;

import java.util.List;

/** Multiplies inputs of one shape element by element, as Keras' Multiply. */
public final class Multiply extends Merge {
    @Override
    public String typeName() {
        return "multiply";
    }

    @Override
    public long[] computeOutputShape(List<long[]> inputShapes) {
        checkShapes(inputShapes, true);
        return inputShapes.get(0).clone();
    }

    @Override
    protected Tensor call(List<Tensor> inputs, boolean training) {
        Tensor product = inputs.get(0).mul(inputs.get(1));
        for (int i = 2; i < inputs.size(); i++) product = product.mul(inputs.get(i));
        return product;
    }
}
