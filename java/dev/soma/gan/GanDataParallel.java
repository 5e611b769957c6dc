package dev.soma.gan;

import dev.soma.data.Dataset;
import dev.soma.distributed.DistributedSampler;
import dev.soma.distributed.GradientBuckets;
import dev.soma.distributed.Mpi;
import dev.soma.memory.Scope;
import dev.soma.model.Model;
import dev.soma.tensor.Tensor;

/**
 * The epochs of a data-parallel {@link GanTrainer#fit} (see {@link GanTrainer#dataParallel}): rank 0's weights for
 * both models, one {@link GradientBuckets} per model, each rank's part of every global batch from a
 * {@link DistributedSampler} (the one-process run's permutation), and the epoch's values summed over the ranks.
 */
final class GanDataParallel implements AutoCloseable {
    private final GanTrainer trainer;
    private final Mpi mpi;
    private final DistributedSampler sampler;
    private final GradientBuckets generatorBuckets;
    private final GradientBuckets discriminatorBuckets;
    /** Active on the fit's thread while the epochs run, when the trainer asks for synchronised batch norm. */
    private final dev.soma.distributed.SyncBatchNorm syncBn;

    GanDataParallel(GanTrainer trainer, int examples, int batchPerRank, long seed) {
        Model g = trainer.generator(), d = trainer.discriminator();
        this.trainer = trainer;
        this.mpi = Mpi.world();
        this.sampler = new DistributedSampler(examples, batchPerRank, mpi.size(), true, seed);
        if (trainer.syncBatchNorm()) {
            dev.soma.distributed.SyncBatchNorm.requireExamplesOnEveryRank("GanTrainer.fit", "update", sampler, mpi.size(),
                    examples, batchPerRank);
        }
        // Same models everywhere (checked), then the same start: every weight of both takes rank 0's values.
        for (Model m : new Model[] {g, d}) {
            dev.soma.distributed.ParameterAgreement.require(mpi, m.parameterTensors(),
                    "GanTrainer.fit, the " + (m == g ? "generator" : "discriminator"));
        }
        for (Model m : new Model[] {g, d}) {
            for (dev.soma.nn.Param p : m.params()) mpi.broadcast(p.value(), 0);
        }
        this.generatorBuckets = GradientBuckets.configured(mpi, g.trainableTensors());
        GradientBuckets db;
        try {
            db = GradientBuckets.configured(mpi, d.trainableTensors());
        } catch (RuntimeException e) {
            generatorBuckets.close();
            throw e;
        }
        this.discriminatorBuckets = db;
        trainer.buckets(generatorBuckets, discriminatorBuckets);
        this.syncBn = trainer.syncBatchNorm() ? dev.soma.distributed.SyncBatchNorm.activate(mpi) : null;
    }

    /**
     * One epoch: groups of k global batches (k discriminator updates, then one generator update), as the
     * one-process fit groups its batches. Returns the sums over the steps of the global steps' d_loss, g_loss,
     * d_accuracy and gradient penalty, and the step count: the same on every rank.
     */
    double[] epoch(Dataset real, int epoch) {
        int[] order = sampler.order(epoch);
        int batches = sampler.batchesPerEpoch();
        int k = trainer.discriminatorSteps();
        int rank = mpi.rank();
        double[] sums = new double[4];
        int steps = 0;
        for (int b = 0; b < batches; b += k) {
            int count = Math.min(k, batches - b);
            Tensor[] reals = new Tensor[count];
            double[] shares = new double[count];
            int[] sizes = new int[count], offsets = new int[count];
            try (Scope s = Scope.open()) {
                for (int i = 0; i < count; i++) {
                    int[] idx = sampler.batch(order, b + i, rank);
                    shares[i] = sampler.share(b + i, rank);
                    sizes[i] = sampler.globalBatchSize(b + i);
                    offsets[i] = sampler.offset(b + i, rank);
                    if (idx.length == 0) continue;
                    Tensor x = real.gather(idx).features(trainer.generator().device());
                    reals[i] = x.dtype() == trainer.dtype() ? x : x.to(trainer.dtype());
                }
                GanTrainer.StepResult r = trainer.dataParallelStep(reals, shares, sizes, offsets);
                sums[0] += r.dLoss();
                sums[1] += r.gLoss();
                sums[2] += r.dAccuracy();
                sums[3] += r.gradientPenalty();
                steps++;
            }
        }
        mpi.allreduceSum(sums); // each rank's values were weighted by its shares
        return new double[] {sums[0], sums[1], sums[2], sums[3], steps};
    }

    String statistics() {
        return "generator: " + generatorBuckets.statistics() + "; discriminator: " + discriminatorBuckets.statistics();
    }

    @Override
    public void close() {
        if (syncBn != null) syncBn.close();
        generatorBuckets.close();
        discriminatorBuckets.close();
    }
}
