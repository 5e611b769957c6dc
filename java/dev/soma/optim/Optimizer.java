package dev.soma.optim;

import dev.soma.backend.OptimizerKernels;
import dev.soma.errors.DTypeException;
import dev.soma.errors.DeviceException;
import dev.soma.tensor.Tensor;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Base of the optimizers: owns per-parameter state (created on first use, outside any scope, freed by
 * {@link #close()}), the learning-rate schedule, gradient clipping and the step counter. Each
 * {@link #step()} is one fused native call over every parameter that has a gradient.
 *
 * <p>Clipping as Keras: {@link #clipValue} clips each gradient element; {@link #globalClipNorm} rescales all
 * gradients together so their joint L2 norm is at most the bound.
 */
public abstract class Optimizer implements AutoCloseable {
    private LearningRateSchedule schedule;
    private double clipValue;
    private double globalClipNorm;
    private long iterations;
    private final Map<Tensor, Tensor[]> state = new IdentityHashMap<>();
    private final List<Tensor> stateOrder = new ArrayList<>();

    protected Optimizer(double learningRate) {
        this.schedule = LearningRateSchedule.constant(checkLearningRate(learningRate));
    }

    /**
     * A NaN or infinite rate would silently turn every weight into NaN on the first step, and a negative one
     * would climb the loss instead of descending it (PyTorch refuses both too).
     */
    private double checkLearningRate(double lr) {
        if (!Double.isFinite(lr) || lr < 0) {
            throw new IllegalArgumentException(name() + ": the learning rate must be finite and >= 0, got " + lr);
        }
        return lr;
    }

    /**
     * A weight decay must be finite and >= 0: NaN passed every range check written as "wd < 0" and turned every
     * weight into NaN on the first step.
     */
    protected final double checkWeightDecay(double wd) {
        if (!(wd >= 0) || Double.isInfinite(wd)) {
            throw new IllegalArgumentException(name() + ": weight decay must be finite and >= 0, got " + wd);
        }
        return wd;
    }

    /** Short name for configs and checkpoints, e.g. "adam". */
    public abstract String name();

    /** The hyper-parameters, for configs and checkpoints. */
    public abstract Map<String, Object> config();

    /** How many state tensors each parameter needs (e.g. 2 for Adam). */
    protected abstract int stateSlots();

    /** The fused update of one step over parameters that have gradients. */
    protected abstract void update(OptimizerKernels kernels, Tensor[] params, Tensor[] grads, Tensor[][] slots,
                                   double lr, long step, double gradScale, double clipValue);

    public Optimizer learningRate(double lr) {
        this.schedule = LearningRateSchedule.constant(checkLearningRate(lr));
        return this;
    }

    public Optimizer schedule(LearningRateSchedule schedule) {
        this.schedule = schedule;
        return this;
    }

    /** The learning-rate schedule (a constant one unless {@link #schedule} set another). */
    public LearningRateSchedule schedule() {
        return schedule;
    }

    /** The per-element gradient clip (0: none). */
    public double clipValue() {
        return clipValue;
    }

    /** The bound on the joint gradient norm (0: none). */
    public double globalClipNorm() {
        return globalClipNorm;
    }

    public Optimizer clipValue(double v) {
        if (!(v >= 0)) throw new IllegalArgumentException(name() + ": clipValue must be >= 0, got " + v);
        this.clipValue = v;
        return this;
    }

    public Optimizer globalClipNorm(double n) {
        if (!(n >= 0)) throw new IllegalArgumentException(name() + ": globalClipNorm must be >= 0, got " + n);
        this.globalClipNorm = n;
        return this;
    }

    /** The learning rate the next step will use. */
    public double currentLearningRate() {
        return schedule.at(iterations);
    }

    /** Steps taken so far. */
    public long iterations() {
        return iterations;
    }

    /** Sets the step counter (when resuming from a checkpoint). */
    public void setIterations(long iterations) {
        this.iterations = iterations;
    }

    /** Updates every parameter in {@code params} that has a gradient. */
    public void step(List<Tensor> params) {
        List<Tensor> withGrad = new ArrayList<>();
        for (Tensor p : params) {
            p.checkOpen(name() + ".step");
            if (p.grad() != null) withGrad.add(p);
        }
        if (withGrad.isEmpty()) {
            iterations++;
            return;
        }
        Tensor first = withGrad.get(0);
        int n = withGrad.size();
        Tensor[] ps = new Tensor[n];
        Tensor[] gs = new Tensor[n];
        Tensor[][] slots = new Tensor[stateSlots()][n];
        for (int i = 0; i < n; i++) {
            Tensor p = withGrad.get(i);
            if (p.dtype() != first.dtype()) {
                throw new DTypeException(name() + ".step: parameters mix dtypes (" + first.describe() + " and "
                        + p.describe() + "); expected one dtype");
            }
            if (!p.device().equals(first.device())) {
                throw new DeviceException(name() + ".step: parameters on different devices (" + first.describe()
                        + " and " + p.describe() + ")");
            }
            if (!p.isContiguous()) {
                throw new IllegalStateException(name() + ".step: parameter " + p.describe() + " is not contiguous");
            }
            ps[i] = p;
            gs[i] = p.grad();
            Tensor[] s = stateOf(p);
            for (int k = 0; k < slots.length; k++) slots[k][i] = s[k];
        }
        OptimizerKernels kernels = first.backend().optimizer();
        double scale = 1.0;
        if (globalClipNorm > 0) {
            double norm = Math.sqrt(kernels.sumSquares(gs));
            if (norm > globalClipNorm) scale = globalClipNorm / norm;
        }
        double lr = schedule.at(iterations);
        if (!Double.isFinite(lr) || lr < 0) {
            throw new IllegalStateException(name() + ": the learning-rate schedule gave " + lr + " at step " + iterations
                    + "; expected a finite rate >= 0");
        }
        iterations++;
        update(kernels, ps, gs, slots, lr, iterations, scale, clipValue);
    }

    /** The state tensors of a parameter, created as zeros on first use. */
    protected Tensor[] stateOf(Tensor p) {
        Tensor[] s = state.get(p);
        if (s == null) {
            s = new Tensor[stateSlots()];
            for (int k = 0; k < s.length; k++) s[k] = Tensor.zeros(p.dtype(), p.device(), p.shape()).keep();
            state.put(p, s);
            stateOrder.add(p);
        }
        return s;
    }

    /**
     * The optimizer's state for checkpoints: "i/k" names slot k of the i-th parameter in {@code params}
     * order. Parameters without state yet are skipped.
     */
    public Map<String, Tensor> stateTensors(List<Tensor> params) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (int i = 0; i < params.size(); i++) {
            Tensor[] s = state.get(params.get(i));
            if (s == null) continue;
            for (int k = 0; k < s.length; k++) out.put(i + "/" + k, s[k]);
        }
        return out;
    }

    /** Restores state saved by {@link #stateTensors}: copies values into (new) state tensors. */
    public void loadStateTensors(List<Tensor> params, Map<String, Tensor> saved) {
        for (Map.Entry<String, Tensor> e : saved.entrySet()) {
            String[] parts = e.getKey().split("/");
            int i = Integer.parseInt(parts[0]);
            int k = Integer.parseInt(parts[1]);
            if (i < 0 || i >= params.size() || k < 0 || k >= stateSlots()) {
                throw new IllegalArgumentException(name() + ": optimizer state entry '" + e.getKey() + "' does not fit "
                        + params.size() + " parameters with " + stateSlots() + " slots");
            }
            Tensor target = stateOf(params.get(i))[k];
            dev.soma.ops.Check.sameShape(name() + ".loadState", target, e.getValue());
            target.backend().memory().copy(e.getValue(), target);
        }
    }

    /** Frees the state tensors. */
    @Override
    public void close() {
        for (Tensor p : stateOrder) for (Tensor t : state.get(p)) t.close();
        state.clear();
        stateOrder.clear();
    }
}
