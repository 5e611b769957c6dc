package dev.soma.nn;

import dev.soma.backend.ElementwiseKernels.BiasActivation;
import dev.soma.errors.ShapeException;
import dev.soma.tensor.Tensor;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.UnaryOperator;

/**
 * A fully connected layer that obeys Dale's principle, as the DANN layer of Cornford et al., "Learning to live
 * with Dale's principle" (ICLR 2021). Its {@code units} outputs are excitatory; a smaller population of
 * {@code n_i} feed-forward inhibitory interneurons is driven by the same (excitatory, non-negative) inputs and
 * subtracts from the outputs:
 * <pre>
 *   z_E = x · W_EE            [d, units]   excitatory input -> excitatory output
 *   z_I = x · W_IE            [d, n_i]     excitatory input -> inhibitory unit
 *   z   = z_E - z_I · W_EI + b [n_i, units] inhibitory unit  -> excitatory output   (subtractive)
 *   z   = g ⊙ (z_E - z_I · W_EI) / (γ + ε) + b,  γ = (e^α ⊙ z_I) · W_EI              (divisive, optional)
 * </pre>
 * Every connection weight ({@code W_EE, W_IE, W_EI}) carries a {@link Constraint#nonNeg()} projection applied after
 * every optimizer step, so an excitatory unit never inhibits and an inhibitory one never excites. The gain {@code g},
 * {@code α} and the bias are not connections and stay unconstrained.
 *
 * <p>Initialisation (see docs/dale.md for the derivation): {@code W_EE ~ Exponential(λ)} with {@code λ = sqrt(d/2)},
 * so {@code Var(z) = 2 E[x²]} as He initialisation gives an ordinary Dense layer; every column of {@code W_IE} is the
 * mean over outputs of {@code W_EE}'s row, and {@code W_EI = 1/n_i}: then {@code z_I · W_EI} equals the mean
 * excitatory drive, and {@code z} is exactly centred over the outputs for every input ({@code E[z] = 0}). For the
 * divisive form {@code α = ln sqrt(π/d)}, which makes {@code γ} the standard deviation of the numerator for
 * rectified-Gaussian inputs, and {@code g = 1}.
 *
 * <p>The excitatory share {@code s} sets the number of interneurons: {@code n_i = max(1, round((1 - s)·units))};
 * the default 0.9 gives the paper's 10 % (cortex is nearer 0.8).
 */
public final class DaleDense extends Layer implements FoldableActivation {
    /** Keeps the divisive form finite for an all-zero input row (γ = 0 there). */
    public static final double DIVISIVE_EPSILON = 1e-5;

    private final int units;
    private final String activationName;
    private final UnaryOperator<Tensor> activation;
    private double excitatoryShare = 0.9;
    private boolean divisive;
    private boolean useBias = true;
    private Tensor wEE;
    private Tensor wIE;
    private Tensor wEI;
    private Tensor alpha;
    private Tensor gain;
    private Tensor bias;

    public DaleDense(int units) {
        this(units, null);
    }

    public DaleDense(int units, String activation) {
        if (units <= 0) throw new IllegalArgumentException("DaleDense: units must be > 0, got " + units);
        this.units = units;
        this.activationName = activation == null ? "linear" : activation;
        this.activation = Activations.get(activation);
    }

    /** The share of the layer's output units that are excitatory, in (0, 1); sets the interneuron count. */
    public DaleDense excitatoryShare(double share) {
        if (!(share > 0 && share < 1)) {
            throw new IllegalArgumentException("DaleDense: excitatory share must be in (0, 1), got " + share);
        }
        requireUnbuilt("excitatoryShare");
        this.excitatoryShare = share;
        return this;
    }

    /** Adds the paper's divisive inhibition (gain g, interneuron weights α) on top of the subtractive one. */
    public DaleDense divisive(boolean on) {
        requireUnbuilt("divisive");
        this.divisive = on;
        return this;
    }

    public DaleDense useBias(boolean on) {
        requireUnbuilt("useBias");
        this.useBias = on;
        return this;
    }

    private void requireUnbuilt(String what) {
        if (isBuilt()) throw new IllegalStateException(name() + ": " + what + " must be set before the layer is built");
    }

    public int units() {
        return units;
    }

    public double excitatoryShare() {
        return excitatoryShare;
    }

    public boolean isDivisive() {
        return divisive;
    }

    /** The number of inhibitory interneurons, {@code max(1, round((1 - share) · units))}. */
    public int inhibitoryUnits() {
        return Math.max(1, (int) Math.round((1 - excitatoryShare) * units));
    }

    @Override
    public String typeName() {
        return "dale_dense";
    }

    @Override
    public long[] computeOutputShape(long[] in) {
        if (in.length == 0) throw new ShapeException(name() + ": input needs at least one feature axis, got []");
        if (in[in.length - 1] <= 0) {
            throw new ShapeException(name() + ": the last input axis (features) must be known and > 0, got "
                    + Arrays.toString(in));
        }
        long[] out = in.clone();
        out[out.length - 1] = units;
        return out;
    }

    @Override
    protected void createParams(long[] in, SplittableRandom rng) {
        int ni = inhibitoryUnits();
        long features = in[in.length - 1];
        // The weights are drawn together in Java arrays (W_IE depends on W_EE's draw): each must fit one.
        if (features > ParamValues.MAX_ARRAY / Math.max(units, ni)) {
            throw new ShapeException(name() + ": " + features + " features x " + units + " units is too many weights "
                    + "for one layer (at most " + ParamValues.MAX_ARRAY + " per weight)");
        }
        int d = (int) features;
        double lambda = Math.sqrt(d / 2.0);
        double[] ee = new double[d * units];
        for (int i = 0; i < ee.length; i++) ee[i] = -Math.log(1 - rng.nextDouble()) / lambda;
        double[] ie = new double[d * ni];
        for (int j = 0; j < d; j++) {
            double mean = 0;
            for (int k = 0; k < units; k++) mean += ee[j * units + k];
            mean /= units;
            for (int i = 0; i < ni; i++) ie[j * ni + i] = mean;
        }
        Constraint nonNeg = Constraint.nonNeg();
        wEE = addParam("w_ee", new long[] {d, units}, values(ee), null, nonNeg, true, d, units, rng);
        wIE = addParam("w_ie", new long[] {d, ni}, values(ie), null, nonNeg, true, d, ni, rng);
        wEI = addParam("w_ei", new long[] {ni, units}, Initializer.constant(1.0 / ni), null, nonNeg, true, ni, units, rng);
        if (divisive) {
            alpha = addParam("alpha", new long[] {ni}, Initializer.constant(Math.log(Math.sqrt(Math.PI / d))), null, true, d, ni, rng);
            gain = addParam("gain", new long[] {units}, Initializer.ones(), null, true, d, units, rng);
        }
        if (useBias) bias = addParam("bias", new long[] {units}, Initializer.zeros(), null, true, d, units, rng);
    }

    /** An initialiser that copies values computed together (W_IE depends on W_EE's draw). */
    private static Initializer values(double[] v) {
        return (out, fi, fo, rng) -> System.arraycopy(v, 0, out, 0, out.length);
    }

    @Override
    protected Tensor call(Tensor x, boolean training) {
        BiasActivation fused = Activations.fused(activationName);
        if (bias != null && fused != null) {   // bias and activation as one fused op (as Dense)
            return dev.soma.ops.BiasActivation.apply(withoutBias(x), bias, fused, Activations.LEAKY_RELU_ALPHA);
        }
        return activation.apply(callWithoutActivation(x, training));
    }

    @Override
    public Tensor callWithoutActivation(Tensor x, boolean training) {
        Tensor z = withoutBias(x);
        return bias == null ? z : z.add(bias);
    }

    /** The excitatory drive minus the (optionally divisive) inhibition, before the bias. */
    private Tensor withoutBias(Tensor x) {
        Tensor zI = x.matmul(wIE);
        Tensor z = x.matmul(wEE).sub(zI.matmul(wEI));
        if (divisive) {
            Tensor gamma = zI.mul(alpha.exp()).matmul(wEI);
            z = z.div(gamma.add(DIVISIVE_EPSILON)).mul(gain);
        }
        return z;
    }

    @Override
    public String activationName() {
        return activationName;
    }

    /** Excitatory input to excitatory output, [features, units], >= 0. */
    public Tensor wEE() {
        return wEE;
    }

    /** Excitatory input to inhibitory interneuron, [features, n_i], >= 0. */
    public Tensor wIE() {
        return wIE;
    }

    /** Inhibitory interneuron to excitatory output, [n_i, units], >= 0. */
    public Tensor wEI() {
        return wEI;
    }

    @Override
    public Tensor computeMask(Tensor x, Tensor mask) {
        return mask;
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("units", units);
        c.put("activation", activationName);
        c.put("excitatory_share", excitatoryShare);
        c.put("inhibitory_units", inhibitoryUnits());
        c.put("divisive", divisive);
        c.put("use_bias", useBias);
        return c;
    }

    /** Rebuilds a layer from {@link #config()} (the layer registry's factory). */
    static DaleDense fromConfig(Map<String, Object> c) {
        return new DaleDense(LayerRegistry.intOf(c, "units"), (String) c.get("activation"))
                .excitatoryShare(LayerRegistry.numOf(c, "excitatory_share"))
                .divisive(LayerRegistry.boolOf(c, "divisive"))
                .useBias(LayerRegistry.boolOf(c, "use_bias"));
    }

    @Override
    public String toString() {
        return name() + " " + Arrays.toString(outputShape()) + " (" + inhibitoryUnits() + " inhibitory)";
    }
}
