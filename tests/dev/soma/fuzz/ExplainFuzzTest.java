package dev.soma.fuzz;

import dev.soma.autograd.GradMode;
import dev.soma.explain.Attribution;
import dev.soma.explain.AttributionMethod;
import dev.soma.explain.Baseline;
import dev.soma.explain.GradientTimesInput;
import dev.soma.explain.IntegratedGradients;
import dev.soma.explain.IntegrationRule;
import dev.soma.explain.Occlusion;
import dev.soma.explain.Saliency;
import dev.soma.explain.SmoothGrad;
import dev.soma.explain.Target;
import dev.soma.explain.TokenAttribution;
import dev.soma.memory.Scope;
import dev.soma.model.FunctionalModel;
import dev.soma.model.Model;
import dev.soma.model.Sequential;
import dev.soma.nn.Layer;
import dev.soma.nn.Param;
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
 * Attribution methods ({@code dev.soma.explain}) on random models (the model fuzzer's image, sequence, feature and
 * token-id stacks, and its functional graphs of one input; untrained), each judged against its definition computed
 * here another way, from the model's scores and single-example saliency only:
 * <ul>
 * <li>integrated gradients: the rule's weighted sum of the saliency at each point of the path, times (x − b), and its
 *     convergence delta: the attributions' sum less F(x) − F(b);</li>
 * <li>occlusion: F(x) − F(x with the window filled), averaged over the windows covering each element, the windows
 *     enumerated here;</li>
 * <li>gradient × input: the saliency times x; SmoothGrad without noise: the saliency; with a seed: repeatable;</li>
 * <li>the logit target: the softmax of the logits is the output target's probability;</li>
 * <li>scores in a batch: each example's score alone (inference: batch statistics, dropout and masks never mix
 *     examples);</li>
 * <li>every method's reported score: F(x);</li>
 * <li>on token ids ({@link TokenAttribution}): each token's value is its embedding's sum, and the score, run from the
 *     embedding's output with the ids' padding mask, is the model's own score of the ids;</li>
 * <li>the model: no weight changed and no gradient left on a parameter; no native memory left allocated.</li>
 * </ul>
 * Wrong example shapes, classes, ids and settings, and non-finite values, must be refused clearly.
 * {@code -Dsoma.fuzz.seed=S}, {@code -Dsoma.fuzz.explainModels=N} (default 40), {@code -Dsoma.fuzz.model=SEED}.
 */
@ExtendWith(NoLeaks.class)
class ExplainFuzzTest {
    static final long SEED = FuzzReports.seed(ExplainFuzzTest.class);
    static final int MODELS = Integer.getInteger("soma.fuzz.explainModels", 40);

    private final Map<String, String> findings = new LinkedHashMap<>();
    private int judged, graphs, texts, refusalsChecked;

    @Test
    void attributionsMeetTheirDefinitionsOnRandomModels() {
        int refused = FuzzReports.runTrials(SEED, MODELS, Long.getLong("soma.fuzz.model"), Device.cpu(), findings, this::trial);
        System.out.println("explain fuzzing, seed " + SEED + ": " + judged + " models judged (" + graphs + " graphs, "
                + texts + " on token ids), " + refused + " refused, " + refusalsChecked + " bad inputs refused, "
                + findings.size() + " findings");
        FuzzReports.failIfAny(findings, SEED);
    }

    /** A Sequential stack (two draws in three) or a functional graph of one input (the model fuzzer's). */
    private void trial(long seed) throws Throwable {
        SplittableRandom r = new SplittableRandom(seed);
        if (r.nextInt(3) == 0) {
            ModelGraphs.Graph g = ModelGraphs.draw(r);
            while (g.inputs().size() > 1) { // a target explains one input
                g.model().close();
                g = ModelGraphs.draw(r);
            }
            try (FunctionalModel m = g.model()) {
                m.seed(r.nextLong());
                m.build(g.inputs().get(0));
                String where = "model seed " + seed + " (graph on " + Arrays.toString(g.inputs().get(0)) + ", "
                        + m.outputs().size() + " outputs): " + m.nodes().stream().map(node -> node.layer().typeName()).toList();
                judge(m, null, g.classes(), g.inputs().get(0), r, where);
            }
            return;
        }
        ModelStacks.Stack stack = ModelStacks.draw(r);
        long[] shape = stack.input();
        try (Sequential m = new Sequential(stack.layers().toArray(new Layer[0]))) {
            String where = "model seed " + seed + " (" + stack.family() + " " + Arrays.toString(shape) + "): "
                    + m.layers().stream().map(Layer::typeName).toList();
            m.seed(r.nextLong());
            m.build(shape);
            if (stack.vocabulary() > 0) judgeText(m, stack, r, where);
            else judge(m, m, stack.classes(), shape, r, where);
        } finally {
            for (Layer l : stack.layers()) l.close();
        }
    }

    /** {@code sequential} is the model when it is one (logit targets), else null; the first output has the classes. */
    private void judge(Model m, Sequential sequential, int classes, long[] shape, SplittableRandom r, String where) {
        int per = Math.toIntExact(Arrays.stream(shape).reduce(1, Math::multiplyExact));
        float[] x = gaussian(r, per);
        int unit = r.nextInt(classes);
        boolean logit = sequential != null && r.nextBoolean();
        Target t = logit ? Target.logit(sequential, unit) : output(m, unit);
        where += ", " + t.description();
        List<float[]> weights = WeightLists.of(m);

        float fx = score(t, x);
        float[] saliency = scored(new Saliency().attribute(t, x, shape), fx, where).values();

        // Gradient × input, and SmoothGrad at zero noise, are the saliency.
        float[] gxi = scored(new GradientTimesInput().attribute(t, x, shape), fx, where).values();
        float[] sx = new float[per];
        for (int i = 0; i < per; i++) sx[i] = saliency[i] * x[i];
        compare("gradient × input is not the saliency times the input", gxi, sx, 1e-6, where);
        int samples = 1 + r.nextInt(4);
        compare("SmoothGrad without noise is not the saliency",
                scored(new SmoothGrad().samples(samples).noise(0).attribute(t, x, shape), fx, where).values(), saliency,
                1e-5, where);
        long noiseSeed = r.nextLong();
        double noise = 0.05 + 0.3 * r.nextDouble();
        if (!Arrays.equals(new SmoothGrad().samples(samples).noise(noise).seed(noiseSeed).attribute(t, x, shape).values(),
                new SmoothGrad().samples(samples).noise(noise).seed(noiseSeed).attribute(t, x, shape).values())) {
            record("SmoothGrad of one seed differs between calls", where);
        }

        integratedGradients(t, x, shape, fx, r, where);
        occlusion(t, x, shape, fx, r, where);
        if (logit) logitsGiveTheProbabilities(sequential, classes, x, where);
        batchedScoresAreEachExamplesOwn(t, x, shape, r, where);
        refusals(t, x, shape, classes, m, r, where);

        String disturbed = disturbed(m, weights);
        if (disturbed != null) record(disturbed, where);
        judged++;
        if (sequential == null) graphs++;
    }

    /**
     * A model on token ids ({@link TokenAttribution}: attributions on the embedding's output, summed per token): the
     * per-token values must be the full attribution's sums over the embedding, and its score (F at the embedded ids,
     * run from the second layer on with the ids' padding mask) the model's own score of the ids. Ids outside the
     * vocabulary or of another length must be refused clearly.
     */
    private void judgeText(Sequential m, ModelStacks.Stack stack, SplittableRandom r, String where) {
        int steps = (int) stack.input()[0];
        int[] ids = new int[steps];
        float[] asFloats = new float[steps];
        for (int i = 0; i < steps; i++) asFloats[i] = ids[i] = r.nextInt(4) == 0 ? 0 : r.nextInt(stack.vocabulary());
        int unit = r.nextInt(stack.classes());
        boolean logits = r.nextBoolean();
        Target own = logits ? Target.logit(m, unit) : Target.output(m, unit);
        where += ", " + own.description() + ", ids " + Arrays.toString(ids);
        List<float[]> weights = WeightLists.of(m);
        float fx = score(own, asFloats);
        for (String name : dev.soma.explain.Methods.expand("all")) {
            AttributionMethod method = dev.soma.explain.Methods.byName(name);
            if (method instanceof Occlusion o) o.window(1 + r.nextInt(steps)).stride(1 + r.nextInt(steps));
            TokenAttribution.Result res = TokenAttribution.attribute(m, ids, unit, logits, method);
            scored(res.full(), fx, where + ", " + name);
            long[] full = res.full().shape();
            int width = Math.toIntExact(full.length == 1 ? 1 : Arrays.stream(full).skip(1).reduce(1, Math::multiplyExact));
            float[] sums = new float[steps];
            for (int tkn = 0; tkn < steps; tkn++) {
                double sum = 0;
                for (int d = 0; d < width; d++) sum += res.full().values()[tkn * width + d];
                sums[tkn] = (float) sum;
            }
            compare("a token's attribution is not the sum of its embedding's", res.perToken(), sums, 1e-6, where + ", " + name);
        }
        for (int[] bad : List.of(Arrays.copyOf(ids, steps + 1), withId(ids, r.nextInt(steps), stack.vocabulary() + r.nextInt(3)),
                withId(ids, r.nextInt(steps), -1))) {
            mustRefuse("bad ids", () -> TokenAttribution.attribute(m, bad, unit, logits, new Saliency()), false,
                    where + ": " + Arrays.toString(bad));
        }
        String disturbed = disturbed(m, weights);
        if (disturbed != null) record(disturbed, where);
        judged++;
        texts++;
    }

    private static int[] withId(int[] ids, int at, int id) {
        int[] out = ids.clone();
        out[at] = id;
        return out;
    }

    /** Unit {@code unit} of the model's first output (the classes' head of a graph with two). */
    private static Target output(Model m, int unit) {
        return m instanceof FunctionalModel f && f.outputs().size() > 1 ? Target.output(f, 0, unit) : Target.output(m, unit);
    }

    /** The rule's points and weights applied to single-example saliency along the same float path. */
    private void integratedGradients(Target t, float[] x, long[] shape, float fx, SplittableRandom r, String where) {
        int per = x.length;
        IntegrationRule rule = IntegrationRule.values()[r.nextInt(IntegrationRule.values().length)];
        int steps = (rule == IntegrationRule.RIEMANN_TRAPEZOID ? 2 : 1) + r.nextInt(24); // the trapezoid needs both ends
        float[] base = switch (r.nextInt(4)) {
            case 0 -> new float[per];
            case 1 -> constant(per, (float) r.nextDouble(-1, 1));
            case 2 -> gaussian(r, per);
            default -> Baseline.uniform(-1, 1, r.nextLong()).of(x, shape);
        };
        Attribution ig = new IntegratedGradients().rule(rule).steps(steps).baseline(Baseline.of(base)).attribute(t, x, shape);
        double[][] aw = rule.pointsAndWeights(steps);
        double[] integral = new double[per];
        float[] point = new float[per];
        for (int s = 0; s < steps; s++) {
            float alpha = (float) aw[0][s];
            for (int i = 0; i < per; i++) point[i] = base[i] + alpha * (x[i] - base[i]);
            float[] g = new Saliency().attribute(t, point, shape).values();
            for (int i = 0; i < per; i++) integral[i] += aw[1][s] * g[i];
        }
        float[] want = new float[per];
        double sum = 0, magnitudes = 0;
        for (int i = 0; i < per; i++) {
            want[i] = (float) ((x[i] - base[i]) * integral[i]);
            sum += ig.values()[i];
            magnitudes += Math.abs(ig.values()[i]);
        }
        String how = where + ", " + rule + " with " + steps + " steps";
        compare("integrated gradients are not the rule's sum of the saliency along the path", ig.values(), want, 2e-4, how);
        double fb = score(t, base);
        double delta = sum - (fx - fb);
        double scale = Math.abs(fx) + Math.abs(fb) + magnitudes + 1e-6;
        if (Math.abs(ig.delta() - delta) > 1e-5 * scale) {
            record("integrated gradients' delta is not the attributions' sum less F(x) - F(baseline)",
                    how + ": reported " + ig.delta() + ", computed " + delta);
        }
        scored(ig, fx, how);
    }

    /** Every window enumerated here: its corner runs over the positions, rows first, as any order gives the same mean. */
    private void occlusion(Target t, float[] x, long[] shape, float fx, SplittableRandom r, String where) {
        int rank = shape.length;
        int given = 1 + r.nextInt(rank);
        int[] window = new int[given], stride = new int[given];
        for (int d = 0; d < given; d++) {
            window[d] = 1 + r.nextInt((int) shape[d]);
            stride[d] = 1 + r.nextInt((int) shape[d]);
        }
        double fill = r.nextBoolean() ? 0 : r.nextDouble(-1, 1);
        Attribution a = scored(new Occlusion().window(window).stride(stride).baseline(fill).attribute(t, x, shape), fx, where);
        int[] win = new int[rank], str = new int[rank], count = new int[rank];
        for (int d = 0; d < rank; d++) {
            win[d] = d < given ? window[d] : (int) shape[d];
            str[d] = d < given ? stride[d] : (int) shape[d];
            count[d] = (int) ((shape[d] - win[d]) / str[d]) + 1;
        }
        double[] credit = new double[x.length];
        int[] covers = new int[x.length];
        int[] corner = new int[rank];
        do {
            float[] occluded = x.clone();
            List<Integer> cells = cells(corner, win, str, shape);
            for (int i : cells) occluded[i] = (float) fill;
            double drop = fx - score(t, occluded);
            for (int i : cells) {
                credit[i] += drop;
                covers[i]++;
            }
        } while (next(corner, count));
        float[] want = new float[x.length];
        for (int i = 0; i < x.length; i++) want[i] = covers[i] == 0 ? 0 : (float) (credit[i] / covers[i]);
        compare("occlusion is not the mean score drop over the windows covering each element", a.values(), want, 1e-4,
                where + ", window " + Arrays.toString(window) + " stride " + Arrays.toString(stride) + " fill " + fill);
    }

    /** The flat indices of the window whose corner is at {@code corner} (in window positions). */
    private static List<Integer> cells(int[] corner, int[] win, int[] str, long[] shape) {
        List<Integer> out = new ArrayList<>();
        int[] off = new int[win.length];
        do {
            int flat = 0;
            for (int d = 0; d < win.length; d++) flat = flat * (int) shape[d] + corner[d] * str[d] + off[d];
            out.add(flat);
        } while (next(off, win));
        return out;
    }

    /** Advances a mixed-radix counter (last digit fastest); false once it wraps to zero. */
    private static boolean next(int[] digits, int[] radix) {
        for (int d = digits.length - 1; d >= 0; d--) {
            if (++digits[d] < radix[d]) return true;
            digits[d] = 0;
        }
        return false;
    }

    /** The final softmax over the logit targets is what the output target gives. */
    private void logitsGiveTheProbabilities(Sequential m, int classes, float[] x, String where) {
        double[] logits = new double[classes];
        double max = Double.NEGATIVE_INFINITY, norm = 0;
        for (int c = 0; c < classes; c++) max = Math.max(max, logits[c] = score(Target.logit(m, c), x));
        for (int c = 0; c < classes; c++) norm += Math.exp(logits[c] - max);
        for (int c = 0; c < classes; c++) {
            double p = Math.exp(logits[c] - max) / norm, got = score(Target.output(m, c), x);
            if (Math.abs(p - got) > 1e-5) {
                record("the softmax of the logit targets is not the output target", where + ": class " + c + ": " + got + " against " + p);
            }
        }
    }

    /** A batch's scores against each example's own, so that attributions in batches of 32 are per example. */
    private void batchedScoresAreEachExamplesOwn(Target t, float[] x, long[] shape, SplittableRandom r, String where) {
        int n = 2 + r.nextInt(5), per = x.length;
        float[] batch = new float[n * per];
        System.arraycopy(x, 0, batch, 0, per);
        for (int i = per; i < batch.length; i++) batch[i] = (float) r.nextGaussian();
        long[] batchShape = new long[shape.length + 1];
        batchShape[0] = n;
        System.arraycopy(shape, 0, batchShape, 1, shape.length);
        float[] together;
        try (Scope s = Scope.open(); GradMode.Guard g = GradMode.disable()) {
            together = t.scores(Tensor.of(batch, batchShape)).toFloatArray();
        }
        float[] alone = new float[n];
        for (int k = 0; k < n; k++) alone[k] = score(t, Arrays.copyOfRange(batch, k * per, (k + 1) * per));
        compare("a score in a batch depends on the other examples", together, alone, 1e-5, where + ", batch " + n);
    }

    /** Wrong shapes, units and settings: refused clearly, the model untouched. */
    private void refusals(Target t, float[] x, long[] shape, int classes, Model m, SplittableRandom r, String where) {
        List<Runnable> bad = new ArrayList<>();
        bad.add(() -> new Saliency().attribute(t, Arrays.copyOf(x, x.length + 1), shape));
        long[] other = shape.clone();
        other[r.nextInt(other.length)] += 1;
        bad.add(() -> new IntegratedGradients().attribute(t, x, other));
        int beyond = classes + r.nextInt(3);
        bad.add(() -> new Saliency().attribute(output(m, beyond), x, shape));
        bad.add(() -> new GradientTimesInput().attribute(output(m, -1), x, shape));
        if (m instanceof Sequential s) bad.add(() -> new Saliency().attribute(Target.logit(s, beyond), x, shape));
        if (m instanceof FunctionalModel f) bad.add(() -> Target.output(f, f.outputs().size(), 0));
        bad.add(() -> new IntegratedGradients().steps(0));
        bad.add(() -> new Occlusion().window(new int[shape.length + 1]).attribute(t, x, shape));
        int[] tooWide = new int[shape.length];
        for (int d = 0; d < tooWide.length; d++) tooWide[d] = (int) shape[d] + (d == 0 ? 1 : 0);
        bad.add(() -> new Occlusion().window(tooWide).stride(tooWide).attribute(t, x, shape));
        bad.add(() -> new SmoothGrad().samples(0));
        bad.add(() -> new SmoothGrad().noise(r.nextBoolean() ? -0.1 : Double.NaN));
        bad.add(() -> new IntegratedGradients().steps(-1 - r.nextInt(5)));
        bad.add(() -> new IntegratedGradients().baseline(Baseline.of(new float[x.length + 1 + r.nextInt(3)])).attribute(t, x, shape));
        bad.add(() -> new Occlusion().window(r.nextBoolean() ? 0 : -1));
        bad.add(() -> new Occlusion().window(1).stride(0));
        bad.add(() -> new Occlusion().baseline(Double.NaN));
        float[] broken = x.clone();
        broken[r.nextInt(broken.length)] = new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}[r.nextInt(3)];
        bad.add(() -> new Occlusion().window(1).stride(1).attribute(t, broken, shape));
        bad.add(() -> new IntegratedGradients().baseline(Baseline.of(broken)).attribute(t, x, shape));
        bad.add(() -> new SmoothGrad().attribute(t, broken, shape));
        for (int i = 0; i < bad.size(); i++) mustRefuse("a bad input", bad.get(i), false, where + ": case " + i);
        mustRefuse("a null example", () -> new Saliency().attribute(t, null, shape), true, where);
    }

    /** {@code bad} must throw a clear refusal (a NullPointerException counts as one where it passes a null). */
    private void mustRefuse(String what, Runnable bad, boolean passesNull, String where) {
        try {
            bad.run();
            record(what + " was accepted", where);
        } catch (Throwable e) {
            String unclear = FuzzReports.unclearRefusal(e, passesNull);
            if (unclear != null) record(what + " " + unclear, where + ": " + e);
            else refusalsChecked++;
        }
    }

    /** Why an attribution left {@code m} otherwise than it found it (weights {@code before}), or null. */
    static String disturbed(Model m, List<float[]> before) {
        if (!WeightLists.same(before, WeightLists.of(m))) return "an attribution changed the model's weights";
        for (Param p : m.params()) {
            if (p.value().grad() != null) return "an attribution left a gradient on parameter " + p.name();
        }
        return null;
    }

    /** An attribution's reported score must be the target's score of the example, F(x). */
    private Attribution scored(Attribution a, double fx, String where) {
        if (!(Math.abs(a.score() - fx) <= 1e-5 * (1 + Math.abs(fx)))) {
            record(a.method() + "'s score is not the target's score of the example", where + ": " + a.score() + " against " + fx);
        }
        return a;
    }

    private static float score(Target t, float[] example) {
        long[] shape = t.exampleShape();
        long[] batchShape = new long[shape.length + 1];
        batchShape[0] = 1;
        System.arraycopy(shape, 0, batchShape, 1, shape.length);
        try (Scope s = Scope.open(); GradMode.Guard g = GradMode.disable()) {
            return t.scores(Tensor.of(example, batchShape)).toFloatArray()[0];
        }
    }

    private void compare(String what, float[] got, float[] want, double tolerance, String where) {
        String difference = firstDifference(got, want, tolerance);
        if (difference != null) record(what, where + ": " + difference);
    }

    /**
     * The first element that differs by more than {@code tolerance} times the largest magnitude, at least 1, or null:
     * scores and gradients of these models are of order 1, and where a gradient is near zero (a softmax saturated, a
     * LayerNormalization over 2 features, whose output hardly depends on its input) it is rounding noise, which a
     * batch and a single example (or two devices) round differently.
     */
    static String firstDifference(float[] got, float[] want, double tolerance) {
        double scale = 1;
        for (int i = 0; i < want.length; i++) scale = Math.max(scale, Math.max(Math.abs(want[i]), Math.abs(got[i])));
        for (int i = 0; i < want.length; i++) {
            if (!(Math.abs(got[i] - want[i]) <= tolerance * scale)) {
                return "element " + i + ": " + got[i] + " against " + want[i] + " (scale " + scale + ")";
            }
        }
        return null;
    }

    private static float[] gaussian(SplittableRandom r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) r.nextGaussian();
        return v;
    }

    private static float[] constant(int n, float value) {
        float[] v = new float[n];
        Arrays.fill(v, value);
        return v;
    }

    private void record(String what, String example) {
        findings.putIfAbsent(what, example);
    }
}
