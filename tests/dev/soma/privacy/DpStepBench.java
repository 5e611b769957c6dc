package dev.soma.privacy;

import dev.soma.data.ArrayDataset;
import dev.soma.model.FitOptions;
import dev.soma.model.Sequential;
import dev.soma.optim.Adam;
import dev.soma.zoo.ReferenceModels;

import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Not a test: the time of one DP-SGD step against one ordinary step of the reference CNN, batch 32 (or args[1]), random 28x28
 * data, same process (run its main with the test classpath; see docs/privacy.md). Both run through fit, so both
 * include its per-step bookkeeping; an untimed warm-up epoch comes first;
 * three alternating rounds, the best of each.
 */
public final class DpStepBench {
    public static void main(String[] args) {
        int steps = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        int batch = args.length > 1 ? Integer.parseInt(args[1]) : 32, n = batch * steps;
        boolean general = args.length > 2 && args[2].equals("general"); // also time the general per-example path
        SplittableRandom r = new SplittableRandom(3);
        float[] x = new float[n * 28 * 28];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextDouble();
        int[] y = new int[n];
        for (int i = 0; i < n; i++) y[i] = r.nextInt(10);
        ArrayDataset data = ArrayDataset.withLabels(x, new long[] {28, 28, 1}, y);
        // Alternating rounds, best of each: load from other processes that drifts over the run hits both alike.
        double plain = Double.POSITIVE_INFINITY, dp = Double.POSITIVE_INFINITY;
        for (int round = 0; round < 3; round++) {
            plain = Math.min(plain, perStep(data, batch, steps, null));
            dp = Math.min(dp, perStep(data, batch, steps, new PrivacySettings(1.1, 1.0, 1e-5)));
        }
        System.out.printf(Locale.ROOT, "cnn batch %d, %d steps each: ordinary %.1f ms/step, DP-SGD (ghost norms) %.1f ms/step, ratio %.2fx%n",
                batch, steps, plain * 1e3, dp * 1e3, dp / plain);
        if (general) {
            double g = perStep(data, batch, steps, new PrivacySettings(1.1, 1.0, 1e-5).withGeneralPath());
            System.out.printf(Locale.ROOT, "DP-SGD (general path) %.1f ms/step, ratio %.1fx%n", g * 1e3, g / plain);
        }
    }

    private static double perStep(ArrayDataset data, int batch, int steps, PrivacySettings p) {
        try (Sequential m = ReferenceModels.imageClassifier("cnn", 10)) {
            m.seed(1).compile(new Adam(1e-3), "sparse_categorical_crossentropy", "accuracy");
            m.build(28, 28, 1);
            FitOptions warm = new FitOptions().batchSize(batch).epochs(1).verbose(0);
            FitOptions timed = new FitOptions().batchSize(batch).epochs(1).verbose(0).seed(9);
            if (p != null) {
                warm.privacy(p);
                timed.privacy(p);
            }
            m.fit(data, warm);
            long t0 = System.nanoTime();
            m.fit(data, timed);
            return (System.nanoTime() - t0) / 1e9 / steps;
        }
    }
}
