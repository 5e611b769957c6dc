package dev.soma.nn;

import dev.soma.backend.RecurrentKernels.Cell;
import dev.soma.errors.ShapeException;
import dev.soma.ops.Recurrent;
import dev.soma.ops.Shapes;
import dev.soma.tensor.Tensor;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * What SimpleRNN, LSTM and GRU share (Keras semantics): input {@code [batch, steps, features]}; output the last
 * step's {@code [batch, units]} or, with returnSequences, every step's {@code [batch, steps, units]}; goBackwards
 * reads the sequence last step first (and returns the reversed sequence); {@link #callWithState} takes initial
 * states and returns the final ones too (Keras' return_state). An input mask (from Embedding(mask_zero)) makes
 * padded steps keep the previous state and output. {@code dropout} drops input features (one mask per sequence,
 * shared by every step, as Keras). {@code recurrentDropout} drops units of h_{t-1} where it multiplies the
 * recurrent kernel: one mask {@code [batch, units]} per sequence, the same at every step and shared by all gates
 * (as Keras 3, unlike Keras 2's per-gate masks), inverted scaling 1/(1-rate), in training only. A GRU's
 * interpolation {@code z * h_{t-1}} reads the undropped state (Gal and Ghahramani's form).
 *
 * <p>The whole sequence runs as one fused op ({@link Recurrent#run}); weights in Keras' layouts. The setters return
 * the concrete layer ({@code T}), so {@code LSTM l = new LSTM(5).returnSequences(true)} compiles.
 */
public abstract class RecurrentLayer<T extends RecurrentLayer<T>> extends Layer {
    protected final int units;
    protected String activation = "tanh";
    protected String recurrentActivation = "sigmoid";
    protected boolean useBias = true;
    protected boolean returnSequences;
    protected boolean returnState;
    protected boolean goBackwards;
    protected double dropout;
    protected double recurrentDropout;
    private long recurrentDropoutCalls;
    private long dropoutSeed;
    private long dropoutCalls;
    protected Initializer kernelInitializer = Initializer.glorotUniform();
    protected Initializer recurrentInitializer = Initializer.orthogonal();
    protected Tensor kernel;
    protected Tensor recurrentKernel;
    protected Tensor bias;

    protected RecurrentLayer(int units) {
        if (units <= 0) throw new IllegalArgumentException(getClass().getSimpleName() + ": units must be > 0, got " + units);
        this.units = units;
    }

    protected abstract Cell cell();

    /** This layer as its concrete type, for the fluent setters. */
    @SuppressWarnings("unchecked")
    protected final T self() {
        return (T) this;
    }

    public T activation(String a) {
        Recurrent.activationCode(a);
        this.activation = a;
        return self();
    }

    public T recurrentActivation(String a) {
        Recurrent.activationCode(a);
        this.recurrentActivation = a;
        return self();
    }

    public T useBias(boolean on) {
        this.useBias = on;
        return self();
    }

    public T returnSequences(boolean on) {
        this.returnSequences = on;
        return self();
    }

    /**
     * Keras' return_state: {@link #applyAll} (and {@code SymbolicTensor.applyAll} in a functional model) returns
     * {@code [output, h]}, an LSTM {@code [output, h, c]}, each state {@code [batch, units]}.
     */
    public T returnState(boolean on) {
        this.returnState = on;
        return self();
    }

    public T goBackwards(boolean on) {
        this.goBackwards = on;
        return self();
    }

    public T dropout(double rate) {
        if (!(rate >= 0 && rate < 1)) throw new IllegalArgumentException(name() + ": dropout must be in [0, 1), got " + rate);
        this.dropout = rate;
        return self();
    }

    public T recurrentDropout(double rate) {
        if (!(rate >= 0 && rate < 1)) {
            throw new IllegalArgumentException(name() + ": recurrent_dropout must be in [0, 1), got " + rate);
        }
        this.recurrentDropout = rate;
        return self();
    }

    public int units() {
        return units;
    }

    public boolean isReturnSequences() {
        return returnSequences;
    }

    public boolean isReturnState() {
        return returnState;
    }

    public boolean isGoBackwards() {
        return goBackwards;
    }

    @Override
    public long[] computeOutputShape(long[] in) {
        if (in.length != 2) {
            throw new ShapeException(name() + ": input must be [batch, steps, features], got per-example shape "
                    + java.util.Arrays.toString(in));
        }
        return returnSequences ? new long[] {in[0], units} : new long[] {units};
    }

    /** 1, or with returnState the output and each final state: 2 (h), an LSTM 3 (h, c). */
    @Override
    public int outputCount() {
        return returnState ? 1 + stateCount() : 1;
    }

    private int stateCount() {
        return cell() == Cell.LSTM ? 2 : 1;
    }

    @Override
    public List<long[]> computeOutputShapes(long[] in) {
        List<long[]> shapes = new ArrayList<>();
        shapes.add(computeOutputShape(in));
        if (returnState) for (int i = 0; i < stateCount(); i++) shapes.add(new long[] {units});
        return shapes;
    }

    @Override
    protected void createParams(long[] in, SplittableRandom rng) {
        long features = in[1];
        long gh = (long) cell().gates * units;
        kernel = addParam("kernel", new long[] {features, gh}, kernelInitializer, null, true, features, gh, rng);
        recurrentKernel = addParam("recurrent_kernel", new long[] {units, gh}, recurrentInitializer, null, true, units, gh, rng);
        if (useBias) bias = addParam("bias", biasShape(), biasInitializer(), null, true, features, gh, rng);
        dropoutSeed = rng.nextLong();
    }

    protected long[] biasShape() {
        return new long[] {(long) cell().gates * units};
    }

    protected Initializer biasInitializer() {
        return Initializer.zeros();
    }

    @Override
    protected Tensor call(Tensor x, boolean training) {
        return call(x, null, training);
    }

    @Override
    protected Tensor call(Tensor x, Tensor mask, boolean training) {
        return callWithState(x, mask, null, training)[0];
    }

    @Override
    protected List<Tensor> callAll(Tensor x, Tensor mask, boolean training) {
        Tensor[] all = callWithState(x, mask, null, training);
        return returnState ? List.of(all) : List.of(all[0]);
    }

    @Override
    public Tensor computeMask(Tensor x, Tensor mask) {
        return returnSequences ? mask : null;
    }

    /**
     * Runs the layer from {@code initialState} ({@code [h]}, LSTM {@code [h, c]}, each {@code [batch, units]}; null
     * for zeros) and returns {@code {output, h_final}}; an LSTM with returnState also {@code c_final} as a third.
     * Builds an unbuilt layer for x's shape, as {@link #apply} does; a built one takes any number of steps (a long
     * sequence may be fed in chunks, each continuing from the last one's states) with its feature count.
     */
    public Tensor[] callWithState(Tensor x, Tensor mask, Tensor[] initialState, boolean training) {
        if (!isBuilt() || x == null || x.isClosed() || x.ndim() != 3) {
            prepareInput(x);
        } else if (x.size(2) != inputShape()[1]) {
            throw new ShapeException(name() + ": expected input of shape [batch, steps, " + inputShape()[1] + "], got "
                    + x.describe());
        }
        boolean lstm = cell() == Cell.LSTM;
        Tensor h0 = null;
        Tensor c0 = null;
        if (initialState != null) {
            int want = lstm ? 2 : 1;
            if (initialState.length != want) {
                throw new ShapeException(name() + ": " + initialState.length + " initial states given, expected " + want);
            }
            h0 = initialState[0];
            if (lstm) c0 = initialState[1];
        }
        if (mask != null && mask.dtype() != x.dtype()) mask = mask.to(x.dtype());
        Tensor in = training && dropout > 0 ? dropInputs(x) : x;
        // The final cell state costs an extra output row, so an LSTM computes it only when asked to return it.
        boolean finalCell = lstm && returnState;
        Tensor drop = training && recurrentDropout > 0 ? recurrentKeepMask(x, ++recurrentDropoutCalls) : null;
        Tensor out = Recurrent.run(cell(), activation, recurrentActivation, goBackwards, finalCell, in, kernel,
                recurrentKernel, bias, h0, c0, mask, drop);
        long t = x.size(1);
        Tensor seq = finalCell ? Shapes.slice(out, 1, 0, t, 1) : out;
        Tensor last = Shapes.select(out, 1, t - 1);
        Tensor output = returnSequences ? seq : last;
        if (!finalCell) return new Tensor[] {output, last};
        return new Tensor[] {output, last, Shapes.select(out, 1, t)};
    }

    /** Input dropout with one mask per sequence and feature, shared by every step (Keras' behaviour). */
    private Tensor dropInputs(Tensor x) {
        long[] s = x.shape();
        // One mask per sequence, shared by every time step (Keras' input dropout of recurrent layers).
        return x.mul(Dropout.keepMask(x, new long[] {s[0], 1, s[2]}, dropout, dropoutSeed, ++dropoutCalls));
    }

    /**
     * The recurrent dropout multiplier {@code [batch, units]} of training call number {@code call}: 0 with
     * probability recurrent_dropout, else 1/(1-rate); its own stream, apart from the input dropout's.
     */
    Tensor recurrentKeepMask(Tensor x, long call) {
        long seed = Long.rotateLeft(dropoutSeed, 32) ^ 0x9E3779B97F4A7C15L;
        return Dropout.keepMask(x, new long[] {x.size(0), units}, recurrentDropout, seed, call);
    }

    @Override
    public Map<String, Long> randomState() {
        Map<String, Long> m = RandomStates.of("seed", dropoutSeed, "calls", dropoutCalls);
        m.put("recurrent_calls", recurrentDropoutCalls);
        return m;
    }

    @Override
    public void restoreRandomState(Map<String, Long> state) {
        RandomStates.check(this, state, "seed", "calls", "recurrent_calls");
        dropoutSeed = state.get("seed");
        dropoutCalls = state.get("calls");
        recurrentDropoutCalls = state.get("recurrent_calls");
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("units", units);
        c.put("activation", activation);
        c.put("recurrent_activation", recurrentActivation);
        c.put("use_bias", useBias);
        c.put("return_sequences", returnSequences);
        c.put("return_state", returnState);
        c.put("go_backwards", goBackwards);
        c.put("dropout", dropout);
        c.put("recurrent_dropout", recurrentDropout);
        return c;
    }

    /** Applies a config written by {@link #config()} (LayerRegistry factories use it). */
    T configure(Map<String, Object> c) {
        activation((String) c.get("activation"));
        recurrentActivation((String) c.get("recurrent_activation"));
        useBias(LayerRegistry.boolOf(c, "use_bias"));
        returnSequences(LayerRegistry.boolOf(c, "return_sequences"));
        returnState(LayerRegistry.boolOf(c, "return_state"));
        goBackwards(LayerRegistry.boolOf(c, "go_backwards"));
        dropout(LayerRegistry.numOf(c, "dropout"));
        // Absent in checkpoints written before recurrent dropout existed.
        recurrentDropout(c.containsKey("recurrent_dropout") ? LayerRegistry.numOf(c, "recurrent_dropout") : 0);
        return self();
    }
}
