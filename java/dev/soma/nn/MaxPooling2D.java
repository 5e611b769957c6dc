package dev.soma.nn;

import dev.soma.errors.ShapeException;
import dev.soma.ops.Pooling;
import dev.soma.tensor.Tensor;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Max pooling over channels-last input {@code [batch, height, width, channels]}, as Keras' MaxPooling2D:
 * pool size 2 by default, strides equal to the pool size unless set, padding "valid" or "same".
 */
public final class MaxPooling2D extends Layer {
    private final int[] poolSize;
    private int[] strides;
    private String padding = "valid";

    /** A 2x2 pool. */
    public MaxPooling2D() {
        this(2);
    }

    public MaxPooling2D(int poolSize) {
        this(new int[] {poolSize, poolSize});
    }

    /** {@code poolSize}: (height, width). */
    public MaxPooling2D(int[] poolSize) {
        this.poolSize = positivePair("MaxPooling2D", "pool size", poolSize);
        this.strides = this.poolSize.clone();
    }

    public MaxPooling2D strides(int s) {
        return strides(s, s);
    }

    public MaxPooling2D strides(int sh, int sw) {
        this.strides = positivePair("MaxPooling2D", "strides", new int[] {sh, sw});
        return this;
    }

    /** "valid" (default) or "same". */
    public MaxPooling2D padding(String p) {
        this.padding = paddingName("MaxPooling2D", p);
        return this;
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
        return p.toLowerCase();
    }

    @Override
    public String typeName() {
        return "max_pooling2d";
    }

    @Override
    public long[] computeOutputShape(long[] in) {
        return Pooling.outputShape(name(), in, poolSize, strides, padding);
    }

    @Override
    protected Tensor call(Tensor x, boolean training) {
        return Pooling.maxPool2d(x, poolSize, strides, padding);
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("pool_size", List.of(poolSize[0], poolSize[1]));
        c.put("strides", List.of(strides[0], strides[1]));
        c.put("padding", padding);
        return c;
    }

    static MaxPooling2D fromConfig(Map<String, Object> c) {
        int[] s = Conv2D.pairOf(c, "strides");
        return new MaxPooling2D(Conv2D.pairOf(c, "pool_size")).strides(s[0], s[1]).padding((String) c.get("padding"));
    }
}
