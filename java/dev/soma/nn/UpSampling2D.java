package dev.soma.nn;

import dev.soma.ops.Resize;
import dev.soma.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Keras' UpSampling2D with nearest interpolation over channels-last input {@code [batch, height, width,
 * channels]}: every pixel repeated into a {@code size[0] x size[1]} block (default 2 x 2). No parameters.
 */
public final class UpSampling2D extends Layer {
    private final int[] size;

    /** A 2 x 2 upsampling. */
    public UpSampling2D() {
        this(new int[] {2, 2});
    }

    public UpSampling2D(int size) {
        this(new int[] {size, size});
    }

    /** {@code size}: (height, width) factors, both positive. */
    public UpSampling2D(int[] size) {
        this.size = Pooling2D.positivePair("UpSampling2D", "size", size);
    }

    @Override
    public String typeName() {
        return "up_sampling2d";
    }

    @Override
    public long[] computeOutputShape(long[] in) {
        return Resize.upsampledShape(name(), in, size);
    }

    @Override
    protected Tensor call(Tensor x, boolean training) {
        return Resize.upsampleNearest2d(name(), x, size);
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("size", List.of(size[0], size[1]));
        c.put("interpolation", "nearest");
        return c;
    }

    /** Rebuilds a layer from {@link #config()} (checkpoints); only nearest interpolation exists. */
    static UpSampling2D fromConfig(Map<String, Object> c) {
        Object interpolation = c.get("interpolation");
        if (interpolation != null && !"nearest".equals(interpolation)) {
            throw new IllegalArgumentException("layer config: UpSampling2D supports interpolation 'nearest' only, got '"
                    + interpolation + "'");
        }
        return new UpSampling2D(ConvLayer2D.pairOf(c, "size"));
    }
}
