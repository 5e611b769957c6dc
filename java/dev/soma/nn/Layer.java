package dev.soma.nn;

import dev.soma.errors.DTypeException;
import dev.soma.errors.ShapeException;
import dev.soma.memory.FailureCleanup;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A layer: parameters plus a forward pass built from ops (autograd derives the backward). Shapes exclude
 * the batch dimension: a layer is built once from its input shape, then checks every input against it.
 * Layers own their parameters and free them in {@link #close()}.
 */
public abstract class Layer implements AutoCloseable {
    /** A per-example size of -1 when building (Keras' None): any number of steps is accepted at run time. */
    public static final long VARIABLE = -1;

    private static final Map<String, AtomicInteger> COUNTERS = new ConcurrentHashMap<>();

    private final String name;
    private final List<Param> params = new ArrayList<>();
    private long[] inputShape;
    private long[] outputShape;
    private DType dtype = DType.F32;

    protected Layer() {
        String type = typeName();
        this.name = type + "_" + COUNTERS.computeIfAbsent(type, k -> new AtomicInteger()).incrementAndGet();
    }

    /** Keras-style snake-case type, e.g. "dense", "conv2d". */
    public abstract String typeName();

    /** Output shape (without batch) for an input shape (without batch); validates the input shape. */
    public abstract long[] computeOutputShape(long[] inputShape);

    /** The forward pass on a batch. Called only after {@link #build}. */
    protected abstract Tensor call(Tensor x, boolean training);

    /** Creates the parameters for {@code inputShape}; the default has none. */
    protected void createParams(long[] inputShape, SplittableRandom rng) {}

    /**
     * Called when {@link #createParams} failed, after this layer's own new parameters were closed: a layer that built
     * sub-layers before the failure closes and forgets them here. The default has none.
     */
    protected void discardPartialBuild() {}

    /** Keras-like configuration (for summaries and checkpoints). */
    public Map<String, Object> config() {
        return new LinkedHashMap<>();
    }

    public final String name() {
        return name;
    }

    /**
     * Builds the layer for a per-example input shape (no batch axis), with float32 parameters initialised from
     * an unseeded generator (as Keras' {@code layer.build(shape)}); {@link #build(long[], DType, SplittableRandom)}
     * is the reproducible form.
     */
    public final void build(long... inputShape) {
        build(inputShape, DType.F32);
    }

    /** Builds the layer with parameters of {@code dtype} initialised from an unseeded generator. */
    public final void build(long[] inputShape, DType dtype) {
        build(inputShape, dtype, new SplittableRandom());
    }

    /** Builds the layer for a per-example input shape; idempotent for the same shape. {@code rng} seeds the weights. */
    public final void build(long[] inputShape, DType dtype, SplittableRandom rng) {
        if (inputShape == null) throw new IllegalArgumentException(name + ".build: the input shape is null");
        if (dtype == null || !dtype.isFloating()) {
            throw new DTypeException(name + ".build: parameters need a floating dtype (float32 or float64), got " + dtype);
        }
        if (rng == null) throw new IllegalArgumentException(name + ".build: the random generator is null (use build(shape))");
        if (this.inputShape != null) {
            if (!Arrays.equals(this.inputShape, inputShape)) {
                throw new ShapeException(name + ": already built for input shape " + Arrays.toString(this.inputShape)
                        + ", cannot rebuild for " + Arrays.toString(inputShape));
            }
            return;
        }
        long[] out = computeOutputShape(inputShape.clone());
        this.dtype = dtype;
        int before = params.size();
        try {
            createParams(inputShape.clone(), rng);
        } catch (RuntimeException | Error e) {
            // A weight that cannot be made (too large, say) leaves no others behind: the layer stays unbuilt and
            // weightless, so that nothing leaks and its next call builds it afresh.
            while (params.size() > before) params.remove(params.size() - 1).value().close();
            discardPartialBuild();
            throw e;
        }
        this.inputShape = inputShape.clone();
        this.outputShape = out;
    }

    public final boolean isBuilt() {
        return inputShape != null;
    }

    public final long[] inputShape() {
        return inputShape == null ? null : inputShape.clone();
    }

    public final long[] outputShape() {
        return outputShape == null ? null : outputShape.clone();
    }

    protected final DType dtype() {
        return dtype;
    }

    /**
     * How many tensors the layer produces: 1 for most layers; more for a recurrent layer with returnState
     * ({@code [output, h]}, an LSTM {@code [output, h, c]}), which {@link #applyAll} returns.
     */
    public int outputCount() {
        return 1;
    }

    /** Per-example shapes of every output for an input shape (one per {@link #outputCount()}). */
    public List<long[]> computeOutputShapes(long[] inputShape) {
        return List.of(computeOutputShape(inputShape));
    }

    /** Runs the layer on a batch {@code x} of shape [batch, ...inputShape]. */
    public final Tensor apply(Tensor x, boolean training) {
        return apply(x, null, training);
    }

    /**
     * Runs the layer with the mask of its input: {@code [batch, steps]}, 1 for a real timestep and 0 for padding
     * (as Keras' masks), or null. Layers that do not use masks ignore it. A layer with several outputs (see
     * {@link #outputCount()}) is run with {@link #applyAll}.
     */
    public final Tensor apply(Tensor x, Tensor mask, boolean training) {
        prepareInput(x);
        if (outputCount() != 1) {
            throw new IllegalStateException(name + ": returns " + outputCount() + " tensors (return_state), so apply "
                    + "cannot return one; use applyAll (or SymbolicTensor.applyAll in a functional model)");
        }
        return FailureCleanup.run(() -> call(x, mask, training)); // a failing call frees what it created
    }

    /** Every output of the layer for a batch (Keras' list of outputs): one tensor for most layers. */
    public final List<Tensor> applyAll(Tensor x, boolean training) {
        return applyAll(x, null, training);
    }

    /** Every output of the layer for a batch and its input mask (may be null); see {@link #outputCount()}. */
    public final List<Tensor> applyAll(Tensor x, Tensor mask, boolean training) {
        prepareInput(x);
        List<Tensor> out = FailureCleanup.run(() -> callAll(x, mask, training)); // a failing call frees what it created
        if (out.size() != outputCount()) {
            throw new IllegalStateException(name + ": produced " + out.size() + " outputs, declared " + outputCount());
        }
        return out;
    }

    /** The forward pass producing every output; the default is the single output of {@link #call(Tensor, Tensor, boolean)}. */
    protected List<Tensor> callAll(Tensor x, Tensor mask, boolean training) {
        return List.of(call(x, mask, training));
    }

    /**
     * What every entry point checks before a forward pass: {@code x} is open and has a batch axis; an unbuilt layer
     * is built for its per-example shape (parameters in x's dtype when floating, else float32: integer ids make
     * float parameters) on x's device; a built one must fit its shape.
     */
    protected final void prepareInput(Tensor x) {
        if (x == null) throw new IllegalArgumentException(name + ": the input is null");
        x.checkOpen(name);
        long[] s = x.shape();
        if (s.length == 0) throw new ShapeException(name + ": input " + x.describe() + " has no batch dimension");
        long[] perExample = Arrays.copyOfRange(s, 1, s.length);
        if (!isBuilt()) {
            build(perExample, x.dtype().isFloating() ? x.dtype() : DType.F32, new SplittableRandom());
            // Weights are drawn on the CPU; a layer first called on a GPU tensor keeps them there (as Keras builds on
            // its input's device), moved as Model.to moves them.
            if (!x.device().equals(Device.cpu())) {
                for (Param p : params()) if (!p.value().device().equals(x.device())) p.value().moveTo(x.device());
            }
        }
        if (!fitsBuiltShape(perExample)) {
            throw new ShapeException(name + ": expected input of shape [batch, " + join(inputShape) + "], got "
                    + x.describe());
        }
    }

    /** The forward pass with the input's mask (may be null); the default ignores the mask. */
    protected Tensor call(Tensor x, Tensor mask, boolean training) {
        return call(x, training);
    }

    /**
     * Keras' {@code compute_mask}: the mask of this layer's output for input {@code x} and input mask {@code mask}.
     * The default drops it (null): a layer that produces or passes on a mask overrides this.
     */
    public Tensor computeMask(Tensor x, Tensor mask) {
        return null;
    }

    /** Creates, initialises and registers a parameter. */
    protected final Tensor addParam(String paramName, long[] shape, Initializer init, Regularizer reg, boolean trainable,
                                    long fanIn, long fanOut, SplittableRandom rng) {
        return addParam(paramName, shape, init, reg, null, trainable, fanIn, fanOut, rng);
    }

    /** {@link #addParam} with a constraint projected after every optimizer step (null: none). */
    protected final Tensor addParam(String paramName, long[] shape, Initializer init, Regularizer reg, Constraint constraint,
                                    boolean trainable, long fanIn, long fanOut, SplittableRandom rng) {
        double[] values = ParamValues.draw(name + "/" + paramName, shape, init, fanIn, fanOut, rng);
        Tensor t;
        try (dev.soma.memory.Scope scope = dev.soma.memory.Scope.open()) {
            Tensor d = Tensor.of(values).reshape(shape);
            t = (dtype == DType.F64 ? d.copy() : d.to(dtype)).keep();
        }
        params.add(new Param(name + "/" + paramName, t, reg, constraint, trainable));
        return t;
    }

    /** Every parameter of this layer, in creation order. */
    public List<Param> params() {
        return Collections.unmodifiableList(params);
    }

    public long paramCount() {
        long n = 0;
        for (Param p : params) n += p.value().numel();
        return n;
    }

    /**
     * Keras' {@code get_weights()}: a copy of every weight, in {@link #params()} order, on the CPU. The copies
     * belong to the current {@link dev.soma.memory.Scope} (or to the caller when none is open).
     */
    public List<Tensor> getWeights() {
        return Weights.copiesOf(this);
    }

    /**
     * Keras' {@code set_weights(...)}: copies {@code values} into the weights, in {@link #params()} order. The count,
     * each shape and each dtype must match (checked before anything is copied); values may be on any device.
     */
    public void setWeights(List<Tensor> values) {
        Weights.set(this, values);
    }

    /** As {@link #setWeights(List)}. */
    public void setWeights(Tensor... values) {
        Weights.set(this, List.of(values));
    }

    /**
     * The state of this layer's random streams (dropout seeds and how many masks were drawn), so that a resumed
     * run draws the same masks as an unbroken one; empty for layers without randomness.
     */
    public Map<String, Long> randomState() {
        return Map.of();
    }

    /** Restores what {@link #randomState()} returned (keys it does not know are an error). */
    public void restoreRandomState(Map<String, Long> state) {
        if (!state.isEmpty()) {
            throw new IllegalArgumentException(name + ": has no random state, got " + state.keySet());
        }
    }

    /** Sum of the regularisers' penalties, or null when none applies. */
    public Tensor regularizationLoss() {
        Tensor total = null;
        for (Param p : params) {
            if (p.regularizer() == null || !p.trainable()) continue;
            Tensor pen = p.regularizer().penalty(p.value());
            if (pen != null) total = total == null ? pen : total.add(pen);
        }
        return total;
    }

    @Override
    public void close() {
        for (Param p : params) p.value().close();
    }

    /** A built size of -1 (Keras' None: a variable number of steps) accepts any size; others must be equal. */
    protected final boolean fitsBuiltShape(long[] perExample) {
        if (perExample.length != inputShape.length) return false;
        for (int i = 0; i < perExample.length; i++) {
            if (inputShape[i] != VARIABLE && perExample[i] != inputShape[i]) return false;
        }
        return true;
    }

    /** The shape as Keras prints it: sizes, with None for a variable size. */
    public static String join(long[] shape) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < shape.length; i++) b.append(i == 0 ? "" : ", ").append(shape[i] == VARIABLE ? "None" : shape[i]);
        return b.toString();
    }
}
