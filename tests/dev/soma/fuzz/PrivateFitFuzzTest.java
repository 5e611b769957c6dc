package dev.soma.fuzz;

import dev.soma.data.ArrayDataset;
import dev.soma.data.Batch;
import dev.soma.data.Dataset;
import dev.soma.memory.Scope;
import dev.soma.model.FitOptions;
import dev.soma.model.FunctionalModel;
import dev.soma.model.History;
import dev.soma.model.LayerNode;
import dev.soma.model.Model;
import dev.soma.model.Sequential;
import dev.soma.nn.Layer;
import dev.soma.nn.Param;
import dev.soma.optim.SGD;
import dev.soma.privacy.PrivacySettings;
import dev.soma.privacy.PrivateStep;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * DP-SGD on random models, against the definition: each example's gradient, clipped, summed.
 * <ul>
 * <li>One step ({@link PrivateStep}, no noise) on random classifiers ({@link PrivateStacks}): each example's gradient
 * norm and the clipped sum must equal those the test forms itself from a backward per example; with a clipping bound
 * no example reaches, the sum must equal the ordinary batch gradient. The ghost-norm path and the per-example path
 * are both judged, with random physical batches.</li>
 * <li>Whole fits with noise ({@link PrivacySettings#withGeneralPath}): the same model trained privately by the default
 * (ghost-norm where it applies) and by the per-example path must end on the same losses, ε and weights, for random
 * classifiers, the model fuzzer's stacks and functional graphs (several inputs and heads, shared and nested layers,
 * regularizers), frozen layers included; both must refuse the same models clearly (batch statistics).</li>
 * </ul>
 * Models with dropout are left out: the two paths draw their masks differently. The seed changes every run and is
 * printed: {@code -Dsoma.fuzz.seed=S} replays a run, {@code -Dsoma.fuzz.privateModels=N} sets how many models per test
 * (default 40), {@code -Dsoma.fuzz.model=SEED} replays one.
 */
@ExtendWith(NoLeaks.class)
class PrivateFitFuzzTest {
    static final long SEED = FuzzReports.seed(PrivateFitFuzzTest.class);
    static final int MODELS = Integer.getInteger("soma.fuzz.privateModels", 40);
    /** Float32 sums in other orders, then two epochs of SGD: the same bound as the GPU model fuzzer's. */
    private static final double BOUND = 1e-3;
    /**
     * Weights are judged on a scale of at least 1e-6 per element. A bias whose gradient is zero in exact arithmetic
     * ends at float32 rounding noise on both paths, and two noises differ by their whole size: CI seed 34338355215500
     * drew a Dense bias at 1e-12 to 5e-11 after two epochs (relative error 1.4, the losses equal to the last digit).
     */
    private static final double WEIGHT_FLOOR = 1e-6;

    private final Map<String, String> findings = new LinkedHashMap<>();
    private int judged, ghost, skipped;
    private List<String> names = List.of(); // the step trial's trainable parameters, for findings

    @Test
    void aPrivateStepIsTheSumOfClippedPerExampleGradients() throws Throwable {
        run("private steps", this::stepTrial);
    }

    @Test
    void privateFitsOnTheGhostPathEndWhereThePerExamplePathEnds() throws Throwable {
        run("private fits", this::fitTrial);
    }

    private void run(String what, FuzzReports.Trial trial) {
        int refused = FuzzReports.runTrials(SEED, MODELS, Long.getLong("soma.fuzz.model"), Device.cpu(), findings, trial);
        skipped += refused; // (after the call: the trials count their own skips into the field)
        System.out.println(what + ", seed " + SEED + ": " + judged + " models judged"
                + (ghost > 0 ? " (" + ghost + " on the ghost-norm path)" : "") + ", " + skipped
                + " skipped (dropout) or refused, " + findings.size() + " findings");
        FuzzReports.failIfAny(findings, SEED);
    }

    // ---- one step against the definition ----

    private void stepTrial(long seed) throws Throwable {
        SplittableRandom r = new SplittableRandom(seed);
        ModelStacks.Stack stack = PrivateStacks.draw(r);
        try (Sequential m = new Sequential(stack.layers().toArray(new Layer[0]))) {
            String where = "model seed " + seed + " (" + stack.family() + " " + Arrays.toString(stack.input()) + "): " + m.layers();
            if (stochastic(m.layers())) {
                skipped++;
                return;
            }
            m.seed(seed).compile(new SGD(0.01), "sparse_categorical_crossentropy");
            m.build(stack.input());
            freezeSomeLayer(m.layers(), r);
            int n = 1 + r.nextInt(9);
            ArrayDataset data = ModelFuzzTest.data(stack, n, r.nextLong());
            List<Tensor> params = trainable(m);
            names = new ArrayList<>();
            for (Param p : m.params()) if (p.trainable()) names.add(p.name());
            if (params.isEmpty()) {
                skipped++;
                return;
            }
            int physical = r.nextBoolean() ? Integer.MAX_VALUE : 1 + r.nextInt(n);
            // Each example's gradient, by a backward of its own (the definition).
            List<List<double[]>> perExample = new ArrayList<>();
            double[] norms = new double[n];
            for (int i = 0; i < n; i++) {
                List<double[]> g = gradients(m, params, data.gather(new int[] {i}));
                perExample.add(g);
                norms[i] = norm(g);
            }
            // A bound no example reaches: the mean of the examples' gradients, which the batch's own backward also gives.
            List<double[]> batchGradient = gradients(m, params, data.gather(all(n)));
            PrivateStep unclipped = step(m, params, data, 1e30, physical);
            expect(batchGradient, read(params), "without clipping, the private gradient is not the batch gradient",
                    where, unclipped);
            if (unclipped.lastStepUsedGhostNorms()) {
                ghost++;
                double[] ghostNorms = unclipped.lastGhostNorms();
                for (int i = 0; i < n; i++) {
                    if (!(Math.abs(ghostNorms[i] - norms[i]) <= BOUND * Math.max(norms[i], 1e-6))) {
                        record("gives an example another gradient norm than its own backward",
                                where + ": example " + i + " of " + n + ", ghost " + ghostNorms[i] + ", backward " + norms[i]);
                        break;
                    }
                }
            }
            // A bound between the norms: some examples are clipped, some not.
            double[] sorted = norms.clone();
            Arrays.sort(sorted);
            double clip = n == 1 ? sorted[0] / 2 : sorted[n / 2];
            if (clip > 0) {
                List<double[]> clippedSum = new ArrayList<>();
                for (double[] p : perExample.get(0)) clippedSum.add(new double[p.length]);
                for (int i = 0; i < n; i++) {
                    double scale = Math.min(1.0, clip / (norms[i] + 1e-6)) / n; // Opacus' factor; the mean over the batch
                    for (int j = 0; j < clippedSum.size(); j++) {
                        double[] s = clippedSum.get(j), g = perExample.get(i).get(j);
                        for (int e = 0; e < s.length; e++) s[e] += scale * g[e];
                    }
                }
                PrivateStep clipped = step(m, params, data, clip, physical);
                expect(clippedSum, read(params), "clips other gradients than the examples' own", where + ", bound " + clip,
                        clipped);
            }
            for (Tensor p : params) p.zeroGrad();
            judged++;
        } finally {
            for (Layer l : stack.layers()) l.close();
        }
    }

    private static PrivateStep step(Sequential m, List<Tensor> params, ArrayDataset data, double clip, int physical) {
        int n = (int) data.size();
        PrivateStep dp = new PrivateStep(new PrivacySettings(0, clip, 1e-5), n, n, 3, 0).physicalBatch(physical);
        dp.computeGradients(data, all(n), params, Device.cpu(), (xs, ys) -> m.compiledLoss(xs.get(0), ys.get(0), true));
        return dp;
    }

    /** The gradients of the mean training loss of {@code batch} (of one example: that example's own gradient). */
    private static List<double[]> gradients(Sequential m, List<Tensor> params, Batch batch) {
        for (Tensor p : params) p.zeroGrad();
        try (Scope s = Scope.open()) {
            m.compiledLoss(batch.featureTensors(Device.cpu()).get(0), batch.targetTensors(Device.cpu()).get(0), true)
                    .backward();
        }
        List<double[]> out = read(params);
        for (Tensor p : params) p.zeroGrad();
        return out;
    }

    private static List<double[]> read(List<Tensor> params) {
        List<double[]> out = new ArrayList<>();
        for (Tensor p : params) out.add(p.grad() == null ? new double[Math.toIntExact(p.numel())] : p.grad().toDoubleArray());
        return out;
    }

    private void expect(List<double[]> want, List<double[]> got, String what, String where, PrivateStep dp) {
        double diff = 0, norm = 0, worst = 0;
        String worstName = "";
        for (int j = 0; j < want.size(); j++) {
            double[] w = want.get(j), g = got.get(j);
            double d = 0, size = 0;
            for (int e = 0; e < w.length; e++) {
                d += (g[e] - w[e]) * (g[e] - w[e]);
                size += w[e] * w[e];
            }
            diff += d;
            norm += size;
            if (d > worst) {
                worst = d;
                worstName = names.get(j) + " (" + Math.sqrt(d) + " off a norm of " + Math.sqrt(size) + ")";
            }
        }
        if (!(Math.sqrt(diff) <= BOUND * Math.sqrt(norm) + 1e-7)) {
            record(what, where + " (" + (dp.lastStepUsedGhostNorms() ? "ghost-norm" : "per-example") + " path): relative error "
                    + Math.sqrt(diff) / Math.sqrt(norm) + ", most in " + worstName);
        }
    }

    /** The mean gradient of a batch of one, scaled: one example's own; its L2 norm over all trainable parameters. */
    private static double norm(List<double[]> g) {
        double s = 0;
        for (double[] p : g) for (double v : p) s += v * v;
        return Math.sqrt(s);
    }

    // ---- whole fits: ghost-norm path against the per-example path ----

    private void fitTrial(long seed) throws Throwable {
        SplittableRandom r = new SplittableRandom(seed);
        int kind = r.nextInt(6);
        long drawSeed = r.nextLong();
        int n = 8 + r.nextInt(17);
        long dataSeed = r.nextLong();
        double sigma = r.nextInt(3) == 0 ? 0 : 0.3 + r.nextDouble();
        double clip = Math.exp(Math.log(0.05) + r.nextDouble() * Math.log(100)); // 0.05 to 5: clipping some, all or none
        int batch = 2 + r.nextInt(n / 2);
        FitOptions options = new FitOptions().batchSize(batch).epochs(2).seed(r.nextLong()).verbose(0);
        if (r.nextInt(3) == 0) options.privacyPhysicalBatch(1 + r.nextInt(batch));
        double lr = 0.005 + 0.03 * r.nextDouble(), momentum = r.nextBoolean() ? 0 : 0.5;
        long freezeSeed = r.nextLong();
        String where = "model seed " + seed + " (" + (kind == 5 ? "graph" : kind == 4 ? "model fuzzer's stack" : "private stack")
                + ", sigma " + sigma + ", clip " + clip + ", batch " + batch + ")";
        List<History> histories = new ArrayList<>();
        List<List<float[]>> weights = new ArrayList<>();
        List<String> refusals = new ArrayList<>();
        boolean stochastic = false;
        for (boolean general : new boolean[] {false, true}) {
            Drawn d = draw(kind, drawSeed, n, dataSeed);
            try (Model m = d.model()) {
                if (!general) where += ": " + d.layers();
                stochastic |= stochastic(d.layers());
                if (stochastic) break;
                m.seed(seed).compile(new SGD(lr, momentum, false), d.losses(), d.lossWeights());
                PrivacySettings settings = new PrivacySettings(sigma, clip, 1e-5);
                String refusal = null;
                try {
                    freezeSomeLayer(m, d, new SplittableRandom(freezeSeed));
                    histories.add(m.fit(d.data(), options.privacy(general ? settings.withGeneralPath() : settings)));
                    weights.add(WeightLists.of(m));
                } catch (Throwable e) {
                    if (!FuzzReports.isRefusal(e)) throw e;
                    String unclear = FuzzReports.unclearRefusal(e, false);
                    if (unclear != null) record(unclear, where + ": " + e + " at " + FuzzReports.topFrames(e));
                    refusal = String.valueOf(e.getMessage());
                }
                refusals.add(refusal);
            } finally {
                for (Layer l : d.layers()) l.close();
            }
        }
        if (stochastic) {
            skipped++;
            return;
        }
        if ((refusals.get(0) == null) != (refusals.get(1) == null)) {
            record("is refused on one path only", where + ": ghost-norm " + refusals.get(0) + "; per-example " + refusals.get(1));
            return;
        }
        if (refusals.get(0) != null) {
            skipped++;
            return;
        }
        judged++;
        for (String key : List.of("loss", "epsilon")) {
            List<Double> a = histories.get(0).get(key), b = histories.get(1).get(key);
            for (int e = 0; e < a.size(); e++) {
                double x = a.get(e), y = b.get(e);
                if (!(x == y || Math.abs(x - y) <= BOUND * Math.max(Math.abs(y), 1e-6))) {
                    record("reports another " + key + " on the ghost-norm path", where + ": epoch " + e + ": " + x + " against " + y);
                }
            }
        }
        for (int i = 0; i < weights.get(0).size(); i++) {
            double rel = WeightLists.relative(weights.get(0).get(i), weights.get(1).get(i), WEIGHT_FLOOR);
            if (!(rel <= BOUND)) {
                record("trains to other weights on the ghost-norm path", where + ": weight " + i + " relative error " + rel);
                break;
            }
        }
    }

    /** A model of the trial's kind, its layers (for closing, even unbuilt), data, losses. */
    private record Drawn(Model model, List<Layer> layers, Dataset data, List<dev.soma.model.Loss> losses,
                         List<Double> lossWeights, long[] input) {}

    private static Drawn draw(int kind, long drawSeed, int n, long dataSeed) throws Throwable {
        SplittableRandom r = new SplittableRandom(drawSeed);
        if (kind == 5) {
            ModelGraphs.Graph g = ModelGraphs.draw(r);
            FunctionalModel m = g.model();
            List<Layer> layers = new ArrayList<>();
            for (LayerNode node : m.nodes()) layers.add(node.layer());
            return new Drawn(m, layers, ModelGraphs.data(g, n, dataSeed), g.losses(),
                    java.util.Collections.nCopies(g.losses().size(), 1.0), null);
        }
        ModelStacks.Stack s = kind == 4 ? ModelStacks.draw(r) : PrivateStacks.draw(r);
        return new Drawn(new Sequential(s.layers().toArray(new Layer[0])), s.layers(), ModelFuzzTest.data(s, n, dataSeed),
                List.of(dev.soma.model.Loss.byName("sparse_categorical_crossentropy")), List.of(1.0), s.input());
    }

    private static void freezeSomeLayer(Model m, Drawn d, SplittableRandom r) {
        if (d.input() == null) return; // a graph builds at its first fit
        m.build(d.input());
        freezeSomeLayer(d.layers(), r);
    }

    /** One layer with weights, chosen at random, left untrained. */
    private static void freezeSomeLayer(List<Layer> layers, SplittableRandom r) {
        List<Layer> weighted = new ArrayList<>();
        for (Layer l : layers) if (!l.params().isEmpty()) weighted.add(l);
        if (weighted.size() < 2 || r.nextInt(3) != 0) return;
        for (Param p : weighted.get(r.nextInt(weighted.size())).params()) p.setTrainable(false);
    }

    private static boolean stochastic(List<Layer> layers) {
        for (Layer l : layers) if (LayerFuzzer.stochastic(l.config())) return true;
        return false;
    }

    private static List<Tensor> trainable(Model m) {
        List<Tensor> out = new ArrayList<>();
        for (Param p : m.params()) if (p.trainable()) out.add(p.value());
        return out;
    }

    private static int[] all(int n) {
        int[] a = new int[n];
        for (int i = 0; i < n; i++) a[i] = i;
        return a;
    }

    private void record(String what, String example) {
        findings.putIfAbsent(what, example);
    }
}
