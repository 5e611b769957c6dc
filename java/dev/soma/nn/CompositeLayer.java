package dev.soma.nn;

import dev.soma.tensor.Tensor;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A layer made of named sub-layers (a Transformer block, say). Its parameters are its own plus every
 * sub-layer's, renamed {@code <this>/<sub-layer key>/<weight>} so that names stay unique inside the layer
 * (checkpoints key weights by the part after the first '/'). Closing it closes the sub-layers.
 */
public abstract class CompositeLayer extends Layer {
    private final Map<String, Layer> children = new LinkedHashMap<>();
    private List<Param> all;

    /** Builds {@code child} for {@code inputShape} and registers it under {@code key}; returns it. */
    protected final <L extends Layer> L child(String key, L layer, long[] inputShape, SplittableRandom rng) {
        layer.build(inputShape, dtype(), rng.split());
        children.put(key, layer);
        all = null;
        return layer;
    }

    /** Registers an already built sub-layer under {@code key} (its parameters join this layer's). */
    protected final <L extends Layer> L adopt(String key, L layer) {
        children.put(key, layer);
        all = null;
        return layer;
    }

    @Override
    public List<Param> params() {
        if (all == null) {
            List<Param> out = new ArrayList<>(super.params());
            for (Map.Entry<String, Layer> e : children.entrySet()) {
                for (Param p : e.getValue().params()) {
                    String local = p.name().substring(p.name().indexOf('/') + 1);
                    out.add(new Param(name() + "/" + e.getKey() + "/" + local, p.value(), p.regularizer(), p.trainable()));
                }
            }
            all = out;
        }
        return Collections.unmodifiableList(all);
    }

    @Override
    public long paramCount() {
        long n = 0;
        for (Param p : params()) n += p.value().numel();
        return n;
    }

    @Override
    public Tensor regularizationLoss() {
        Tensor total = super.regularizationLoss();
        for (Layer l : children.values()) {
            Tensor r = l.regularizationLoss();
            if (r != null) total = total == null ? r : total.add(r);
        }
        return total;
    }

    @Override
    public Map<String, Long> randomState() {
        Map<String, Long> m = new LinkedHashMap<>(super.randomState());
        children.forEach((key, l) -> RandomStates.nest(m, key, l.randomState()));
        return m;
    }

    @Override
    public void restoreRandomState(Map<String, Long> state) {
        RandomStates.checkPrefixes(this, state, children.keySet());
        children.forEach((key, l) -> l.restoreRandomState(RandomStates.under(state, key)));
    }

    /** The sub-layers built before a failed build are closed and forgotten (the next build makes new ones). */
    @Override
    protected void discardPartialBuild() {
        for (Layer l : children.values()) l.close();
        children.clear();
        all = null;
    }

    @Override
    public void close() {
        super.close();
        for (Layer l : children.values()) l.close();
    }
}
