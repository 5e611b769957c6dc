package dev.soma.distributed;

import dev.soma.data.ArrayDataset;
import dev.soma.gan.GanTrainer;
import dev.soma.memory.Scope;
import dev.soma.model.History;
import dev.soma.model.Sequential;
import dev.soma.nn.Dense;
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
    /** k = 1 on 89 examples (global batches 32, 32, 25: 13 + 12); k = 2 on 65 (32, 32, 1: rank 1 has none). */
    static final String[] CASES = {"k1", "k2"};

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
        long live = dev.soma.backend.Backends.cpu().pool().stats().allocatedBytes();
        System.out.println("ok rank " + rank + " live bytes " + live);
        mpi.finish();
    }

    /** Trains case {@code c}; models seeded with {@code modelSeed} (rank 0's weights win when data-parallel). */
    static History train(String c, boolean dataParallel, long modelSeed, Path weightsPattern) throws Exception {
        int k = c.equals("k1") ? 1 : 2;
        int examples = c.equals("k1") ? 89 : 65;
        try (Sequential g = new Sequential(new Dense(8, "leaky_relu"), new Dense(FEATURES, "tanh"));
             Sequential d = new Sequential(new Dense(8, "leaky_relu"), new Dense(1, "sigmoid"))) {
            g.dtype(DType.F64).seed(modelSeed).build(LATENT);
            d.dtype(DType.F64).seed(modelSeed + 1).build(FEATURES);
            History h;
            try (GanTrainer gan = new GanTrainer(g, new SGD(0.05, 0.9, false), d, new SGD(0.05, 0.9, false), LATENT)
                    .discriminatorSteps(k).dtype(DType.F64).seed(5).dataParallel(dataParallel)) {
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
