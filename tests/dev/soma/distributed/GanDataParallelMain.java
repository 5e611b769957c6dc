package dev.soma.distributed;

import dev.soma.data.ArrayDataset;
import dev.soma.gan.GanTrainer;
import dev.soma.memory.Scope;
import dev.soma.model.History;
import dev.soma.model.Sequential;
import dev.soma.nn.BatchNormalization;
import dev.soma.nn.Dense;
import dev.soma.nn.LeakyReLU;
import dev.soma.optim.SGD;
import dev.soma.tensor.DType;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * One rank of GanDataParallelTest's 2-rank job: a small MLP GAN in f64 trained data-parallel for each case, both
 * models' weights written to {@code <out>/gan-<case>-<g|d>-rank<r>.bin} and the history to a text file. The same
 * code trains the one-process reference in the test's JVM ({@link #train} with {@code dataParallel} false).
 */
public final class GanDataParallelMain {
    static final int LATENT = 4, FEATURES = 6, BATCH_PER_RANK = 16, EPOCHS = 2;
    /**
     * k = 1 on 89 examples (global batches 32, 32, 25: 13 + 12); k = 2 on 65 (32, 32, 1: rank 1 has none); and a
     * generator with batch normalisation, k = 1 on 89, with the statistics synchronised over the ranks ("bn") and
     * per rank ("bn-local", which must then differ from one process).
     */
    static final String[] CASES = {"k1", "k2", "bn", "bn-local"};

    public static void main(String[] args) throws Exception {
        Path out = Path.of(args[0]);
        Mpi mpi = Mpi.world();
        int rank = mpi.rank();
        for (String c : CASES) {
            try (Scope s = Scope.open()) {
                History h = train(c, true, 100 + rank, out.resolve("gan-" + c + "-%s-rank" + rank + ".bin"));
                Files.writeString(out.resolve("gan-" + c + "-history-rank" + rank + ".txt"), h.all().toString());
            }
        }
        // Synchronised batch norm with a last global batch of one example (65 = 32 + 32 + 1): refused up front.
        try (Scope s = Scope.open();
             Sequential g = new Sequential(new Dense(8), new BatchNormalization(), new Dense(FEATURES, "tanh"));
             Sequential d = new Sequential(new Dense(1, "sigmoid"))) {
            g.dtype(DType.F64).seed(1).build(LATENT);
            d.dtype(DType.F64).seed(2).build(FEATURES);
            try (GanTrainer gan = new GanTrainer(g, new SGD(0.05), d, new SGD(0.05), LATENT).dtype(DType.F64).seed(5)
                    .dataParallel(true).syncBatchNorm(true)) {
                gan.fit(data(65), BATCH_PER_RANK, 1, null);
                System.out.println("rank " + rank + ": not refused");
            } catch (IllegalArgumentException e) {
                System.out.println("ok rank " + rank + " refused: " + e.getMessage());
            }
        }
        long live = dev.soma.backend.Backends.cpu().pool().stats().allocatedBytes();
        System.out.println("ok rank " + rank + " live bytes " + live);
        mpi.finish();
    }

    /** Trains case {@code c}; models seeded with {@code modelSeed} (rank 0's weights win when data-parallel). */
    static History train(String c, boolean dataParallel, long modelSeed, Path weightsPattern) throws Exception {
        return train(c, dataParallel, modelSeed, weightsPattern, dev.soma.tensor.Device.cpu());
    }

    /** {@link #train(String, boolean, long, Path)} with both models on {@code device}. */
    static History train(String c, boolean dataParallel, long modelSeed, Path weightsPattern, dev.soma.tensor.Device device)
            throws Exception {
        int k = c.equals("k2") ? 2 : 1;
        int examples = c.equals("k2") ? 65 : 89;
        boolean bn = c.startsWith("bn");
        try (Sequential g = bn
                ? new Sequential(new Dense(8), new BatchNormalization(), new LeakyReLU(0.2), new Dense(FEATURES, "tanh"))
                : new Sequential(new Dense(8, "leaky_relu"), new Dense(FEATURES, "tanh"));
             Sequential d = new Sequential(new Dense(8, "leaky_relu"), new Dense(1, "sigmoid"))) {
            g.dtype(DType.F64).seed(modelSeed).build(LATENT);
            d.dtype(DType.F64).seed(modelSeed + 1).build(FEATURES);
            g.to(device);
            d.to(device);
            History h;
            try (GanTrainer gan = new GanTrainer(g, new SGD(0.05, 0.9, false), d, new SGD(0.05, 0.9, false), LATENT)
                    .discriminatorSteps(k).dtype(DType.F64).seed(5).dataParallel(dataParallel)
                    .syncBatchNorm(dataParallel && c.equals("bn"))) {
                h = gan.fit(data(examples), BATCH_PER_RANK * (dataParallel ? 1 : 2), EPOCHS, null);
            }
            EquivalenceCases.writeWeights(g, Path.of(String.format(weightsPattern.toString(), "g")));
            EquivalenceCases.writeWeights(d, Path.of(String.format(weightsPattern.toString(), "d")));
            return h;
        }
    }

    static ArrayDataset data(int examples) {
        SplittableRandom r = new SplittableRandom(3);
        float[] x = new float[examples * FEATURES];
        for (int i = 0; i < x.length; i++) x[i] = (float) Math.tanh(r.nextGaussian() * 0.5 + (i % FEATURES) * 0.2);
        return ArrayDataset.withLabels(x, new long[] {FEATURES}, new int[examples]);
    }
}
