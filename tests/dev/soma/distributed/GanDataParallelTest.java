package dev.soma.distributed;

import dev.soma.memory.Scope;
import dev.soma.model.History;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * GAN training data-parallel on 2 MPI ranks (GanDataParallelMain) against 1 process in this JVM: both models of an
 * MLP GAN trained 2 ranks x batch 16 equal 1 process x batch 32 in f64 to rounding, with k = 1 (uneven last batch)
 * and k = 2 (a last batch of one example: rank 1 takes zero-gradient updates), and the logged values agree; with
 * batch normalisation in the generator they agree when its statistics are synchronised, and not otherwise.
 */
class GanDataParallelTest {
    @TempDir
    static Path out;
    private static MpiJob.Result job;

    @BeforeAll
    static void runTwoRanks() throws Exception {
        MpiJob.assumeMpirun();
        job = MpiJob.run(2, GanDataParallelMain.class, Map.of("SOMA_DDP_BUCKET_MB", "0.0002", "SOMA_DIST_TIMEOUT", "60"),
                180, out.toString());
        assertEquals(0, job.exitCode(), job.output());
    }

    @ParameterizedTest
    @ValueSource(strings = {"k1", "k2", "bn"})
    void twoRanksOfSixteenEqualOneProcessOfThirtyTwo(String c) throws Exception {
        History one;
        try (Scope s = Scope.open()) {
            one = GanDataParallelMain.train(c, false, 100, out.resolve("gan-" + c + "-%s-one.bin"));
        }
        for (String model : List.of("g", "d")) {
            double rel = relativeDifference(c, model, true);
            System.out.printf("data-parallel GAN %s, %s: relative difference %.3g%n", c, model, rel);
            // (synchronised batch norm sums its statistics in another order than one process: a few more roundings)
            assertTrue(rel < (c.equals("bn") ? 1e-12 : 1e-13), c + " " + model + ": 2 ranks x 16 vs 1 x 32, relative difference " + rel);
        }
        String history = Files.readString(out.resolve("gan-" + c + "-history-rank0.txt"));
        for (Map.Entry<String, List<Double>> e : one.all().entrySet()) {
            String key = e.getKey() + "=";
            int at = history.indexOf(key);
            assertTrue(at >= 0, "history of the 2-rank run lacks " + e.getKey() + ": " + history);
            String list = history.substring(history.indexOf('[', at) + 1, history.indexOf(']', at));
            double[] two = java.util.Arrays.stream(list.split(",")).map(String::trim).mapToDouble(Double::parseDouble).toArray();
            assertEquals(e.getValue().size(), two.length);
            for (int i = 0; i < two.length; i++) {
                assertEquals(e.getValue().get(i), two[i], 1e-12, c + " " + e.getKey() + " epoch " + i);
            }
        }
    }

    @Test
    void perRankBatchNormStatisticsDoNotTrainAsOneProcess() throws Exception {
        try (Scope s = Scope.open()) {
            GanDataParallelMain.train("bn-local", false, 100, out.resolve("gan-bn-local-%s-one.bin"));
        }
        double rel = relativeDifference("bn-local", "g", false);
        assertTrue(rel > 1e-6, "without synchronisation each rank normalises by its own 16 rows: relative difference "
                + rel + " (the bn case's agreement is not a coincidence)");
    }

    /**
     * Rank 0's weights of one model against the one-process run's; with {@code ranksAlike}, rank 1's must equal rank
     * 0's exactly (per-rank batch norm keeps per-rank moving statistics, so not there).
     */
    private static double relativeDifference(String c, String model, boolean ranksAlike) throws Exception {
        List<double[]> rank0 = EquivalenceCases.readWeights(out.resolve("gan-" + c + "-" + model + "-rank0.bin"));
        List<double[]> rank1 = EquivalenceCases.readWeights(out.resolve("gan-" + c + "-" + model + "-rank1.bin"));
        List<double[]> ref = EquivalenceCases.readWeights(out.resolve("gan-" + c + "-" + model + "-one.bin"));
        if (ranksAlike) {
            for (int i = 0; i < rank0.size(); i++) assertArrayEquals(rank0.get(i), rank1.get(i), 0.0, model + " param " + i);
        }
        return EquivalenceCases.relativeDifference(rank0, ref);
    }

    @Test
    void synchronisedBatchNormRefusesARankWithoutExamples() {
        for (int rank = 0; rank < 2; rank++) {
            assertTrue(job.output().contains("ok rank " + rank + " refused: GanTrainer.fit: synchronised batch "
                    + "normalisation needs examples on every rank in every update, but the last global batch of each "
                    + "epoch holds 1 example(s) for 2 ranks (65 examples, batch 16 per rank)"), job.output());
        }
    }

    @Test
    void bothRanksFreeEverything() {
        assertTrue(job.output().contains("ok rank 0 live bytes 0") && job.output().contains("ok rank 1 live bytes 0"),
                job.output());
    }
}
