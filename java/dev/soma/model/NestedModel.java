package dev.soma.model;

import dev.soma.nn.CompositeLayer;
import dev.soma.nn.Layer;
import dev.soma.tensor.Tensor;

import java.util.List;
import java.util.Map;
import java.util.LinkedHashMap;
import java.util.SplittableRandom;

/**
 * A model used as a layer of another model (Keras lets a model be called like a layer): a GAN's generator inside
 * the combined model, an encoder reused in a bigger graph. The inner model keeps its own layers, so its weights are
 * shared with every other use of it; they appear in the outer model as {@code <this>/<inner layer>/<weight>}, the
 * inner layer named by its model-local name ("dense_1"). Made by {@link Model#asLayer()}; one input, one output.
 */
public final class NestedModel extends CompositeLayer {
    private final Model inner;

    NestedModel(Model inner) {
        if (inner instanceof FunctionalModel f && (f.inputs().size() != 1 || f.outputs().size() != 1)) {
            throw new UnsupportedOperationException("Model.asLayer: a model used as a layer takes one input and gives "
                    + "one output; this one has " + f.inputs().size() + " input(s) and " + f.outputs().size()
                    + " output(s) (nesting such models is not implemented)");
        }
        this.inner = inner;
    }

    /** The wrapped model (its weights are this layer's). */
    public Model model() {
        return inner;
    }

    @Override
    public String typeName() {
        return "model";
    }

    @Override
    public long[] computeOutputShape(long[] inputShape) {
        return inner.outputShapeFor(inputShape);
    }

    @Override
    protected void createParams(long[] inputShape, SplittableRandom rng) {
        if (!inner.layers().isEmpty() && !inner.layers().get(0).isBuilt()) inner.dtype = dtype();
        inner.build(inputShape);
        List<Layer> layers = inner.layers();
        List<String> names = LayerNames.local(layers);
        for (int i = 0; i < layers.size(); i++) adopt(names.get(i), layers.get(i));
    }

    @Override
    protected Tensor call(Tensor x, boolean training) {
        return inner.forwardAll(List.of(x), training, new boolean[1]).get(0);
    }

    /** Frees the inner model's weights too (also when this layer was never built, so nothing was adopted). */
    @Override
    public void close() {
        super.close();
        for (Layer l : inner.layers()) l.close();
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("model", ModelArchitecture.describe(inner));
        return c;
    }
}
