package dev.soma.distributed;

import dev.soma.memory.Scope;
import dev.soma.model.Sequential;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Synchronised batch normalisation on 2 MPI ranks (one job, SyncBatchNormMain) against 1 process in this JVM: a
 * model with two BatchNormalization layers trained 2 ranks x batch 16 with sync BN equals 1 process x batch 32 in
 * f64 to rounding (weights and moving statistics), and without sync BN it does not.
 */
class SyncBatchNormTest {
    @TempDir
    static Path out;
    private static MpiJob.Result job;
    private static List<double[]> one;

    @BeforeAll
    static void runTwoRanks() throws Exception {
        MpiJob.assumeMpirun();
        job = MpiJob.run(2, SyncBatchNormMain.class, Map.of("SOMA_DDP_BUCKET_MB", "0.002", "SOMA_DIST_TIMEOUT", "60"),
                240, out.toString());
        assertEquals(0, job.exitCode(), job.output());
        try (Scope s = Scope.open(); Sequential m = SyncBatchNormMain.model(100)) {
            m.fit(SyncBatchNormMain.data(), SyncBatchNormMain.options(2 * SyncBatchNormMain.BATCH_PER_RANK, false));
            Path f = out.resolve("bn-one.bin");
            EquivalenceCases.writeWeights(m, f);
            one = EquivalenceCases.readWeights(f);
        }
    }

    @Test
    void theGradientOverBothRanksMatchesFiniteDifferences() {
        job.output().lines().filter(l -> l.startsWith("sync batch norm gradcheck")).forEach(System.out::println);
        assertTrue(job.output().contains("ok rank 0 sync batch norm gradcheck")
                && job.output().contains("ok rank 1 sync batch norm gradcheck"), job.output());
    }

    @Test
    void withSyncBatchNormTwoRanksOfSixteenEqualOneProcessOfThirtyTwo() throws Exception {
        List<double[]> rank0 = EquivalenceCases.readWeights(out.resolve("bn-sync-rank0.bin"));
        List<double[]> rank1 = EquivalenceCases.readWeights(out.resolve("bn-sync-rank1.bin"));
        // Moving statistics included: every rank updated them with the same global batch statistics.
        for (int i = 0; i < rank0.size(); i++) assertArrayEquals(rank0.get(i), rank1.get(i), 0.0, "param " + i);
        double rel = EquivalenceCases.relativeDifference(rank0, one);
        System.out.printf("sync batch norm equivalence f64: relative difference %.3g%n", rel);
        assertTrue(rel < 1e-13, "2 ranks x 16 with sync BN vs 1 x 32: relative difference " + rel);
    }

    /** Without synchronisation each rank normalises by its own 16 (or 13 / 12) examples: a different model. */
    @Test
    void withoutSyncBatchNormTheyDiffer() throws Exception {
        double rel = EquivalenceCases.relativeDifference(EquivalenceCases.readWeights(out.resolve("bn-local-rank0.bin")), one);
        System.out.printf("local batch norm vs one process f64: relative difference %.3g%n", rel);
        assertTrue(rel > 1e-6, "local batch statistics should change the result, relative difference " + rel);
    }

    @Test
    void refusedWhereARankWouldHaveNoExamplesAndMemoryIsFreed() {
        assertTrue(job.output().contains("ok rank 0 live bytes 0") && job.output().contains("ok rank 1 live bytes 0"),
                job.output());
    }
}
