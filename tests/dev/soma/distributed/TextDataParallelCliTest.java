package dev.soma.distributed;

import dev.soma.cli.SomaCli;
import dev.soma.data.DatasetFetcher;
import dev.soma.io.Safetensors;
import dev.soma.memory.Scope;
import dev.soma.tensor.Tensor;
import dev.soma.text.Imdb;
import dev.soma.text.Kjv;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code soma train} of the text models under an MPI launcher: the IMDB LSTM classifier and the KJV character LSTM,
 * 2 ranks x batch 16, end where 1 rank x batch 32 ends (f32: the same steps, sums in another order; the cosine
 * schedule counts global steps), and only rank 0 prints the result. A run that trained independent copies (each rank
 * all the data at batch 16) would take twice the steps and end elsewhere: on this charlm slice 2.54 against 2.91
 * validation loss.
 */
class TextDataParallelCliTest {
    /** f32 over tens of Adam steps: measured 3e-9 to 1.3e-8 between the runs; far below what a wrong step gives. */
    private static final double F32_AGREEMENT = 1e-5;

    @BeforeAll
    static void datasetsFetchedOnce() throws Exception {
        MpiJob.assumeMpirun();
        // Fetched here, once, so that two ranks never download into the same folder at the same time.
        Path root = DatasetFetcher.defaultDataRoot();
        Kjv.load(root, System.out::println);
        Imdb.load(root, System.out::println);
    }

    @Test
    void charLstmOnTwoRanksEndsWhereOneRankWithTheGlobalBatchEnds(@TempDir Path dir) throws Exception {
        List<String> common = List.of("train", "charlm", "--dataset", "kjv", "--limit", "40000", "--context", "50",
                "--epochs", "1", "--test-limit", "5000", "--lr-schedule", "cosine", "--learning-rate", "0.005", "--quiet");
        compare(dir, common, "val_bits_per_char=");
        assertTrue(Files.isRegularFile(dir.resolve("two").resolve("charlm.json")));
        assertTrue(Files.isRegularFile(dir.resolve("two").resolve("sample.txt")));
    }

    @Test
    void imdbLstmOnTwoRanksEndsWhereOneRankWithTheGlobalBatchEnds(@TempDir Path dir) throws Exception {
        List<String> common = List.of("train", "lstm", "--dataset", "imdb", "--limit", "672", "--test-limit", "300",
                "--max-length", "60", "--vocabulary", "2000", "--epochs", "2", "--validation-split", "0.1",
                "--lr-schedule", "cosine", "--quiet");
        compare(dir, common, "test_accuracy=");
        assertTrue(Files.isRegularFile(dir.resolve("two").resolve("vocabulary.txt")));
    }

    /** Runs {@code common} on 2 ranks x 16 and on 1 rank x 32 and compares their logs and checkpoints. */
    private static void compare(Path dir, List<String> common, String resultKey) throws Exception {
        MpiJob.Result two = MpiJob.run(2, SomaCli.class, Map.of("SOMA_DIST_TIMEOUT", "60"), 240,
                args(common, "16", dir.resolve("two")));
        assertEquals(0, two.exitCode(), two.output());
        assertTrue(two.output().contains("data-parallel: 2 ranks x batch 16 (global batch 32)"), two.output());
        assertEquals(1, count(two.output(), resultKey), "only rank 0 prints the result:\n" + two.output());
        MpiJob.Result one = MpiJob.run(1, SomaCli.class, Map.of(), 240, args(common, "32", dir.resolve("one")));
        assertEquals(0, one.exitCode(), one.output());
        assertFalse(one.output().contains("data-parallel"), one.output());

        List<String> twoLog = Files.readAllLines(dir.resolve("two").resolve("history.csv"));
        List<String> oneLog = Files.readAllLines(dir.resolve("one").resolve("history.csv"));
        assertEquals(oneLog.get(0), twoLog.get(0));
        assertEquals(oneLog.size(), twoLog.size());
        for (int row = 1; row < oneLog.size(); row++) {
            String[] a = oneLog.get(row).split(",");
            String[] b = twoLog.get(row).split(",");
            for (int col = 1; col < a.length; col++) {
                // Losses, not accuracies: an example whose probability sits within rounding of 0.5 may count
                // differently, and a count has no small relative error.
                if (!oneLog.get(0).split(",")[col].endsWith("loss")) continue;
                double x = Double.parseDouble(a[col]);
                double y = Double.parseDouble(b[col]);
                double rel = Math.abs(x - y) / Math.max(Math.abs(x), 1e-12);
                assertTrue(rel < F32_AGREEMENT, oneLog.get(0).split(",")[col] + " of epoch " + row + ": 1 x 32 gives " + x
                        + ", 2 x 16 gives " + y);
            }
        }
        double rel = weightDifference(dir.resolve("one").resolve("model.safetensors"), dir.resolve("two").resolve("model.safetensors"));
        System.out.printf("%s on 2 ranks x 16 against 1 x 32: largest relative weight difference (norm) %.3g%n", common.get(1), rel);
        assertTrue(rel < F32_AGREEMENT, "weights of 2 x 16 against 1 x 32: relative difference " + rel);
    }

    private static String[] args(List<String> common, String batch, Path out) {
        List<String> all = new ArrayList<>(common);
        all.addAll(List.of("--batch-size", batch, "--out", out.toString()));
        return all.toArray(String[]::new);
    }

    private static int count(String text, String key) {
        int n = 0;
        for (int at = text.indexOf(key); at >= 0; at = text.indexOf(key, at + 1)) n++;
        return n;
    }

    /**
     * The largest ||a - b|| / ||a|| over the tensors of two checkpoints. A norm, not the largest element: an
     * embedding row whose few gradient terms cancel carries little more than rounding, and Adam turns that into
     * a step of full size in either direction, so single elements may differ by the learning rate.
     */
    private static double weightDifference(Path a, Path b) throws Exception {
        try (Scope s = Scope.open()) {
            Map<String, Tensor> x = Safetensors.read(a).tensors();
            Map<String, Tensor> y = Safetensors.read(b).tensors();
            assertEquals(x.keySet(), y.keySet());
            double worst = 0;
            for (String name : x.keySet()) {
                double[] p = x.get(name).toDoubleArray();
                double[] q = y.get(name).toDoubleArray();
                double norm = 0;
                double diff = 0;
                for (int i = 0; i < p.length; i++) {
                    norm += p[i] * p[i];
                    diff += (p[i] - q[i]) * (p[i] - q[i]);
                }
                worst = Math.max(worst, Math.sqrt(diff / Math.max(norm, 1e-300)));
            }
            return worst;
        }
    }
}
