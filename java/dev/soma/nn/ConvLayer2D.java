package dev.soma.nn;

import dev.soma.errors.ShapeException;
import dev.soma.tensor.Tensor;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * What Keras' Conv2D and Conv2DTranspose share: filters, a (height, width) kernel, strides (default 1), padding
 * "valid" (default) or "same", an activation, a bias, their initialisers and regularisers, and the config keys.
 *
 * @param <T> the concrete layer, so the fluent setters return it
 */
public abstract class ConvLayer2D<T extends ConvLayer2D<T>> extends Layer {
    protected final int filters;
    protected final int[] kernelSize;
    protected final String activationName;
    protected final UnaryOperator<Tensor> activation;
    protected int[] strides = {1, 1};
    protected String padding = "valid";
    protected boolean useBias = true;
    protected Initializer kernelInitializer = Initializer.glorotUniform();
    protected Initializer biasInitializer = Initializer.zeros();
    protected Regularizer kernelRegularizer;
    protected Regularizer biasRegularizer;
    protected Tensor kernel;
    protected Tensor bias;

    /** {@code kernelSize}: (height, width); {@code activation}: a Keras name or null for none. */
    protected ConvLayer2D(int filters, int[] kernelSize, String activation) {
        String layer = getClass().getSimpleName();
        if (filters <= 0) throw new ShapeException(layer + ": filters must be > 0, got " + filters);
        this.filters = filters;
        this.kernelSize = Pooling2D.positivePair(layer, "kernel size", kernelSize);
        this.activationName = activation == null ? "linear" : activation;
        this.activation = Activations.get(activation);
    }

    @SuppressWarnings("unchecked")
    protected final T self() {
        return (T) this;
    }

    public T strides(int s) {
        return strides(s, s);
    }

    public T strides(int sh, int sw) {
        this.strides = Pooling2D.positivePair(getClass().getSimpleName(), "strides", new int[] {sh, sw});
        return self();
    }

    /** "valid" (default) or "same". */
    public T padding(String p) {
        this.padding = Pooling2D.paddingName(getClass().getSimpleName(), p);
        return self();
    }

    public T useBias(boolean on) {
        this.useBias = on;
        return self();
    }

    public T kernelInitializer(Initializer init) {
        this.kernelInitializer = init;
        return self();
    }

    public T biasInitializer(Initializer init) {
        this.biasInitializer = init;
        return self();
    }

    public T kernelRegularizer(Regularizer r) {
        this.kernelRegularizer = r;
        return self();
    }

    public T biasRegularizer(Regularizer r) {
        this.biasRegularizer = r;
        return self();
    }

    public String activationName() {
        return activationName;
    }

    public Tensor kernel() {
        return kernel;
    }

    public Tensor bias() {
        return bias;
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("filters", filters);
        c.put("kernel_size", List.of(kernelSize[0], kernelSize[1]));
        c.put("strides", List.of(strides[0], strides[1]));
        c.put("padding", padding);
        c.put("activation", activationName);
        c.put("use_bias", useBias);
        Regularizer.putConfig(c, "kernel_regularizer", kernelRegularizer);
        Regularizer.putConfig(c, "bias_regularizer", biasRegularizer);
        return c;
    }

    /** Applies the shared keys of a config written by {@link #config()} (checkpoints). */
    static <L extends ConvLayer2D<L>> L configure(L layer, Map<String, Object> c) {
        int[] s = pairOf(c, "strides");
        return layer.strides(s[0], s[1]).padding((String) c.get("padding")).useBias(LayerRegistry.boolOf(c, "use_bias"))
                .kernelRegularizer(Regularizer.fromConfig(c.get("kernel_regularizer")))
                .biasRegularizer(Regularizer.fromConfig(c.get("bias_regularizer")));
    }

    /** A (height, width) pair from a layer config; shared with the pooling layers. */
    static int[] pairOf(Map<String, Object> c, String key) {
        long[] v = LayerRegistry.longsOf(c, key);
        if (v.length != 2 || v[0] != (int) v[0] || v[1] != (int) v[1]) {
            throw new IllegalArgumentException("layer config: '" + key + "' must be two ints, got " + Arrays.toString(v));
        }
        return new int[] {(int) v[0], (int) v[1]};
    }

    @Override
    public String toString() {
        return name() + " " + Arrays.toString(outputShape());
    }
}
