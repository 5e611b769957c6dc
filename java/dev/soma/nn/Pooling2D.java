package dev.soma.nn;

import dev.soma.errors.ShapeException;
import dev.soma.ops.Pooling;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What Keras' 2-d pooling layers share: channels-last input {@code [batch, height, width, channels]}, a pool
 * size (2 by default), strides equal to the pool size unless set, padding "valid" or "same".
 *
 * @param <T> the concrete layer, so the fluent setters return it
 */
public abstract class Pooling2D<T extends Pooling2D<T>> extends Layer {
    protected final int[] poolSize;
    protected int[] strides;
    protected String padding = "valid";

    /** {@code poolSize}: (height, width). */
    protected Pooling2D(int[] poolSize) {
        this.poolSize = positivePair(getClass().getSimpleName(), "pool size", poolSize);
        this.strides = this.poolSize.clone();
    }

    public T strides(int s) {
        return strides(s, s);
    }

    @SuppressWarnings("unchecked")
    public T strides(int sh, int sw) {
        this.strides = positivePair(getClass().getSimpleName(), "strides", new int[] {sh, sw});
        return (T) this;
    }

    /** "valid" (default) or "same". */
    @SuppressWarnings("unchecked")
    public T padding(String p) {
        this.padding = paddingName(getClass().getSimpleName(), p);
        return (T) this;
    }

    static int[] positivePair(String layer, String what, int[] v) {
        if (v == null || v.length != 2 || v[0] <= 0 || v[1] <= 0) {
            throw new ShapeException(layer + ": " + what + " must be two positive values (height, width), got "
                    + Arrays.toString(v));
        }
        return v.clone();
    }

    static String paddingName(String layer, String p) {
        if (p == null || !(p.equalsIgnoreCase("valid") || p.equalsIgnoreCase("same"))) {
            throw new ShapeException(layer + ": padding must be \"valid\" or \"same\", got " + p);
        }
        return p.toLowerCase(Locale.ROOT);
    }

    @Override
    public long[] computeOutputShape(long[] in) {
        return Pooling.outputShape(name(), in, poolSize, strides, padding);
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("pool_size", List.of(poolSize[0], poolSize[1]));
        c.put("strides", List.of(strides[0], strides[1]));
        c.put("padding", padding);
        return c;
    }

    /** Sets strides and padding from a checkpoint's config (the pool size goes to the constructor). */
    static <L extends Pooling2D<L>> L configure(L layer, Map<String, Object> c) {
        int[] s = ConvLayer2D.pairOf(c, "strides");
        return layer.strides(s[0], s[1]).padding((String) c.get("padding"));
    }
}
