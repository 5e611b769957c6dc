package dev.soma.privacy;

import dev.soma.data.Batch;
import dev.soma.data.Dataset;
import dev.soma.memory.Scope;
import dev.soma.ops.GhostNorms;
import dev.soma.tensor.Tensor;

import java.util.List;

/**
 * One DP-SGD gradient (Abadi et al. 2016, as Opacus computes it): each sampled example's gradient, clipped to L2
 * norm maxGradNorm over all trainable parameters, summed; Gaussian noise of std noiseMultiplier · maxGradNorm added
 * to every coordinate (seeded Philox, so any backend); divided by the expected batch size q·N. The result is left
 * in each parameter's grad for the optimizer. Also keeps the RDP accountant: one sampled Gaussian step per call.
 *
 * <p>Two ways to the clipped sum: the ghost-norm path ({@link GhostTape}: one forward and backward of the sample, each
 * example's norm from the layers' inputs and output gradients, the clip-weighted sum formed per layer) when every
 * trainable parameter is in a Dense, Conv2D, Embedding or LayerNormalization layer on the CPU; otherwise the general
 * path, a forward and backward per example, correct for every layer and slow.
 */
public final class PrivateStep {
    /** The loss of a batch (here always one example), recorded for autograd, from its inputs and targets on the device. */
    @FunctionalInterface
    public interface ExampleLoss {
        Tensor of(List<Tensor> inputs, List<Tensor> targets);
    }

    private final PrivacySettings settings;
    private final PoissonSampler sampler;
    private final int datasetSize;
    private final long seed;
    private final RdpAccountant accountant;
    private long steps;
    private boolean unbounded; // a step released without noise: ε is infinite from then on
    private boolean ghostUnsupported;
    private boolean lastStepGhost;
    private double[] lastNorms;
    private GhostNorms.Method method = GhostNorms.Method.AUTO;
    private int physicalBatch = Integer.MAX_VALUE;
    private dev.soma.distributed.Mpi ranks; // data-parallel: the clipped sums are added up over these ranks
    // Set while this thread runs a private step's forward and backward passes (see refuseBatchStatistics).
    private static final ThreadLocal<Boolean> PER_EXAMPLE = ThreadLocal.withInitial(() -> false);

    /**
     * {@code initialEpoch}: epochs a resumed run already trained; their steps are accounted first, assuming these same
     * settings (used when the checkpoint holds no accountant state).
     */
    public PrivateStep(PrivacySettings settings, int datasetSize, int batchSize, long seed, int initialEpoch) {
        this(settings, datasetSize, batchSize, seed, initialEpoch, null);
    }

    /**
     * {@code saved}: the accountant's state a checkpoint kept (a resumed run continues its ε sequence, whatever
     * settings the earlier epochs used); null: account {@code initialEpoch} epochs with these settings.
     */
    public PrivateStep(PrivacySettings settings, int datasetSize, int batchSize, long seed, int initialEpoch,
                       AccountantState saved) {
        this.settings = settings;
        this.sampler = new PoissonSampler(datasetSize, batchSize, seed);
        this.datasetSize = datasetSize;
        this.seed = seed;
        this.ghostUnsupported = settings.generalPath();
        if (saved != null) {
            this.accountant = RdpAccountant.restored(saved.orders(), saved.rdp());
            this.steps = saved.steps();
            this.unbounded = saved.unbounded();
        } else {
            this.accountant = new RdpAccountant();
            account((long) initialEpoch * sampler.stepsPerEpoch());
        }
    }

    /** What a checkpoint keeps of the accountant: steps taken, whether one had no noise, RDP per order. */
    public record AccountantState(long steps, boolean unbounded, double[] orders, double[] rdp) {
        public AccountantState {
            if (steps < 0) throw new IllegalArgumentException("privacy state: steps must be >= 0, got " + steps);
            orders = orders.clone();
            rdp = rdp.clone();
        }
    }

    /** The accountant's state now, for checkpoints. */
    public AccountantState accountantState() {
        return new AccountantState(steps, unbounded, accountant.orders(), accountant.rdp());
    }

    public PoissonSampler sampler() {
        return sampler;
    }

    public int stepsPerEpoch() {
        return sampler.stepsPerEpoch();
    }

    /** ε spent so far at the settings' δ (infinite with no noise). */
    public double epsilon() {
        if (unbounded) return Double.POSITIVE_INFINITY;
        return accountant.epsilon(settings.delta());
    }

    /**
     * Leaves the private gradient of the examples {@code sample} of {@code data} in the grads of {@code params}
     * (replacing what was there). An empty sample still releases noise (and counts as a step). Data-parallel
     * ({@link #dataParallel}): {@code sample} is this rank's part, and every rank must call this for every step.
     */
    public void computeGradients(Dataset data, int[] sample, List<Tensor> params, dev.soma.tensor.Device device,
                                 ExampleLoss loss) {
        computeGradients(data, sample, params, device, loss, null);
    }

    /**
     * The same; {@code rewind} (may be null) runs when the ghost-norm path gives up after its forward, before the
     * per-example path: the caller puts back what that forward moved (the layers' random streams), so that the step
     * is the one the per-example path alone takes, whichever step of a run the attempt falls on (a resumed run
     * attempts again).
     */
    public void computeGradients(Dataset data, int[] sample, List<Tensor> params, dev.soma.tensor.Device device,
                                 ExampleLoss loss, Runnable rewind) {
        int n = params.size();
        Tensor[] sums = new Tensor[n];
        boolean outer = PER_EXAMPLE.get();
        PER_EXAMPLE.set(true);
        try {
            for (int i = 0; i < n; i++) {
                Tensor p = params.get(i);
                sums[i] = Tensor.zeros(p.dtype(), p.device(), p.shape()).keep();
            }
            boolean tried = !ghostUnsupported && device.isCpu() && sample.length > 0;
            boolean ghost = tried && ghostSumsInParts(data, sample, params, device, loss, sums);
            if (tried && !ghost && rewind != null) rewind.run();
            lastStepGhost = ghost;
            if (!ghost) for (int idx : sample) {
                try (Scope s = Scope.open()) {
                    Batch one = data.gather(new int[] {idx});
                    Tensor l = loss.of(one.featureTensors(device), one.targetTensors(device));
                    for (Tensor p : params) p.zeroGrad();
                    l.backward();
                    accumulateClipped(params, sums);
                }
            }
            // Data-parallel: each rank clipped its part of the sample; the sum over all parts is the whole sample's.
            // Every rank then adds the same noise (same seed and step), once, as one process would.
            if (ranks != null) for (Tensor sum : sums) ranks.allreduceSum(sum);
            double std = settings.noiseMultiplier() * settings.maxGradNorm();
            double expectedBatch = sampler.samplingRate() * datasetSize;
            for (int i = 0; i < n; i++) {
                Tensor p = params.get(i);
                p.zeroGrad();
                try (Scope s = Scope.open()) {
                    Tensor g = sums[i];
                    if (std > 0) {
                        long noiseSeed = PoissonSampler.mix(seed ^ 0x6A09E667F3BCC909L, steps, i);
                        g = g.add(dev.soma.ops.Creation.randn(noiseSeed, p.dtype(), p.device(), p.shape()).mul(std));
                    }
                    p.accumulateGrad(g.mul(1 / expectedBatch));
                }
            }
        } finally {
            PER_EXAMPLE.set(outer);
            for (Tensor t : sums) if (t != null) t.close();
        }
        account(1);
    }

    /**
     * The ghost-norm path over the sample in parts of at most {@link #physicalBatch} examples (Opacus' physical
     * batches): each example's clipped gradient does not depend on the others, so the parts' sums add up to the whole
     * sample's, and the peak memory is that of one part. False (sums zero) where the ghost path does not apply.
     */
    private boolean ghostSumsInParts(Dataset data, int[] sample, List<Tensor> params, dev.soma.tensor.Device device,
                                     ExampleLoss loss, Tensor[] sums) {
        double[] norms = new double[sample.length];
        for (int start = 0; start < sample.length; start += physicalBatch) {
            int[] part = java.util.Arrays.copyOfRange(sample, start, (int) Math.min(sample.length, (long) start + physicalBatch));
            double[] partNorms = ghostSums(data, part, params, device, loss, sums);
            if (partNorms == null) {
                // The model decides this, so it happens on the first part; fresh zero sums anyway, for the general path.
                for (int i = 0; i < sums.length; i++) {
                    Tensor old = sums[i];
                    sums[i] = Tensor.zeros(old.dtype(), old.device(), old.shape()).keep();
                    old.close();
                }
                return false;
            }
            System.arraycopy(partNorms, 0, norms, start, part.length);
        }
        lastNorms = norms;
        return true;
    }

    /**
     * The ghost-norm path (Li et al. 2021): one forward and backward of the whole sample with a {@link GhostTape} open,
     * each example's gradient norm from the layers' inputs and output gradients, then the clip-weighted sum of
     * per-example gradients formed directly per layer; returns each example's gradient norm. Null (sums untouched)
     * when some trainable parameter lies outside the tape's layers, a layer is called twice or the tape is unfit (a layer
     * saw other rows than the examples, as a convolution inside TimeDistributed does); the general path then runs, now
     * and for later steps.
     */
    private double[] ghostSums(Dataset data, int[] sample, List<Tensor> params, dev.soma.tensor.Device device,
                              ExampleLoss loss, Tensor[] sums) {
        for (Tensor p : params) p.zeroGrad();
        try (Scope s = Scope.open(); GhostTape tape = GhostTape.open(method, sample.length)) {
            Batch batch = data.gather(sample);
            Tensor l = loss.of(batch.featureTensors(device), batch.targetTensors(device));
            tape.stopRecording();
            java.util.Set<Tensor> shared = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
            java.util.Set<Tensor> covered = tape.covered(shared);
            boolean outside = false;
            for (Tensor p : params) outside |= !covered.contains(p);
            if (outside || !shared.isEmpty() || tape.unfit() || !l.requiresGrad()) {
                ghostUnsupported = true;
                return null;
            }
            l.backward();
            for (Tensor p : params) {
                if (p.grad() != null) { // reached by a path the tape does not see
                    for (Tensor q : params) q.zeroGrad();
                    ghostUnsupported = true;
                    return null;
                }
            }
            // The loss is the batch mean: example i's own gradient is B times its share of this backward's.
            int b = sample.length;
            java.util.Set<Tensor> trained = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
            trained.addAll(params);
            double[] norms2 = tape.squaredNorms(b, params.get(0), trained).toDoubleArray();
            double[] weights = new double[b], norms = new double[b];
            for (int i = 0; i < b; i++) {
                norms[i] = b * Math.sqrt(Math.max(norms2[i], 0));
                weights[i] = b * Math.min(1.0, settings.maxGradNorm() / (norms[i] + 1e-6)); // Opacus' clip factor
            }
            Tensor w = Tensor.of(weights, b).to(params.get(0).dtype()).to(device);
            java.util.Map<Tensor, Tensor> byParam = new java.util.IdentityHashMap<>();
            for (int i = 0; i < params.size(); i++) byParam.put(params.get(i), sums[i]);
            tape.addWeighted(w, byParam);
            return norms;
        }
    }

    /**
     * Throws when called inside a private step's passes: for layers whose training forward mixes the examples of a
     * batch (BatchNormalization's batch statistics). There an example's gradient depends on the others, so clipping
     * it no longer bounds any one example's influence (the ghost path's guarantee fails), and the per-example
     * path's batches of one would train on meaningless statistics. Opacus refuses such models for the same reason.
     */
    public static void refuseBatchStatistics(String layer) {
        if (PER_EXAMPLE.get()) {
            throw new UnsupportedOperationException("fit with DP-SGD (FitOptions.privacy): layer '" + layer
                    + "' normalises with batch statistics in training, which mix the examples of a batch, so "
                    + "per-example gradients and their clipping are not defined; use LayerNormalization (or no "
                    + "normalisation) in a privately trained model, as Opacus requires");
        }
    }

    /** Whether the next step will try the ghost-norm path on {@code device} (it may still fall back). */
    public boolean takesGhostPath(dev.soma.tensor.Device device) {
        return !ghostUnsupported && device.isCpu();
    }

    /** Whether the last step took the ghost-norm path (else the general per-example path). */
    public boolean lastStepUsedGhostNorms() {
        return lastStepGhost;
    }

    /** The per-example gradient norms (before clipping) of the last ghost-norm step, for tests. */
    public double[] lastGhostNorms() {
        return lastNorms == null ? null : lastNorms.clone();
    }

    /**
     * The most examples one ghost-path forward and backward holds (Opacus' max_physical_batch_size): a larger sample
     * runs in parts, with the same clipped sum and the memory of one part. Unlimited by default.
     */
    public PrivateStep physicalBatch(int examples) {
        if (examples < 1) throw new IllegalArgumentException("DP-SGD: the physical batch must be >= 1 example, got " + examples);
        this.physicalBatch = examples;
        return this;
    }

    /**
     * Data-parallel DP-SGD: every rank draws the same Poisson sample, clips the per-example gradients of its own part
     * of it ({@link dev.soma.distributed.DistributedSampler#part}) and passes that part to {@link #computeGradients};
     * the clipped sums are all-reduced over {@code mpi}'s ranks before the noise, which every rank adds alike. So
     * each step is the one-process step of the same sample, with the same noise and the same accounting.
     */
    public PrivateStep dataParallel(dev.soma.distributed.Mpi mpi) {
        this.ranks = mpi;
        return this;
    }

    /** Forces a way of forming ghost norms, or the general path ({@code null}), for tests and benchmarks. */
    public PrivateStep ghostMethod(GhostNorms.Method m) {
        this.method = m == null ? GhostNorms.Method.AUTO : m;
        this.ghostUnsupported = m == null;
        return this;
    }

    /** Adds each parameter's current grad, scaled so that their joint L2 norm is at most maxGradNorm, into sums. */
    private void accumulateClipped(List<Tensor> params, Tensor[] sums) {
        Tensor squares = null;
        for (Tensor p : params) {
            Tensor g = p.grad();
            if (g == null) continue; // a parameter this example does not reach
            Tensor sq = g.mul(g).sum();
            squares = squares == null ? sq : squares.add(sq);
        }
        if (squares == null) return;
        double norm = Math.sqrt(squares.item());
        double scale = Math.min(1.0, settings.maxGradNorm() / (norm + 1e-6)); // Opacus' clip factor
        for (int i = 0; i < params.size(); i++) {
            Tensor g = params.get(i).grad();
            if (g == null) continue;
            Tensor clipped = g.mul(scale);
            sums[i].backend().memory().accumulate(sums[i], clipped);
        }
    }

    private void account(long k) {
        if (k <= 0) return;
        steps += k;
        if (settings.noiseMultiplier() == 0) unbounded = true;
        else accountant.step(sampler.samplingRate(), settings.noiseMultiplier(), k);
    }
}
