package dev.soma.nn;

import dev.soma.errors.ShapeException;
import dev.soma.tensor.Tensor;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Keras' Masking: a timestep of {@code [batch, steps, ...]} whose every feature equals {@code maskValue} is padding.
 * The layer emits the mask {@code [batch, steps]} (1 where any feature differs) for the layers downstream
 * (recurrent layers then skip those steps) and, as Keras, outputs the input with padded steps zeroed.
 */
public final class Masking extends Layer {
    private final double maskValue;

    public Masking() {
        this(0.0);
    }

    public Masking(double maskValue) {
        if (Double.isNaN(maskValue)) throw new IllegalArgumentException("Masking: mask_value must not be NaN");
        this.maskValue = maskValue;
    }

    public double maskValue() {
        return maskValue;
    }

    @Override
    public String typeName() {
        return "masking";
    }

    @Override
    public long[] computeOutputShape(long[] in) {
        if (in.length < 2) {
            throw new ShapeException(name() + ": input must be [batch, steps, features...], got per-example shape "
                    + Arrays.toString(in));
        }
        return in;
    }

    @Override
    protected Tensor call(Tensor x, boolean training) {
        Tensor keep = stepMask(x);
        long[] shape = new long[x.ndim()];
        Arrays.fill(shape, 1);
        shape[0] = x.size(0);
        shape[1] = x.size(1);
        return x.mul(keep.reshape(shape));
    }

    /** 1 where any feature of the step differs from mask_value, else 0: {@code [batch, steps]}, x's dtype. */
    @Override
    public Tensor computeMask(Tensor x, Tensor mask) {
        return stepMask(x);
    }

    private Tensor stepMask(Tensor x) {
        if (!x.dtype().isFloating()) {
            throw new dev.soma.errors.DTypeException(name() + ": input " + x.describe() + " must be floating point");
        }
        Tensor differs = x.detach().ne(Tensor.full(maskValue, x.dtype(), x.device())).to(x.dtype());
        long features = dev.soma.ops.Shapes.numel(Arrays.copyOfRange(x.shape(), 2, x.ndim()));
        return differs.reshape(x.size(0), x.size(1), features).max(new int[] {2}, false);
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("mask_value", maskValue);
        return c;
    }
}
