package dev.soma.distributed;

import dev.soma.data.ArrayDataset;
import dev.soma.memory.Scope;
import dev.soma.model.FitOptions;
import dev.soma.model.Sequential;
import dev.soma.nn.BatchNormalization;
import dev.soma.nn.Conv2D;
import dev.soma.nn.Dense;
import dev.soma.nn.Flatten;
import dev.soma.nn.Lambda;
import dev.soma.nn.MaxPooling2D;
import dev.soma.optim.SGD;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;

/**
 * One rank of SyncBatchNormTest's 2-rank job: a finite-difference check of the synchronised batch normalisation's
 * gradient over both ranks (uneven parts, 3 and 5 examples), then the BN model trained data-parallel with and without
 * synchronised batch normalisation; writes the weights to {@code <out>/bn-<sync|local>-rank<r>.bin}.
 */
public final class SyncBatchNormMain {
    /** 89 examples: global batches of 32, 32 and 25 (13 + 12 on 2 ranks: uneven shares in the last step). */
    static final int EXAMPLES = 89, EPOCHS = 2, BATCH_PER_RANK = 16;

    public static void main(String[] args) throws Exception {
        Path out = Path.of(args[0]);
        Mpi mpi = Mpi.world();
        int rank = mpi.rank();
        gradcheck(mpi);
        for (boolean sync : new boolean[] {true, false}) {
            try (Scope s = Scope.open(); Sequential m = model(100 + rank)) {
                m.fit(data(), options(BATCH_PER_RANK, true).syncBatchNorm(sync));
                EquivalenceCases.writeWeights(m, out.resolve("bn-" + (sync ? "sync" : "local") + "-rank" + rank + ".bin"));
            }
        }
        // A last global batch smaller than the ranks would leave a rank without examples: refused up front.
        try (Scope s = Scope.open(); Sequential m = model(100)) {
            m.fit(data().range(0, 65), options(BATCH_PER_RANK, true).syncBatchNorm(true));
            throw new AssertionError("a last batch of 1 example on 2 ranks was accepted with syncBatchNorm");
        } catch (IllegalArgumentException e) {
            if (!e.getMessage().contains("every rank in every step")) throw e;
        }
        long live = dev.soma.backend.Backends.cpu().pool().stats().allocatedBytes();
        System.out.println("ok rank " + rank + " live bytes " + live);
        mpi.finish();
    }

    /** Conv - BN (over 4-D activations) - pool - dense - BN (2-D) - softmax, in f64. */
    static Sequential model(long seed) {
        Sequential m = new Sequential(new Lambda(x -> x.to(DType.F64)), new Conv2D(4, 3, "relu").padding("same"),
                new BatchNormalization(0.9, 1e-3), new MaxPooling2D(2), new Flatten(), new Dense(12),
                new BatchNormalization(0.8, 1e-3), new Dense(10, "softmax"));
        m.dtype(DType.F64).seed(seed);
        m.compile(new SGD(0.1, 0.9, false), "sparse_categorical_crossentropy", "accuracy");
        return m;
    }

    static ArrayDataset data() {
        SplittableRandom r = new SplittableRandom(7);
        float[] x = new float[EXAMPLES * 8 * 8];
        int[] labels = new int[EXAMPLES];
        // An offset, so that the batch mean is far from the initial moving mean (0): the shifted sums must cope.
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextDouble(-1, 1) + 2;
        for (int i = 0; i < EXAMPLES; i++) labels[i] = r.nextInt(10);
        return ArrayDataset.withLabels(x, new long[] {8, 8, 1}, labels);
    }

    static FitOptions options(int batch, boolean dataParallel) {
        return new FitOptions().batchSize(batch).epochs(EPOCHS).seed(11).verbose(0).dataParallel(dataParallel);
    }

    // ------------------------------------------------------------------ gradient check over the ranks

    private static final int CHANNELS = 3, ROWS = 2;
    private static final int[] EXAMPLES_PER_RANK = {3, 5};

    /**
     * G = sum over ranks of share_r * L_r, L_r = rank r's mean over its examples of sum(tanh(BN(x_r)) * w_r). Its
     * gradient with respect to rank r's x_r is share_r times what rank r's backward gives, and with respect to gamma
     * and beta the share-weighted sum of the ranks' gradients (what the gradient buckets compute). Central
     * differences perturb one element at a time on its owner rank, every rank evaluating G together.
     */
    private static void gradcheck(Mpi mpi) {
        if (mpi.size() != 2) throw new AssertionError("the gradient check is written for 2 ranks");
        int rank = mpi.rank();
        int total = EXAMPLES_PER_RANK[0] + EXAMPLES_PER_RANK[1];
        int n = EXAMPLES_PER_RANK[rank];
        double share = (double) n / total;
        SplittableRandom r = new SplittableRandom(30 + rank);
        double[] x = new double[n * ROWS * CHANNELS], w = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            x[i] = 3 + r.nextGaussian() * (1 + i % CHANNELS);
            w[i] = r.nextGaussian();
        }
        double[] gamma = {1.3, 0.7, -0.9}, beta = {0.1, -0.2, 0.3};
        try (Scope s = Scope.open(); BatchNormalization bn = new BatchNormalization(0.9, 1e-3);
             SyncBatchNorm sync = SyncBatchNorm.activate(mpi)) {
            sync.share(share);
            bn.build(new long[] {ROWS, CHANNELS}, DType.F64, new SplittableRandom(1));
            // Analytic: this rank's backward, weighted as the buckets weight it.
            Tensor xt = Tensor.of(x, n, ROWS, CHANNELS).setRequiresGrad(true);
            setWeights(bn, gamma, beta);
            loss(bn, xt, w, n).backward();
            double[] gx = xt.grad().mul(share).toDoubleArray();
            double[] gGamma = bn.params().get(0).value().grad().mul(share).toDoubleArray();
            double[] gBeta = bn.params().get(1).value().grad().mul(share).toDoubleArray();
            mpi.allreduceSum(gGamma);
            mpi.allreduceSum(gBeta);
            // Numeric.
            double h = 1e-5, worst = 0, scale = 0;
            for (int owner = 0; owner < 2; owner++) {
                int count = EXAMPLES_PER_RANK[owner] * ROWS * CHANNELS;
                for (int i = 0; i < count; i++) {
                    double[] fd = new double[2];
                    for (int side = 0; side < 2; side++) {
                        double[] xp = x.clone();
                        if (rank == owner) xp[i] += side == 0 ? h : -h;
                        fd[side] = globalLoss(mpi, bn, xp, w, n, share, gamma, beta);
                    }
                    double numeric = (fd[0] - fd[1]) / (2 * h);
                    if (rank == owner) {
                        worst = Math.max(worst, Math.abs(numeric - gx[i]));
                        scale = Math.max(scale, Math.abs(gx[i]));
                    }
                }
            }
            for (int which = 0; which < 2; which++) {
                double[] analytic = which == 0 ? gGamma : gBeta;
                for (int c = 0; c < CHANNELS; c++) {
                    double[] fd = new double[2];
                    for (int side = 0; side < 2; side++) {
                        double[] g = gamma.clone(), b = beta.clone();
                        (which == 0 ? g : b)[c] += side == 0 ? h : -h;
                        fd[side] = globalLoss(mpi, bn, x, w, n, share, g, b);
                    }
                    double numeric = (fd[0] - fd[1]) / (2 * h);
                    worst = Math.max(worst, Math.abs(numeric - analytic[c]));
                    scale = Math.max(scale, Math.abs(analytic[c]));
                }
            }
            double scaled = worst / Math.max(scale, 1e-12);
            boolean passed = scaled < 1e-6 && scale > 1e-3;
            String report = String.format("sync batch norm gradcheck rank %d: max error %.3g, max gradient %.3g, scaled %.3g",
                    rank, worst, scale, scaled) + (passed ? "\nok rank " + rank + " sync batch norm gradcheck" : "");
            for (int turn = 0; turn < mpi.size(); turn++) { // one rank at a time: the launcher interleaves the output
                if (turn == rank) {
                    System.out.println(report);
                    System.out.flush();
                }
                mpi.barrier();
            }
            if (!passed) throw new AssertionError("sync batch norm gradient check failed: " + scaled);
        }
    }

    private static Tensor loss(BatchNormalization bn, Tensor x, double[] w, int n) {
        return bn.apply(x, true).tanh().mul(Tensor.of(w, n, ROWS, CHANNELS)).sum().div(n);
    }

    private static double globalLoss(Mpi mpi, BatchNormalization bn, double[] x, double[] w, int n, double share,
                                     double[] gamma, double[] beta) {
        try (Scope s = Scope.open(); dev.soma.autograd.GradMode.Guard g = dev.soma.autograd.GradMode.disable()) {
            setWeights(bn, gamma, beta);
            double[] v = {share * loss(bn, Tensor.of(x, n, ROWS, CHANNELS), w, n).item()};
            mpi.allreduceSum(v);
            return v[0];
        }
    }

    /** gamma, beta and fresh moving statistics (the forward updates them; the shift they give must not matter). */
    private static void setWeights(BatchNormalization bn, double[] gamma, double[] beta) {
        bn.setWeights(List.of(Tensor.of(gamma, CHANNELS), Tensor.of(beta, CHANNELS),
                Tensor.of(new double[] {0.5, -1, 2}, CHANNELS), Tensor.of(new double[] {1, 2, 3}, CHANNELS)));
    }
}
