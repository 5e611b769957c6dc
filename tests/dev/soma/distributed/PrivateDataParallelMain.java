package dev.soma.distributed;

import dev.soma.memory.Scope;
import dev.soma.model.FitOptions;
import dev.soma.model.Sequential;
import dev.soma.tensor.DType;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * One rank of PrivateDataParallelTest's 2-rank job: DP-SGD data-parallel for each of its cases, the weights written to
 * {@code <out>/dp-<case>-rank<r>.bin} and the loss and ε histories beside them. Each rank initialises its model from
 * another seed, so equal weights also prove rank 0's broadcast.
 */
public final class PrivateDataParallelMain {
    /** cnn: the ghost-norm path; lstm: the per-example path; cnn-parts: the ghost path in physical batches of 3. */
    static final String[] CASES = {"cnn", "lstm", "cnn-parts"};
    static final int BATCH_PER_RANK = 8;

    public static void main(String[] args) throws Exception {
        Path out = Path.of(args[0]);
        Mpi mpi = Mpi.world();
        int rank = mpi.rank();
        for (String c : CASES) {
            try (Scope s = Scope.open(); Sequential m = model(c, 100 + rank)) {
                m.fit(EquivalenceCases.data(model(c)), options(c, BATCH_PER_RANK, true));
                EquivalenceCases.writeWeights(m, out.resolve("dp-" + c + "-rank" + rank + ".bin"));
                Files.writeString(out.resolve("dp-" + c + "-history-rank" + rank + ".txt"),
                        m.history().get("loss") + " " + m.history().get("epsilon"));
            }
        }
        // Refused on every rank before any collective, so neither rank waits for the other.
        try (Scope s = Scope.open(); Sequential m = model("cnn", 1)) {
            DataParallelMain.refuses(IllegalArgumentException.class,
                    () -> m.fit(EquivalenceCases.data("cnn"), options("cnn", EquivalenceCases.EXAMPLES / 2 + 1, true)),
                    "2 ranks = ");
            DataParallelMain.refuses(UnsupportedOperationException.class,
                    () -> m.fit(EquivalenceCases.data("cnn"), options("cnn", BATCH_PER_RANK, true).syncBatchNorm(true)),
                    "syncBatchNorm");
        }
        System.out.println("ok rank " + rank + " refusals");
        System.out.println("ok rank " + rank + " live bytes " + dev.soma.backend.Backends.cpu().pool().stats().allocatedBytes());
        mpi.finish();
    }

    static String model(String c) {
        return c.startsWith("cnn") ? "cnn" : c;
    }

    static Sequential model(String c, long seed) {
        return EquivalenceCases.model(model(c), DType.F64, seed);
    }

    /** Noise 1.0, clipping norm 0.5 (small enough that most examples are clipped), δ 1e-5, 2 epochs. */
    static FitOptions options(String c, int batch, boolean dataParallel) {
        FitOptions o = EquivalenceCases.options(batch, dataParallel).privacy(1.0, 0.5, 1e-5);
        return c.equals("cnn-parts") ? o.privacyPhysicalBatch(3) : o;
    }
}
