package dev.soma.nn;

import dev.soma.errors.ShapeException;
import dev.soma.tensor.Tensor;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Keras' TimeDistributed: applies one inner layer to every timestep of {@code [batch, steps, ...]} by folding the
 * steps into the batch ({@code [batch * steps, ...]} through the inner layer, then back). The weights are the inner
 * layer's (one set shared by all steps); the input mask passes through unchanged (the inner layer gets none).
 */
public final class TimeDistributed extends Layer {
    private final Layer inner;

    public TimeDistributed(Layer inner) {
        if (inner == null) throw new IllegalArgumentException("TimeDistributed: the inner layer is null");
        this.inner = inner;
    }

    public Layer inner() {
        return inner;
    }

    @Override
    public String typeName() {
        return "time_distributed";
    }

    @Override
    public long[] computeOutputShape(long[] in) {
        if (in.length < 2) {
            throw new ShapeException(name() + ": input must be [batch, steps, ...] (rank 3 or more), got per-example "
                    + "shape " + Arrays.toString(in) + " (full rank " + (in.length + 1) + ")");
        }
        long[] step = inner.computeOutputShape(Arrays.copyOfRange(in, 1, in.length));
        long[] out = new long[step.length + 1];
        out[0] = in[0];
        System.arraycopy(step, 0, out, 1, step.length);
        return out;
    }

    @Override
    protected void createParams(long[] in, SplittableRandom rng) {
        inner.build(Arrays.copyOfRange(in, 1, in.length), dtype(), rng.split());
    }

    @Override
    public List<Param> params() {
        return inner.params();
    }

    @Override
    public long paramCount() {
        return inner.paramCount();
    }

    @Override
    public Tensor regularizationLoss() {
        return inner.regularizationLoss();
    }

    @Override
    protected Tensor call(Tensor x, boolean training) {
        long[] s = x.shape();
        long[] folded = new long[s.length - 1];
        folded[0] = s[0] * s[1];
        System.arraycopy(s, 2, folded, 1, s.length - 2);
        Tensor y;
        // DP-SGD's ghost tape must know that each example now spans s[1] rows (to group its per-example norms).
        dev.soma.privacy.GhostTape tape = training ? dev.soma.privacy.GhostTape.active() : null;
        try (dev.soma.privacy.GhostTape.Fold f = tape == null ? null : tape.fold(s[1])) {
            y = inner.apply(x.reshape(folded), null, training);
        }
        long[] ys = y.shape();
        long[] out = new long[ys.length + 1];
        out[0] = s[0];
        out[1] = s[1];
        System.arraycopy(ys, 1, out, 2, ys.length - 1);
        return y.reshape(out);
    }

    @Override
    public Tensor computeMask(Tensor x, Tensor mask) {
        return mask;
    }

    @Override
    public void close() {
        inner.close();
    }

    @Override
    public Map<String, Long> randomState() {
        return inner.randomState();
    }

    @Override
    public void restoreRandomState(Map<String, Long> state) {
        inner.restoreRandomState(state);
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("layer_type", inner.typeName());
        c.put("layer", inner.config());
        return c;
    }

    @SuppressWarnings("unchecked")
    static TimeDistributed fromConfig(Map<String, Object> c) {
        Object inner = c.get("layer");
        Object type = c.get("layer_type");
        if (!(inner instanceof Map<?, ?>) || !(type instanceof String)) {
            throw new IllegalArgumentException("layer config: time_distributed needs 'layer_type' and 'layer': " + c);
        }
        return new TimeDistributed(LayerRegistry.create((String) type, (Map<String, Object>) inner));
    }
}
