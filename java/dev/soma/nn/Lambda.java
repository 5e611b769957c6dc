package dev.soma.nn;

import dev.soma.autograd.GradMode;
import dev.soma.errors.ShapeException;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

import java.util.Arrays;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * Any Java function of the batch as a layer, as Keras' Lambda: {@code new Lambda(x -> x.mul(2))}. The function
 * gets {@code [batch, ...]} and must keep the batch size; it is built from ops, so autograd derives its gradient.
 * The output shape is found by running the function once on a zero example, or given (needed when the input has
 * a variable size). A Lambda holds code, not data, so a model that contains one cannot be saved: {@link #config()}
 * says so; {@link Slice} covers the usual slicing and is saved.
 */
public final class Lambda extends Layer {
    private final UnaryOperator<Tensor> function;
    private final UnaryOperator<long[]> outputShapeFunction;

    /** A layer computing {@code function(x)}; its output shape is found by running it on one zero example. */
    public Lambda(UnaryOperator<Tensor> function) {
        this(function, null);
    }

    /** A layer computing {@code function(x)}, whose per-example output shape is {@code outputShape(inputShape)}. */
    public Lambda(UnaryOperator<Tensor> function, UnaryOperator<long[]> outputShape) {
        if (function == null) throw new IllegalArgumentException("Lambda: the function is null");
        this.function = function;
        this.outputShapeFunction = outputShape;
    }

    @Override
    public String typeName() {
        return "lambda";
    }

    @Override
    public long[] computeOutputShape(long[] in) {
        if (outputShapeFunction != null) {
            long[] out = outputShapeFunction.apply(in.clone());
            if (out == null) throw new ShapeException(name() + ": the output shape function returned null for " + Arrays.toString(in));
            return out.clone();
        }
        for (long s : in) {
            if (s == VARIABLE) {
                throw new ShapeException(name() + ": the input shape " + Arrays.toString(in) + " has a variable size, so "
                        + "the output shape cannot be found by a trial run; give it: new Lambda(fn, inShape -> outShape)");
            }
        }
        long[] full = new long[in.length + 1];
        full[0] = 1;
        System.arraycopy(in, 0, full, 1, in.length);
        try (Scope s = Scope.open(); GradMode.Guard g = GradMode.disable()) {
            Tensor probe = Tensor.zeros(DType.F32, dev.soma.tensor.Device.cpu(), full);
            Tensor out = run(probe);
            return Arrays.copyOfRange(out.shape(), 1, out.ndim());
        }
    }

    @Override
    protected Tensor call(Tensor x, boolean training) {
        Tensor y = run(x);
        long[] per = Arrays.copyOfRange(y.shape(), 1, y.ndim());
        long[] want = outputShape();
        boolean fits = per.length == want.length;
        for (int i = 0; fits && i < per.length; i++) fits = want[i] == VARIABLE || want[i] == per[i];
        if (!fits) {
            throw new ShapeException(name() + ": the function returned " + y.describe() + " for input " + x.describe()
                    + ", but its output shape was found or given as [batch, " + join(want) + "]");
        }
        return y;
    }

    /** The function on {@code x}, checked to return a tensor with x's batch size. */
    private Tensor run(Tensor x) {
        Tensor y = function.apply(x);
        if (y == null) throw new IllegalStateException(name() + ": the function returned null for input " + x.describe());
        if (y.ndim() == 0 || y.size(0) != x.size(0)) {
            throw new ShapeException(name() + ": the function must keep the batch axis; it turned " + x.describe()
                    + " into " + y.describe());
        }
        return y;
    }

    /** A Lambda cannot be saved: its function is Java code. */
    @Override
    public Map<String, Object> config() {
        throw new UnsupportedOperationException(name() + ": a Lambda layer holds a Java function, which cannot be "
                + "saved in a checkpoint; use a saved layer instead (Slice for slicing, Activation, Reshape...) or "
                + "write a Layer subclass and register it with LayerRegistry.register");
    }
}
