package dev.soma.privacy;

import dev.soma.data.Batch;
import dev.soma.data.Dataset;
import dev.soma.memory.Scope;
import dev.soma.tensor.Tensor;

import java.util.List;

/**
 * One DP-SGD gradient (Abadi et al. 2016, as Opacus computes it): each sampled example's gradient, clipped to L2
 * norm maxGradNorm over all trainable parameters, summed; Gaussian noise of std noiseMultiplier · maxGradNorm added
 * to every coordinate (seeded Philox, so any backend); divided by the expected batch size q·N. The result is left
 * in each parameter's grad for the optimizer. Also keeps the RDP accountant: one sampled Gaussian step per call.
 *
 * <p>Per-example gradients take the general path: a forward and backward per example, correct for every layer and
 * slow (no ghost-norm fast path yet).
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
    private final RdpAccountant accountant = new RdpAccountant();
    private long steps;

    /**
     * {@code initialEpoch}: epochs a resumed run already trained; their steps are accounted first, assuming these same
     * settings (the accountant's state is not in checkpoints).
     */
    public PrivateStep(PrivacySettings settings, int datasetSize, int batchSize, long seed, int initialEpoch) {
        this.settings = settings;
        this.sampler = new PoissonSampler(datasetSize, batchSize, seed);
        this.datasetSize = datasetSize;
        this.seed = seed;
        account((long) initialEpoch * sampler.stepsPerEpoch());
    }

    public PoissonSampler sampler() {
        return sampler;
    }

    public int stepsPerEpoch() {
        return sampler.stepsPerEpoch();
    }

    /** ε spent so far at the settings' δ (infinite with no noise). */
    public double epsilon() {
        if (settings.noiseMultiplier() == 0) return steps == 0 ? 0 : Double.POSITIVE_INFINITY;
        return accountant.epsilon(settings.delta());
    }

    /**
     * Leaves the private gradient of the examples {@code sample} of {@code data} in the grads of {@code params}
     * (replacing what was there). An empty sample still releases noise (and counts as a step).
     */
    public void computeGradients(Dataset data, int[] sample, List<Tensor> params, dev.soma.tensor.Device device,
                                 ExampleLoss loss) {
        int n = params.size();
        Tensor[] sums = new Tensor[n];
        try {
            for (int i = 0; i < n; i++) {
                Tensor p = params.get(i);
                sums[i] = Tensor.zeros(p.dtype(), p.device(), p.shape()).keep();
            }
            for (int idx : sample) {
                try (Scope s = Scope.open()) {
                    Batch one = data.gather(new int[] {idx});
                    Tensor l = loss.of(one.featureTensors(device), one.targetTensors(device));
                    for (Tensor p : params) p.zeroGrad();
                    l.backward();
                    accumulateClipped(params, sums);
                }
            }
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
            for (Tensor t : sums) if (t != null) t.close();
        }
        account(1);
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
        if (settings.noiseMultiplier() > 0) accountant.step(sampler.samplingRate(), settings.noiseMultiplier(), k);
    }
}
