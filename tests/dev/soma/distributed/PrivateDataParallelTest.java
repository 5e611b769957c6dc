package dev.soma.distributed;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * DP-SGD data-parallel (as Opacus' DPDDP): 2 ranks with batch 8 each share one Poisson sample of expected size 16,
 * clip their parts, add up the clipped sums and add the same noise, so after 2 epochs in f64 they hold the weights of
 * 1 process with batch 16 to rounding, with the same ε after every epoch: on the ghost-norm path (the CNN, also in
 * physical batches of 3) and on the per-example path (the LSTM).
 */
class PrivateDataParallelTest {
    @TempDir
    static Path out;
    private static MpiJob.Result job;

    @BeforeAll
    static void runTwoRanks() throws Exception {
        MpiJob.assumeMpirun();
        job = MpiJob.run(2, PrivateDataParallelMain.class, Map.of("SOMA_DIST_TIMEOUT", "60"), 240, out.toString());
        assertEquals(0, job.exitCode(), job.output());
    }

    @Test
    void bothRanksRefuseWhatCannotWorkAndEndWithNothingAllocated() {
        assertTrue(job.output().contains("ok rank 0 refusals") && job.output().contains("ok rank 1 refusals"), job.output());
        assertTrue(job.output().contains("ok rank 0 live bytes 0") && job.output().contains("ok rank 1 live bytes 0"),
                job.output());
    }

    @ParameterizedTest
    @ValueSource(strings = {"cnn", "lstm", "cnn-parts"})
    void twoRanksOfEightEqualOneProcessOfSixteen(String c) throws Exception {
        String[] history = new String[1];
        double rel = EquivalenceCases.ranksAgainstOneProcess(out, "dp-" + c, () -> PrivateDataParallelMain.model(c, 100), m -> {
            m.fit(EquivalenceCases.data(PrivateDataParallelMain.model(c)),
                    PrivateDataParallelMain.options(c, 2 * PrivateDataParallelMain.BATCH_PER_RANK, false));
            history[0] = m.history().get("loss") + " " + m.history().get("epsilon");
        });
        String oneHistory = history[0];
        System.out.printf("DP-SGD data-parallel %s: relative difference %.3g%n", c, rel);
        assertTrue(rel < 1e-13, c + ": 2 ranks x 8 against 1 process x 16, relative difference " + rel);
        String twoHistory = Files.readString(out.resolve("dp-" + c + "-history-rank0.txt"));
        String[] a = oneHistory.split(" \\["), b = twoHistory.split(" \\[");
        assertEquals(a[1], b[1], "ε after each epoch (the same sampling rate and steps)");
        double[] lossOne = values(a[0]), lossTwo = values(b[0]);
        for (int i = 0; i < lossOne.length; i++) {
            assertEquals(lossOne[i], lossTwo[i], 1e-12 * Math.abs(lossOne[i]), "loss of epoch " + (i + 1) + ": " + oneHistory
                    + " against " + twoHistory);
        }
    }

    private static double[] values(String list) {
        return java.util.Arrays.stream(list.replace("[", "").replace("]", "").split(","))
                .map(String::trim).mapToDouble(Double::parseDouble).toArray();
    }
}
