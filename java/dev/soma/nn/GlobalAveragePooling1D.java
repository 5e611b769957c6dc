package dev.soma.nn;

import dev.soma.autograd.GradMode;
import dev.soma.errors.ShapeException;
import dev.soma.tensor.Tensor;

/**
 * Mean over the time axis: {@code [B, T, F] -> [B, F]}, as Keras' GlobalAveragePooling1D (channels last). With
 * an input mask {@code [B, T]} (non-zero = real step) it is the mean over the real steps only, as Keras; a
 * sequence without any real step gives zeros (Keras gives NaN). The mask ends here.
 */
public final class GlobalAveragePooling1D extends Layer {
    @Override
    public String typeName() {
        return "global_average_pooling1d";
    }

    @Override
    public long[] computeOutputShape(long[] in) {
        if (in.length != 2) {
            throw new ShapeException(name() + ": expected input [batch, steps, features], got [batch, " + join(in) + "]");
        }
        return new long[] {in[1]};
    }

    @Override
    protected Tensor call(Tensor x, boolean training) {
        return x.mean(new int[] {1}, false);
    }

    @Override
    protected Tensor call(Tensor x, Tensor mask, boolean training) {
        if (mask == null) return call(x, training);
        mask.checkOpen(name());
        if (mask.ndim() != 2 || mask.size(0) != x.size(0) || mask.size(1) != x.size(1)) {
            throw new ShapeException(name() + ": mask " + mask.describe() + " must be [" + x.size(0) + ", " + x.size(1)
                    + "] (batch, steps) for input " + x.describe());
        }
        Tensor weights;
        Tensor count;
        try (GradMode.Guard off = GradMode.disable(); Tensor zero = Tensor.zeros(mask.dtype(), mask.device());
             Tensor real = mask.ne(zero)) {
            Tensor real01 = real.to(x.dtype());
            weights = real01.unsqueeze(2);          // [B, T, 1]: 1 for a real step, 0 for padding
            try (Tensor steps = real01.sum(new int[] {1}, true)) {
                count = steps.clamp(1, Double.MAX_VALUE); // [B, 1]: no division by zero for an all-padding row
            }
        }
        return x.mul(weights).sum(new int[] {1}, false).div(count);
    }
}
