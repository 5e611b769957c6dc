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
 * and k = 2 (a last batch of one example: rank 1 takes zero-gradient updates), and the logged values agree.
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
    @ValueSource(strings = {"k1", "k2"})
    void twoRanksOfSixteenEqualOneProcessOfThirtyTwo(String c) throws Exception {
        History one;
        try (Scope s = Scope.open()) {
            one = GanDataParallelMain.train(c, false, 100, out.resolve("gan-" + c + "-%s-one.bin"));
        }
        for (String model : List.of("g", "d")) {
            List<double[]> rank0 = EquivalenceCases.readWeights(out.resolve("gan-" + c + "-" + model + "-rank0.bin"));
            List<double[]> rank1 = EquivalenceCases.readWeights(out.resolve("gan-" + c + "-" + model + "-rank1.bin"));
            List<double[]> ref = EquivalenceCases.readWeights(out.resolve("gan-" + c + "-" + model + "-one.bin"));
            for (int i = 0; i < rank0.size(); i++) assertArrayEquals(rank0.get(i), rank1.get(i), 0.0, model + " param " + i);
            double diff = 0, norm = 0;
            for (int i = 0; i < ref.size(); i++) {
                for (int k = 0; k < ref.get(i).length; k++) {
                    assertTrue(Double.isFinite(rank0.get(i)[k]));
                    diff += Math.pow(rank0.get(i)[k] - ref.get(i)[k], 2);
                    norm += Math.pow(ref.get(i)[k], 2);
                }
            }
            double rel = Math.sqrt(diff / norm);
            System.out.printf("data-parallel GAN %s, %s: relative difference %.3g%n", c, model, rel);
            assertTrue(rel < 1e-13, c + " " + model + ": 2 ranks x 16 vs 1 x 32, relative difference " + rel);
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
    void bothRanksFreeEverything() {
        assertTrue(job.output().contains("ok rank 0 live bytes 0") && job.output().contains("ok rank 1 live bytes 0"),
                job.output());
    }
}
