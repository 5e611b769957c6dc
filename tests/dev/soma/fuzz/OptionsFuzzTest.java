package dev.soma.fuzz;

import dev.soma.data.ArrayDataset;
import dev.soma.model.EarlyStopping;
import dev.soma.model.FitOptions;
import dev.soma.model.History;
import dev.soma.model.Loss;
import dev.soma.model.Sequential;
import dev.soma.nn.BatchNormalization;
import dev.soma.nn.Layer;
import dev.soma.optim.Adam;
import dev.soma.optim.AdamW;
import dev.soma.optim.LearningRateSchedule;
import dev.soma.optim.Optimizer;
import dev.soma.optim.RMSprop;
import dev.soma.optim.SGD;
import dev.soma.tensor.Device;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Supplier;

/**
 * The training options a user sets by hand, with values a user could pass by mistake: every optimizer's
 * hyper-parameters, weight decay and clipping, the built-in learning-rate schedules, label smoothing, the fit options
 * (batch size, epochs, validation split, noise, weight averaging, DP-SGD) and early stopping, each drawn plausible most
 * of the time and now and then NaN, an infinity, a negative number or zero; sizes (batch, decay steps, patience) now and
 * then the largest int, which is valid. Options are combined only as fit supports them. Then a short fit of a random
 * model of the model fuzzer's stacks. Judged:
 * <ul>
 * <li>every option either refused clearly where it is given (or when fit starts), or taken;</li>
 * <li>plausible options are never refused (a batch of 2^31 - 1 once wrapped to 0 steps per epoch);</li>
 * <li>a fit of taken options that ends must leave finite weights and finite logged values; where one is NaN or
 *     infinite, the culprit was a value that should have been refused (the plausible values train these small
 *     models without diverging);</li>
 * <li>no native memory left.</li>
 * </ul>
 * {@code -Dsoma.fuzz.seed=S}, {@code -Dsoma.fuzz.optionRuns=N} (default 60), {@code -Dsoma.fuzz.model=SEED}.
 */
@ExtendWith(NoLeaks.class)
class OptionsFuzzTest {
    static final long SEED = FuzzReports.seed(OptionsFuzzTest.class);
    static final int RUNS = Integer.getInteger("soma.fuzz.optionRuns", 60);
    /** What a user could pass by mistake for a number. */
    private static final double[] WILD = {Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, -1, -0.5, 0};

    private final Map<String, String> findings = new LinkedHashMap<>();
    private int trained, refusedAtOnce, refusedAtFit;

    @Test
    void trainingOptionsAreTakenOrRefusedClearlyAndNeverTrainToNaN() {
        int refused = FuzzReports.runTrials(SEED, RUNS, Long.getLong("soma.fuzz.model"), Device.cpu(), findings, this::trial);
        System.out.println("options fuzzing, seed " + SEED + ": " + trained + " fits ran, " + refusedAtOnce
                + " options refused where given, " + refusedAtFit + " fits refused, " + refused + " models refused, "
                + findings.size() + " findings");
        FuzzReports.failIfAny(findings, SEED);
    }

    /** The draws of one run: each number plausible, or one of {@link #WILD} (then named in {@link #wild}). */
    private static final class Knobs {
        final SplittableRandom r;
        final List<String> wild = new ArrayList<>();
        final List<String> all = new ArrayList<>();

        Knobs(SplittableRandom r) {
            this.r = r;
        }

        /** A value in [lo, hi), or one in five times a wild one. */
        double number(String name, double lo, double hi) {
            double v = r.nextInt(5) == 0 ? WILD[r.nextInt(WILD.length)] : lo + (hi - lo) * r.nextDouble();
            all.add(name + "=" + v);
            if (!(v >= lo && v < hi)) wild.add(name + "=" + v);
            return v;
        }

        int count(String name, int lo, int hi) {
            int v = r.nextInt(8) == 0 ? new int[] {0, -1, Integer.MIN_VALUE}[r.nextInt(3)] : lo + r.nextInt(hi - lo);
            all.add(name + "=" + v);
            if (v < lo) wild.add(name + "=" + v);
            return v;
        }

        /** {@link #count}, or one in eight times the largest int: valid ("all", "never"), but int arithmetic wraps on it. */
        int size(String name, int lo, int hi) {
            if (r.nextInt(8) != 0) return count(name, lo, hi);
            all.add(name + "=" + Integer.MAX_VALUE);
            return Integer.MAX_VALUE;
        }

        boolean flag() {
            return r.nextBoolean();
        }
    }

    private void trial(long seed) throws Throwable {
        SplittableRandom r = new SplittableRandom(seed);
        ModelStacks.Stack stack = ModelStacks.draw(r);
        Knobs k = new Knobs(r);
        try (Sequential m = new Sequential(stack.layers().toArray(new Layer[0]))) {
            m.seed(r.nextLong());
            m.build(stack.input());
            String where = "run seed " + seed + " (" + stack.family() + " " + Arrays.toString(stack.input()) + ")";
            Optimizer opt = given(() -> optimizer(k), k, where);
            if (opt == null) return;
            if (r.nextInt(3) == 0 && given(() -> opt.schedule(schedule(k)), k, where) == null) return;
            if (r.nextInt(4) == 0 && given(() -> opt.clipValue(k.number("clipValue", 0.1, 5)), k, where) == null) return;
            if (r.nextInt(4) == 0 && given(() -> opt.globalClipNorm(k.number("globalClipNorm", 0.1, 5)), k, where) == null) return;
            Loss loss = given(() -> r.nextInt(3) == 0
                    ? Loss.withLabelSmoothing("sparse_categorical_crossentropy", k.number("labelSmoothing", 0, 0.3))
                    : Loss.byName("sparse_categorical_crossentropy"), k, where);
            if (loss == null) return;
            m.compile(opt, loss, "accuracy");
            int n = 12 + r.nextInt(20);
            boolean batchStatistics = stack.layers().stream().anyMatch(l -> l instanceof BatchNormalization);
            FitOptions options = given(() -> fitOptions(k, n, stack.vocabulary() > 0, batchStatistics), k, where);
            if (options == null) return;
            ArrayDataset data = ModelFuzzTest.data(stack, n, r.nextLong());
            where += ", " + k.all;
            History h;
            try {
                h = m.fit(data, options);
            } catch (RuntimeException e) {
                String unclear = FuzzReports.unclearRefusal(e, false);
                if (unclear != null) record("fit " + unclear, where + ": " + e + " at " + FuzzReports.topFrames(e));
                if (k.wild.isEmpty()) record("fit refused plausible options", where + ": " + e.getMessage());
                refusedAtFit++;
                return;
            }
            trained++;
            String nonFinite = nonFinite(m, h);
            if (nonFinite != null) {
                record(k.wild.isEmpty() ? "plausible options trained to a non-finite value"
                        : "an option that should have been refused trained to a non-finite value", where + ": " + nonFinite
                        + (k.wild.isEmpty() ? "" : "; wild: " + k.wild));
            }
        } finally {
            for (Layer l : stack.layers()) l.close();
        }
    }

    /** The option made by {@code make}, or null when it was refused (clearly, or recorded as a finding). */
    private <T> T given(Supplier<T> make, Knobs k, String where) {
        try {
            return make.get();
        } catch (RuntimeException e) {
            String unclear = FuzzReports.unclearRefusal(e, false);
            if (unclear != null) record("an option " + unclear, where + ", " + k.all + ": " + e + " at " + FuzzReports.topFrames(e));
            if (k.wild.isEmpty()) record("a plausible option refused", where + ", " + k.all + ": " + e.getMessage());
            refusedAtOnce++;
            return null;
        }
    }

    private static Optimizer optimizer(Knobs k) {
        double lr = k.number("learningRate", 0.001, 0.05);
        return switch (k.r.nextInt(5)) {
            case 0 -> {
                SGD sgd = new SGD(lr, k.flag() ? 0 : k.number("momentum", 0, 0.95), false);
                yield k.flag() ? sgd.weightDecay(k.number("weightDecay", 0, 0.01)) : sgd;
            }
            case 1 -> new SGD(lr, k.number("momentum", 0.1, 0.95), true);
            case 2 -> {
                Adam adam = new Adam(lr, k.number("beta1", 0.5, 0.95), k.number("beta2", 0.9, 0.9999),
                        k.number("epsilon", 1e-8, 1e-6));
                yield k.flag() ? adam.weightDecay(k.number("weightDecay", 0, 0.01)) : adam;
            }
            case 3 -> new AdamW(lr, k.number("weightDecay", 0, 0.05));
            default -> new RMSprop(lr, k.number("rho", 0.5, 0.99), k.flag() ? 0 : k.number("momentum", 0, 0.9),
                    k.number("epsilon", 1e-8, 1e-6));
        };
    }

    private static LearningRateSchedule schedule(Knobs k) {
        return switch (k.r.nextInt(4)) {
            case 0 -> LearningRateSchedule.exponentialDecay(k.number("initial", 0.001, 0.05), k.size("decaySteps", 1, 20),
                    k.number("rate", 0.5, 0.99), k.flag());
            case 1 -> LearningRateSchedule.cosineDecay(k.number("initial", 0.001, 0.05), k.size("decaySteps", 1, 20),
                    k.number("alpha", 0, 0.5));
            case 2 -> LearningRateSchedule.piecewiseConstant(new long[] {k.count("boundary", 1, 5), 5 + k.r.nextInt(5)},
                    new double[] {k.number("value0", 0.001, 0.05), k.number("value1", 0.001, 0.05), k.number("value2", 0.001, 0.05)});
            default -> LearningRateSchedule.constant(k.number("constant", 0.001, 0.05));
        };
    }

    /**
     * Fit options for {@code n} examples, combined only in ways fit supports: input noise neither on token ids nor
     * under DP-SGD, DP-SGD neither with batch statistics (as Opacus) nor with a batch above the training part (its
     * sampling rate is batch / examples; a split below 0.5 leaves more than n / 2), val_loss only with a split.
     */
    private static FitOptions fitOptions(Knobs k, int n, boolean ids, boolean batchStatistics) {
        boolean privacy = k.r.nextInt(5) == 0 && !batchStatistics;
        FitOptions o = new FitOptions().batchSize(privacy ? k.count("batchSize", 1, n / 2 + 1) : k.size("batchSize", 1, 16))
                .epochs(k.count("epochs", 1, 3)).seed(k.r.nextLong()).shuffle(k.flag()).verbose(0);
        boolean split = k.r.nextInt(3) == 0;
        if (split) o.validationSplit(k.number("validationSplit", 0.1, 0.5));
        if (!ids && !privacy && k.r.nextInt(4) == 0) o.gaussianNoise(k.number("noiseSigma", 0, 0.5));
        if (k.r.nextInt(4) == 0) o.weightAverage(k.number("weightAverage", 0, 0.99));
        if (privacy) o.privacy(k.number("noiseMultiplier", 0.3, 2), k.number("maxGradNorm", 0.1, 2), k.number("delta", 1e-6, 1e-3));
        if (k.r.nextInt(3) == 0) {
            String monitor = k.flag() ? "loss" : k.flag() || !split ? "accuracy" : "val_loss";
            o.callbacks(new EarlyStopping(monitor, k.size("patience", 0, 3), k.number("minDelta", 0, 0.01), k.flag()));
        }
        return o;
    }

    /** Where the model's weights or the logged values stopped being finite, or null. */
    private static String nonFinite(Sequential m, History h) {
        List<float[]> weights = WeightLists.of(m);
        for (int i = 0; i < weights.size(); i++) {
            for (float v : weights.get(i)) if (!Float.isFinite(v)) return "weight " + m.params().get(i).name() + " holds " + v;
        }
        for (Map.Entry<String, List<Double>> e : h.all().entrySet()) {
            for (double v : e.getValue()) {
                // DP-SGD without noise (noiseMultiplier 0, clipping only) honestly guarantees no privacy: epsilon = ∞.
                if (v == Double.POSITIVE_INFINITY && e.getKey().equals("epsilon")) continue;
                if (!Double.isFinite(v)) return "logged " + e.getKey() + " " + e.getValue();
            }
        }
        return null;
    }

    private void record(String what, String example) {
        findings.putIfAbsent(what, example);
    }
}
