package dev.soma.nn;

import dev.soma.autograd.GradMode;
import dev.soma.errors.ShapeException;
import dev.soma.ops.BatchNorm;
import dev.soma.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Batch normalisation over the last (channel) axis, as Keras' BatchNormalization: in training, normalises
 * with the batch's statistics and updates the moving mean and variance
 * ({@code moving = momentum * moving + (1 - momentum) * batch}, the batch variance being the population one); in
 * inference, uses the moving statistics. Single-process training runs the fused {@link BatchNorm} op.
 */
public final class BatchNormalization extends Layer {
    private final double momentum;
    private final double epsilon;
    private Tensor gamma;
    private Tensor beta;
    private Tensor movingMean;
    private Tensor movingVariance;

    public BatchNormalization() {
        this(0.99, 1e-3);
    }

    public BatchNormalization(double momentum, double epsilon) {
        // Written so that NaN fails too (it would make every moving statistic NaN).
        if (!(momentum >= 0 && momentum <= 1)) {
            throw new IllegalArgumentException("BatchNormalization: momentum must be in [0, 1], got " + momentum);
        }
        if (!(epsilon > 0 && epsilon < Double.POSITIVE_INFINITY)) {
            throw new IllegalArgumentException("BatchNormalization: epsilon must be finite and > 0, got " + epsilon);
        }
        this.momentum = momentum;
        this.epsilon = epsilon;
    }

    @Override
    public String typeName() {
        return "batch_normalization";
    }

    @Override
    public long[] computeOutputShape(long[] in) {
        if (in.length == 0) throw new ShapeException(name() + ": input needs a channel axis");
        return in;
    }

    @Override
    protected void createParams(long[] in, SplittableRandom rng) {
        long[] c = {in[in.length - 1]};
        gamma = addParam("gamma", c, Initializer.ones(), null, true, c[0], c[0], rng);
        beta = addParam("beta", c, Initializer.zeros(), null, true, c[0], c[0], rng);
        movingMean = addParam("moving_mean", c, Initializer.zeros(), null, false, c[0], c[0], rng);
        movingVariance = addParam("moving_variance", c, Initializer.ones(), null, false, c[0], c[0], rng);
    }

    @Override
    protected Tensor call(Tensor x, boolean training) {
        if (!training) {
            Tensor scale = movingVariance.add(epsilon).sqrt();
            return x.sub(movingMean).div(scale).mul(gamma).add(beta);
        }
        dev.soma.privacy.PrivateStep.refuseBatchStatistics(name());
        int[] axes = new int[x.ndim() - 1];
        for (int i = 0; i < axes.length; i++) axes[i] = i;
        dev.soma.distributed.SyncBatchNorm sync = dev.soma.distributed.SyncBatchNorm.active();
        if (sync != null && sync.mpi().size() > 1) return synchronizedCall(x, axes, sync);
        BatchNorm.Result r = BatchNorm.training(x, gamma, beta, epsilon);
        try (GradMode.Guard g = GradMode.disable()) {
            update(movingMean, r.mean());
            update(movingVariance, r.variance());
        }
        return r.y();
    }

    /**
     * Training with the batch statistics of every rank's examples (see SyncBatchNorm): the per-channel sums of
     * d = x - movingMean and d^2 and the count are summed over the ranks in one all-reduce. The shift by the moving
     * mean (the same on every rank) keeps E[d^2] - E[d]^2 from cancelling once the moving mean is close to the batch
     * mean; the result does not depend on it otherwise.
     */
    private Tensor synchronizedCall(Tensor x, int[] axes, dev.soma.distributed.SyncBatchNorm sync) {
        long channels = x.size(x.ndim() - 1);
        Tensor shift;
        try (GradMode.Guard g = GradMode.disable()) {
            shift = movingMean.copy(); // the moving mean itself is overwritten below
        }
        Tensor d = x.sub(shift);
        Tensor count = Tensor.full(x.numel() / (double) channels, x.dtype(), x.device(), 1);
        Tensor local = dev.soma.ops.Shapes.concat(0, d.sum(axes, false), d.mul(d).sum(axes, false), count);
        Tensor total = sync.allreduceSum(local);
        double n = total.slice(0, 2 * channels, 2 * channels + 1, 1).item();
        Tensor meanOfD = total.slice(0, 0, channels, 1).div(n);
        Tensor variance = total.slice(0, channels, 2 * channels, 1).div(n).sub(meanOfD.mul(meanOfD));
        try (GradMode.Guard g = GradMode.disable()) {
            update(movingMean, meanOfD.add(shift));
            update(movingVariance, variance);
        }
        return d.sub(meanOfD).div(variance.add(epsilon).sqrt()).mul(gamma).add(beta);
    }

    private void update(Tensor moving, Tensor batchStat) {
        Tensor next = moving.mul(momentum).add(batchStat.reshape(moving.shape()).mul(1 - momentum));
        moving.backend().memory().copy(next, moving);
    }

    /** Normalises features: the input's mask passes through (Keras' supports_masking). */
    @Override
    public Tensor computeMask(Tensor x, Tensor mask) {
        return mask;
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("momentum", momentum);
        c.put("epsilon", epsilon);
        return c;
    }
}
