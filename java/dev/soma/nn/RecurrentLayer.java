package dev.soma.nn;

import dev.soma.backend.RecurrentKernels.Cell;
import dev.soma.errors.ShapeException;
import dev.soma.ops.Recurrent;
import dev.soma.ops.Shapes;
import dev.soma.tensor.Tensor;

import java.util.LinkedHashMap;
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
 * <p>The whole sequence runs as one fused op ({@link Recurrent#run}); weights in Keras' layouts.
 */
public abstract class RecurrentLayer extends Layer {
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

    public RecurrentLayer activation(String a) {
        Recurrent.activationCode(a);
        this.activation = a;
        return this;
    }

    public RecurrentLayer recurrentActivation(String a) {
        Recurrent.activationCode(a);
        this.recurrentActivation = a;
        return this;
    }

    public RecurrentLayer useBias(boolean on) {
        this.useBias = on;
        return this;
    }

    public RecurrentLayer returnSequences(boolean on) {
        this.returnSequences = on;
        return this;
    }

    /** Keras' return_state: use {@link #callWithState} to receive the final states. */
    public RecurrentLayer returnState(boolean on) {
        this.returnState = on;
        return this;
    }

    public RecurrentLayer goBackwards(boolean on) {
        this.goBackwards = on;
        return this;
    }

    public RecurrentLayer dropout(double rate) {
        if (!(rate >= 0 && rate < 1)) throw new IllegalArgumentException(name() + ": dropout must be in [0, 1), got " + rate);
        this.dropout = rate;
        return this;
    }

    public RecurrentLayer recurrentDropout(double rate) {
        if (!(rate >= 0 && rate < 1)) {
            throw new IllegalArgumentException(name() + ": recurrent_dropout must be in [0, 1), got " + rate);
        }
        this.recurrentDropout = rate;
        return this;
    }

    public int units() {
        return units;
    }

    public boolean isReturnSequences() {
        return returnSequences;
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
    public Tensor computeMask(Tensor x, Tensor mask) {
        return returnSequences ? mask : null;
    }

    /**
     * Runs the layer from {@code initialState} ({@code [h]}, LSTM {@code [h, c]}, each {@code [batch, units]}; null
     * for zeros) and returns {@code {output, h_final}}; an LSTM with returnState also {@code c_final} as a third.
     */
    public Tensor[] callWithState(Tensor x, Tensor mask, Tensor[] initialState, boolean training) {
        x.checkOpen(name());
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
    RecurrentLayer configure(Map<String, Object> c) {
        activation((String) c.get("activation"));
        recurrentActivation((String) c.get("recurrent_activation"));
        useBias(LayerRegistry.boolOf(c, "use_bias"));
        returnSequences(LayerRegistry.boolOf(c, "return_sequences"));
        returnState(LayerRegistry.boolOf(c, "return_state"));
        goBackwards(LayerRegistry.boolOf(c, "go_backwards"));
        dropout(LayerRegistry.numOf(c, "dropout"));
        // Absent in checkpoints written before recurrent dropout existed.
        recurrentDropout(c.containsKey("recurrent_dropout") ? LayerRegistry.numOf(c, "recurrent_dropout") : 0);
        return this;
    }
}
