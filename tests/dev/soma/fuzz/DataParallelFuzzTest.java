package dev.soma.fuzz;

import dev.soma.distributed.MpiJob;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.io.DataInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Data parallelism on random models: 2 ranks of B examples (mpirun, {@link DataParallelFuzzMain}) must train as one
 * process of 2B does ({@link DataParallelCase}: the model fuzzer's stacks in float64 and graphs in float32, without
 * dropout, batch normalisation synchronised, DP-SGD now and then, uneven last batches). Both ranks must end on the
 * same weights, within 1e-11 of the one process's (float32: 1e-4), with the same losses, and refuse the same models. {@code -Dsoma.fuzz.seed=S},
 * {@code -Dsoma.fuzz.ddpModels=N} (default 16; about half have dropout and are left out).
 */
@ExtendWith(NoLeaks.class)
class DataParallelFuzzTest {
    static final long SEED = FuzzReports.seed(DataParallelFuzzTest.class);
    static final int MODELS = Integer.getInteger("soma.fuzz.ddpModels", 16);
    /** Float64 stacks: rounding in other orders only; float32 graphs: that, through two epochs of SGD. */
    private static final double BOUND = 1e-11, BOUND_F32 = 1e-4;

    @Test
    void twoRanksTrainRandomModelsAsOneProcess(@TempDir Path out) throws Throwable {
        MpiJob.Result job = MpiJob.run(2, DataParallelFuzzMain.class, Map.of("SOMA_DIST_TIMEOUT", "60"), 300,
                out.toString(), Long.toString(SEED), Integer.toString(MODELS));
        assertEquals(0, job.exitCode(), "the 2-rank job (seed " + SEED + ") failed:\n" + job.output());
        Map<String, String> findings = new LinkedHashMap<>();
        int compared = 0, refused = 0;
        double worst = 0;
        SplittableRandom seeds = new SplittableRandom(SEED);
        for (int i = 0; i < MODELS; i++) {
            long seed = seeds.nextLong();
            DataParallelCase.Trained one = DataParallelCase.train(seed, 100, 2, false);
            if (one == null) continue; // dropout: not written by the ranks either
            Read r0 = read(out.resolve(seed + "-rank0.bin")), r1 = read(out.resolve(seed + "-rank1.bin"));
            String where = "model seed " + seed;
            if (!r0.refusal().equals(r1.refusal())) {
                findings.putIfAbsent("ranks refuse differently", where + ": " + r0.refusal() + " | " + r1.refusal());
                continue;
            }
            if (!r0.refusal().isEmpty()) {
                refused++;
                if (Boolean.getBoolean("soma.fuzz.verbose")) System.out.println("refused: " + seed + ": " + r0.refusal());
                continue; // (syncBatchNorm needs examples on every rank in every step: refused before any step)
            }
            if (one.refusal() != null) {
                findings.putIfAbsent("is refused in one process only", where + ": " + one.refusal());
                continue;
            }
            compared++;
            if (!same(r0.weights(), r1.weights())) findings.putIfAbsent("ranks end on different weights", where);
            double rel = relative(r0.weights(), one.weights()), bound = one.f32() ? BOUND_F32 : BOUND;
            if (!one.f32()) worst = Math.max(worst, rel);
            if (!(rel <= bound)) {
                findings.putIfAbsent("2 ranks train otherwise than one process", where + ": relative difference " + rel);
            }
            for (int e = 0; e < one.losses().size(); e++) {
                if (!(Math.abs(r0.losses().get(e) - one.losses().get(e)) <= bound * Math.abs(one.losses().get(e)) + 1e-12)) {
                    findings.putIfAbsent("2 ranks log another loss than one process", where + ": epoch " + e + " "
                            + r0.losses().get(e) + " against " + one.losses().get(e));
                }
            }
        }
        System.out.println("data-parallel fuzzing, seed " + SEED + ": " + compared + " models compared with one process, "
                + refused + " refused by both ranks, largest relative difference (float64) " + worst + ", " + findings.size()
                + " findings (job " + Math.round(job.seconds()) + " s)");
        FuzzReports.failIfAny(findings, SEED);
    }

    private record Read(String refusal, List<Double> losses, List<double[]> weights) {}

    private static Read read(Path file) throws Exception {
        try (DataInputStream in = new DataInputStream(Files.newInputStream(file))) {
            String refusal = in.readUTF();
            List<Double> losses = new ArrayList<>();
            for (int i = 0, n = in.readInt(); i < n; i++) losses.add(in.readDouble());
            List<double[]> weights = new ArrayList<>();
            for (int i = 0, n = in.readInt(); i < n; i++) {
                double[] w = new double[in.readInt()];
                for (int k = 0; k < w.length; k++) w[k] = in.readDouble();
                weights.add(w);
            }
            return new Read(refusal, losses, weights);
        }
    }

    private static boolean same(List<double[]> a, List<double[]> b) {
        if (a.size() != b.size()) return false;
        for (int i = 0; i < a.size(); i++) if (!java.util.Arrays.equals(a.get(i), b.get(i))) return false;
        return true;
    }

    private static double relative(List<double[]> got, List<double[]> want) {
        double diff = 0, norm = 0;
        for (int i = 0; i < want.size(); i++) {
            for (int k = 0; k < want.get(i).length; k++) {
                double d = got.get(i)[k] - want.get(i)[k];
                diff += d * d;
                norm += want.get(i)[k] * want.get(i)[k];
            }
        }
        return Math.sqrt(diff) / Math.max(Math.sqrt(norm), 1e-300);
    }
}
