package dev.soma.nn;

import dev.soma.errors.ShapeException;
import dev.soma.ops.Recurrent;
import dev.soma.ops.Shapes;
import dev.soma.tensor.Tensor;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Keras' Bidirectional wrapper with merge_mode="concat": a forward layer and a copy that reads the sequence
 * backwards; outputs joined along the feature axis (with return_sequences the backward outputs are put back in
 * input order first). Masks reach both directions.
 */
public final class Bidirectional extends Layer {
    private final RecurrentLayer<?> forward;
    private final RecurrentLayer<?> backward;

    /** {@code backwardLayer}: a fresh layer of the same kind and units whose goBackwards is set here. */
    public Bidirectional(RecurrentLayer<?> forwardLayer, RecurrentLayer<?> backwardLayer) {
        if (forwardLayer.units() != backwardLayer.units()
                || forwardLayer.isReturnSequences() != backwardLayer.isReturnSequences()) {
            throw new IllegalArgumentException("Bidirectional: both layers need the same units and return_sequences");
        }
        if (forwardLayer.isReturnState() || backwardLayer.isReturnState()) {
            throw new UnsupportedOperationException("Bidirectional: wrapped layers with return_state are not supported "
                    + "yet; apply the two directions separately (goBackwards) with applyAll to get their states");
        }
        this.forward = forwardLayer;
        this.backward = backwardLayer;
        backward.goBackwards(!forwardLayer.isGoBackwards());
    }

    @Override
    public String typeName() {
        return "bidirectional";
    }

    @Override
    public long[] computeOutputShape(long[] in) {
        long[] f = forward.computeOutputShape(in);
        f[f.length - 1] *= 2;
        return f;
    }

    private final List<Param> params = new ArrayList<>();

    @Override
    protected void createParams(long[] in, SplittableRandom rng) {
        forward.build(in, dtype(), rng.split());
        backward.build(in, dtype(), rng.split());
        // Named "<this layer>/forward/kernel", "<this layer>/backward/kernel", ...: unique within the layer, as
        // checkpoints key weights by layer index and the name after the layer's.
        for (String dir : new String[] {"forward", "backward"}) {
            for (Param p : (dir.equals("forward") ? forward : backward).params()) {
                String shortName = p.name().substring(p.name().indexOf('/') + 1);
                params.add(new Param(name() + "/" + dir + "/" + shortName, p.value(), p.regularizer(), p.trainable()));
            }
        }
    }

    @Override
    public List<Param> params() {
        return java.util.Collections.unmodifiableList(params);
    }

    @Override
    public long paramCount() {
        return forward.paramCount() + backward.paramCount();
    }

    @Override
    protected Tensor call(Tensor x, boolean training) {
        return call(x, null, training);
    }

    @Override
    protected Tensor call(Tensor x, Tensor mask, boolean training) {
        Tensor f = forward.apply(x, mask, training);
        Tensor b = backward.apply(x, mask, training);
        if (forward.isReturnSequences()) b = Recurrent.reverseTime(b);
        return Shapes.concat(-1, f, b);
    }

    @Override
    public Tensor computeMask(Tensor x, Tensor mask) {
        return forward.isReturnSequences() ? mask : null;
    }

    @Override
    public void close() {
        forward.close();
        backward.close();
    }

    @Override
    public Map<String, Long> randomState() {
        Map<String, Long> m = new LinkedHashMap<>();
        RandomStates.nest(m, "forward", forward.randomState());
        RandomStates.nest(m, "backward", backward.randomState());
        return m;
    }

    @Override
    public void restoreRandomState(Map<String, Long> state) {
        RandomStates.checkPrefixes(this, state, java.util.Set.of("forward", "backward"));
        forward.restoreRandomState(RandomStates.under(state, "forward"));
        backward.restoreRandomState(RandomStates.under(state, "backward"));
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("merge_mode", "concat");
        c.put("layer_type", forward.typeName());
        c.put("layer", forward.config());
        // The backward layer may carry options of its own (Keras' backward_layer): saved, so that a load keeps them.
        c.put("backward_layer_type", backward.typeName());
        c.put("backward_layer", backward.config());
        return c;
    }

    /** Rebuilds a layer from {@link #config()}; a config without a backward layer (older checkpoints) copies the forward. */
    @SuppressWarnings("unchecked")
    static Bidirectional fromConfig(Map<String, Object> c) {
        Object type = c.get("layer_type"), inner = c.get("layer");
        if (!(type instanceof String) || !(inner instanceof Map)) {
            throw new IllegalArgumentException("bidirectional config: expected 'layer_type' and 'layer', got " + c);
        }
        Object backType = c.getOrDefault("backward_layer_type", type), back = c.getOrDefault("backward_layer", inner);
        if (!(backType instanceof String) || !(back instanceof Map)) {
            throw new IllegalArgumentException("bidirectional config: 'backward_layer_type' and 'backward_layer' are "
                    + "malformed: " + c);
        }
        return new Bidirectional(recurrent((String) type, (Map<String, Object>) inner),
                recurrent((String) backType, (Map<String, Object>) back));
    }

    private static RecurrentLayer<?> recurrent(String type, Map<String, Object> config) {
        if (!(LayerRegistry.create(type, config) instanceof RecurrentLayer<?> r)) {
            throw new IllegalArgumentException("bidirectional config: '" + type + "' is not a recurrent layer");
        }
        return r;
    }

    static void checkSequence(String name, long[] in) {
        if (in.length != 2) throw new ShapeException(name + ": expected [batch, steps, features] input");
    }
}
