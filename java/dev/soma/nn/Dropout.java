package dev.soma.nn;

import dev.soma.backend.RandomKernels;
import dev.soma.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Inverted dropout, active only in training: zeroes each element with probability {@code rate} and scales
 * the rest by {@code 1 / (1 - rate)}. Masks come from the counter-based generator keyed by the layer's seed
 * with one stream per call, so a seeded run drops the same elements every time, on any thread count.
 */
public final class Dropout extends Layer {
    private final double rate;
    private long seed;
    private long calls;
    private boolean seeded;

    public Dropout(double rate) {
        if (!(rate >= 0 && rate < 1)) throw new IllegalArgumentException("Dropout: rate must be in [0, 1), got " + rate);
        this.rate = rate;
    }

    @Override
    public String typeName() {
        return "dropout";
    }

    @Override
    public long[] computeOutputShape(long[] in) {
        return in;
    }

    @Override
    protected void createParams(long[] in, SplittableRandom rng) {
        if (!seeded) seed = rng.nextLong();
    }

    /** Continues a checkpointed run: the same seed and call count give the same future masks. */
    Dropout restoreState(long seed, long calls) {
        this.seed = seed;
        this.calls = calls;
        this.seeded = true;
        return this;
    }

    @Override
    protected Tensor call(Tensor x, boolean training) {
        if (!training || rate == 0) return x;
        return x.mul(keepMask(x, x.shape(), rate, seed, ++calls));
    }

    /**
     * The inverted-dropout multiplier of shape {@code shape} (broadcastable to x): 0 with probability
     * {@code rate}, else {@code 1 / (1 - rate)}, drawn from the counter-based stream (seed, stream).
     */
    static Tensor keepMask(Tensor x, long[] shape, double rate, long seed, long stream) {
        Tensor u = Tensor.empty(x.dtype(), x.device(), shape);
        u.backend().random().fill(RandomKernels.Distribution.UNIFORM, u, seed, stream, 0, 1);
        return u.ge(Tensor.full(rate, x.dtype(), x.device())).mul(1 / (1 - rate));
    }

    /** Drops features, not steps: the input's mask passes through (Keras' supports_masking). */
    @Override
    public Tensor computeMask(Tensor x, Tensor mask) {
        return mask;
    }

    @Override
    public Map<String, Long> randomState() {
        return RandomStates.of("seed", seed, "calls", calls);
    }

    @Override
    public void restoreRandomState(Map<String, Long> state) {
        RandomStates.check(this, state, "seed", "calls");
        restoreState(state.get("seed"), state.get("calls"));
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("rate", rate);
        // Strings: a JSON number would lose the low bits of a 64-bit seed.
        c.put("seed", Long.toString(seed));
        c.put("calls", Long.toString(calls));
        return c;
    }
}
