package dev.soma.nn;

import dev.soma.ops.Pooling;
import dev.soma.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Average pooling over channels-last input {@code [batch, height, width, channels]}, as Keras'
 * AveragePooling2D: pool size 2 by default, strides equal to the pool size unless set, padding "valid" or
 * "same" (padded positions are left out of each average).
 */
public final class AveragePooling2D extends Layer {
    private final int[] poolSize;
    private int[] strides;
    private String padding = "valid";

    /** A 2x2 pool. */
    public AveragePooling2D() {
        this(2);
    }

    public AveragePooling2D(int poolSize) {
        this(new int[] {poolSize, poolSize});
    }

    /** {@code poolSize}: (height, width). */
    public AveragePooling2D(int[] poolSize) {
        this.poolSize = MaxPooling2D.positivePair("AveragePooling2D", "pool size", poolSize);
        this.strides = this.poolSize.clone();
    }

    public AveragePooling2D strides(int s) {
        return strides(s, s);
    }

    public AveragePooling2D strides(int sh, int sw) {
        this.strides = MaxPooling2D.positivePair("AveragePooling2D", "strides", new int[] {sh, sw});
        return this;
    }

    /** "valid" (default) or "same". */
    public AveragePooling2D padding(String p) {
        this.padding = MaxPooling2D.paddingName("AveragePooling2D", p);
        return this;
    }

    @Override
    public String typeName() {
        return "average_pooling2d";
    }

    @Override
    public long[] computeOutputShape(long[] in) {
        return Pooling.outputShape(name(), in, poolSize, strides, padding);
    }

    @Override
    protected Tensor call(Tensor x, boolean training) {
        return Pooling.avgPool2d(x, poolSize, strides, padding);
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("pool_size", List.of(poolSize[0], poolSize[1]));
        c.put("strides", List.of(strides[0], strides[1]));
        c.put("padding", padding);
        return c;
    }

    static AveragePooling2D fromConfig(Map<String, Object> c) {
        int[] s = Conv2D.pairOf(c, "strides");
        return new AveragePooling2D(Conv2D.pairOf(c, "pool_size")).strides(s[0], s[1]).padding((String) c.get("padding"));
    }
}
