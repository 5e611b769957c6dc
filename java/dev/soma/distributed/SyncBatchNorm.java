package dev.soma.distributed;

import dev.soma.autograd.Autograd;
import dev.soma.autograd.GradMode;
import dev.soma.tensor.Tensor;

/**
 * Synchronised batch normalisation (PyTorch's SyncBatchNorm) for data-parallel training: while one is active on the
 * training thread ({@link #activate}), every {@code BatchNormalization} layer in training mode takes its batch mean
 * and variance over the examples of all ranks instead of this rank's alone, and updates its moving statistics with
 * those, identically on every rank.
 *
 * <p>The layer sums its per-channel partial sums (sum and sum of squares, shifted by the moving mean for accuracy,
 * and the count) over the ranks with {@link #allreduceSum}, a differentiable all-reduce. Its backward all-reduces
 * the gradients that reach the sums (PyTorch all-reduces the sums of dy and dy * xhat: the same quantities through
 * the chain rule). Each rank's gradient is later weighted by its share of the global batch ({@link GradientBuckets}),
 * so the backward weights every rank's contribution by its share and divides by this rank's: after the buckets'
 * weighted sum the result is the gradient of the global batch's mean loss, also for uneven parts. A rank without
 * examples in a step cannot take part in the layer's collectives, so fit refuses that case up front.
 *
 * <p>Every rank must run the same layers in the same order (the collectives are matched by order), which a model
 * trained data-parallel does.
 */
public final class SyncBatchNorm implements AutoCloseable {
    private static final ThreadLocal<SyncBatchNorm> ACTIVE = new ThreadLocal<>();

    private final Mpi mpi;
    private final SyncBatchNorm previous;
    private double share = Double.NaN;

    private SyncBatchNorm(Mpi mpi, SyncBatchNorm previous) {
        this.mpi = mpi;
        this.previous = previous;
    }

    /**
     * Refuses, before the first step, a split in which some rank would hold no examples in some {@code unit} (its
     * layers could not join the collectives): the last global batch of each epoch must hold at least one example
     * per rank. {@code who} names the caller in the message.
     */
    public static void requireExamplesOnEveryRank(String who, String unit, DistributedSampler sampler, int ranks,
                                                  int examples, int batchPerRank) {
        int last = sampler.globalBatchSize(sampler.batchesPerEpoch() - 1);
        if (last < ranks) {
            throw new IllegalArgumentException(who + ": synchronised batch normalisation needs examples on every rank in "
                    + "every " + unit + ", but the last global batch of each epoch holds " + last + " example(s) for "
                    + ranks + " ranks (" + examples + " examples, batch " + batchPerRank + " per rank); drop or add a few "
                    + "examples or change the batch size");
        }
    }

    /** Makes batch normalisation on this thread synchronised over {@code mpi}'s ranks until {@link #close()}. */
    public static SyncBatchNorm activate(Mpi mpi) {
        if (mpi == null) throw new IllegalArgumentException("SyncBatchNorm: the MPI world is null");
        SyncBatchNorm s = new SyncBatchNorm(mpi, ACTIVE.get());
        ACTIVE.set(s);
        return s;
    }

    /** The one active on this thread, or null: batch normalisation then uses this rank's batch alone. */
    public static SyncBatchNorm active() {
        return ACTIVE.get();
    }

    /** This rank's examples over the global batch's in the current step (set before every step's forward). */
    public void share(double share) {
        if (!(share > 0 && share <= 1)) {
            throw new IllegalArgumentException("SyncBatchNorm: rank " + mpi.rank() + "'s share of the global batch is "
                    + share + "; synchronised batch normalisation needs examples on every rank in every step");
        }
        this.share = share;
    }

    public Mpi mpi() {
        return mpi;
    }

    /**
     * The sum over every rank of {@code partial} (a CPU f32/f64 tensor), recorded for autograd: the gradient with
     * respect to this rank's {@code partial} is (sum over ranks r of share_r * g_r) / share, g_r being rank r's
     * gradient of the result. Every rank must call it at the same point, forward and backward.
     */
    public Tensor allreduceSum(Tensor partial) {
        if (Double.isNaN(share)) {
            throw new IllegalStateException("SyncBatchNorm: no share set for this step (call share(...) before the forward)");
        }
        Tensor out;
        try (GradMode.Guard g = GradMode.disable()) {
            out = partial.copy();
        }
        mpi.allreduceSum(out);
        final double s = share;
        return Autograd.record("sync_batch_norm_allreduce", out, grad -> {
            Tensor weighted = grad.mul(s).copy(); // a buffer of our own: the all-reduce works in place
            mpi.allreduceSum(weighted);
            return new Tensor[] {weighted.div(s)};
        }, partial);
    }

    @Override
    public void close() {
        if (ACTIVE.get() == this) {
            if (previous == null) ACTIVE.remove();
            else ACTIVE.set(previous);
        }
    }
}
