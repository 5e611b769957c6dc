package dev.soma.fuzz;

import dev.soma.autograd.FrozenTensors;
import dev.soma.autograd.GradMode;
import dev.soma.data.ArrayDataset;
import dev.soma.memory.Scope;
import dev.soma.model.FitOptions;
import dev.soma.model.FunctionalModel;
import dev.soma.model.Model;
import dev.soma.model.Sequential;
import dev.soma.model.TrainingPerturbation;
import dev.soma.nn.Layer;
import dev.soma.optim.SGD;
import dev.soma.robust.Attacks;
import dev.soma.robust.GaussianNoise;
import dev.soma.robust.Norm;
import dev.soma.robust.ProjectedGradientAttack;
import dev.soma.robust.RobustAccuracy;
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
import java.util.function.Supplier;

/**
 * Attacks and noise ({@code dev.soma.robust}) on random compiled models (the model fuzzer's image, sequence and feature
 * stacks and its one-input functional graphs; untrained), each judged against its definition computed here from the
 * input gradient of the model's compiled loss ({@link Model#compiledLoss}, inference mode) and its predictions:
 * <ul>
 * <li>FGSM: clip(x + ε·sign(g)) (L-inf) or clip(x + ε·g/‖g‖₂) per example (L2), in a batch and alone;</li>
 * <li>PGD: at step size 0, its random start, inside the ball; from that start, the definition's steps (ascent, projection
 *     onto the ball, clipping to [lo, hi]) taken here; one seed, one result;</li>
 * <li>every result within ε of x in its norm and inside [lo, hi] (pixels on the boundary included); ε = 0 leaves x;</li>
 * <li>robust accuracy: the clean and attacked arg-max counts made here, in other batch sizes, and its kept head;</li>
 * <li>adversarial training and noise in fit: an epoch of one batch is plain fit on the batch perturbed here with that
 *     step's draws ({@link TrainingPerturbation#startStep}(0, 0, 0));</li>
 * <li>the model: no weight changed and no gradient left on a parameter by an attack; no native memory left.</li>
 * </ul>
 * Token ids, models of several outputs, bad settings, ranges, labels and batches must be refused clearly.
 * {@code -Dsoma.fuzz.seed=S}, {@code -Dsoma.fuzz.attackModels=N} (default 40), {@code -Dsoma.fuzz.model=SEED}.
 */
@ExtendWith(NoLeaks.class)
class AttackFuzzTest {
    static final long SEED = FuzzReports.seed(AttackFuzzTest.class);
    static final int MODELS = Integer.getInteger("soma.fuzz.attackModels", 40);

    private final Map<String, String> findings = new LinkedHashMap<>();
    private int judged, graphs, refusalsChecked;

    @Test
    void attacksMeetTheirDefinitionsOnRandomModels() {
        int refused = FuzzReports.runTrials(SEED, MODELS, Long.getLong("soma.fuzz.model"), Device.cpu(), findings, this::trial);
        System.out.println("attack fuzzing, seed " + SEED + ": " + judged + " models judged (" + graphs + " graphs), "
                + refused + " refused, " + refusalsChecked + " bad inputs refused, " + findings.size() + " findings");
        FuzzReports.failIfAny(findings, SEED);
    }

    /** A Sequential stack (two draws in three) or a functional graph (the model fuzzer's), compiled. */
    private void trial(long seed) throws Throwable {
        SplittableRandom r = new SplittableRandom(seed);
        boolean sparse = r.nextBoolean();
        if (r.nextInt(3) == 0) {
            ModelGraphs.Graph g = ModelGraphs.draw(r);
            boolean severalWanted = r.nextInt(4) == 0; // else redraw: one input and one output in most graphs judged
            for (int tries = 0; !severalWanted && (g.inputs().size() > 1 || g.losses().size() > 1) && tries < 20; tries++) {
                g.model().close();
                g = ModelGraphs.draw(r);
            }
            try (FunctionalModel m = g.model()) {
                m.seed(r.nextLong());
                String where = "model seed " + seed + " (graph on " + g.inputs().stream().map(Arrays::toString).toList()
                        + ", " + g.losses().size() + " outputs)";
                if (g.inputs().size() > 1 || g.losses().size() > 1) {
                    m.compile(new SGD(0.01), g.losses(), java.util.Collections.nCopies(g.losses().size(), 1.0));
                    severalInputsOrOutputsAreRefused(m, g, r, where);
                    return;
                }
                m.compile(new SGD(0.01), sparse ? "sparse_categorical_crossentropy" : "categorical_crossentropy");
                m.build(g.inputs().get(0));
                judge(m, sparse, g.classes(), g.inputs().get(0), r, where);
                graphs++;
            }
            return;
        }
        ModelStacks.Stack stack = ModelStacks.draw(r);
        try (Sequential m = new Sequential(stack.layers().toArray(new Layer[0]))) {
            String where = "model seed " + seed + " (" + stack.family() + " " + Arrays.toString(stack.input()) + "): "
                    + m.layers().stream().map(Layer::typeName).toList();
            m.seed(r.nextLong());
            m.compile(new SGD(0.01), sparse ? "sparse_categorical_crossentropy" : "categorical_crossentropy");
            m.build(stack.input());
            if (stack.vocabulary() > 0) idsAreRefused(m, stack, r, where);
            else judge(m, sparse, stack.classes(), stack.input(), r, where);
        } finally {
            for (Layer l : stack.layers()) l.close();
        }
    }

    private void judge(Model m, boolean sparse, int classes, long[] shape, SplittableRandom r, String where) {
        int per = Math.toIntExact(Arrays.stream(shape).reduce(1, Math::multiplyExact));
        int n = 1 + r.nextInt(6);
        double lo = (float) -r.nextDouble(), hi = (float) (lo + 0.25 + 2 * r.nextDouble()); // floats: the bounds exactly
        float[] x = inRange(r, n * per, lo, hi);
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) labels[i] = r.nextInt(classes);
        Batch b = new Batch(m, x, batchShape(n, shape), labels, sparse, classes, per);
        double eps = r.nextInt(8) == 0 ? 0 : 0.02 + 0.5 * r.nextDouble() * (hi - lo);
        where += ", " + n + " examples in [" + lo + ", " + hi + "], eps " + eps + (sparse ? ", sparse labels" : ", one-hot");
        List<float[]> weights = WeightLists.of(m);

        for (Norm norm : Norm.values()) fgsm(b, norm, eps, lo, hi, where);
        pgd(b, Norm.values()[r.nextInt(2)], eps, lo, hi, r, where);
        robustAccuracy(b, eps, lo, hi, r, where);
        String disturbed = ExplainFuzzTest.disturbed(m, weights);
        if (disturbed != null) record(disturbed.replace("an attribution", "an attack"), where);
        gaussianNoise(b, r, where);
        refusals(b, lo, hi, r, where);
        adversarialFit(b, eps, lo, hi, r, where);
        judged++;
    }

    /** One batch of examples and labels, with the targets the compiled loss reads. */
    record Batch(Model m, float[] x, long[] shape, int[] labels, boolean sparse, int classes, int per) {
        int size() {
            return labels.length;
        }

        /** The targets as a tensor in the caller's scope: int labels (sparse loss) or one-hot rows. */
        Tensor targets() {
            if (sparse) return Tensor.ofInts(labels, labels.length);
            return Tensor.of(oneHot(), labels.length, classes);
        }

        float[] oneHot() {
            float[] hot = new float[labels.length * classes];
            for (int i = 0; i < labels.length; i++) hot[i * classes + labels[i]] = 1;
            return hot;
        }

        /** Example {@code i} alone. */
        Batch example(int i) {
            return range(i, i + 1);
        }

        /** Examples [from, to) as a batch of their own. */
        Batch range(int from, int to) {
            long[] part = shape.clone();
            part[0] = to - from;
            return new Batch(m, Arrays.copyOfRange(x, from * per, to * per), part, Arrays.copyOfRange(labels, from, to),
                    sparse, classes, per);
        }

        ArrayDataset dataset(float[] inputs) {
            long[] example = Arrays.copyOfRange(shape, 1, shape.length);
            return sparse ? ArrayDataset.withLabels(inputs, example, labels)
                    : ArrayDataset.withTargets(inputs, example, oneHot(), new long[] {classes});
        }
    }

    /** The attack on the batch, as host values. */
    private static float[] attacked(ProjectedGradientAttack a, Batch b, float[] x) {
        try (Scope s = Scope.open()) {
            return a.perturb(b.m(), Tensor.of(x, b.shape()), b.targets()).toFloatArray();
        }
    }

    /** The input gradient of the compiled loss in inference mode, the parameters frozen (none gets a gradient). */
    static float[] gradient(Batch b, float[] x) {
        try (FrozenTensors frozen = FrozenTensors.freeze(b.m().trainableTensors());
             Scope s = Scope.open(); GradMode.Guard on = GradMode.enable()) {
            Tensor in = Tensor.of(x, b.shape());
            in.setRequiresGrad(true);
            b.m().compiledLoss(in, b.targets(), false).backward();
            return in.grad().toFloatArray();
        }
    }

    /**
     * One step of the definition from {@code from}: ascend {@code step} along the norm's direction of the gradient,
     * project the change from {@code x} onto the epsilon ball, clip to [lo, hi]; in float64, rounded once.
     */
    private static float[] step(Batch b, float[] x, float[] from, double step, Norm norm, double eps, double lo, double hi) {
        float[] g = gradient(b, from);
        int per = b.per();
        double[] delta = new double[x.length];
        for (int e = 0; e < b.size(); e++) {
            double length = 0;
            for (int i = e * per; i < (e + 1) * per; i++) length += (double) g[i] * g[i];
            length = Math.sqrt(length);
            for (int i = e * per; i < (e + 1) * per; i++) {
                double dir = norm == Norm.LINF ? Math.signum(g[i]) : length == 0 ? 0 : g[i] / length;
                delta[i] = from[i] + step * dir - x[i];
            }
            if (norm == Norm.LINF) {
                for (int i = e * per; i < (e + 1) * per; i++) delta[i] = Math.max(-eps, Math.min(eps, delta[i]));
            } else {
                double d = 0;
                for (int i = e * per; i < (e + 1) * per; i++) d += delta[i] * delta[i];
                d = Math.sqrt(d);
                if (d > eps) for (int i = e * per; i < (e + 1) * per; i++) delta[i] *= eps / d;
            }
        }
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i++) out[i] = (float) Math.max(lo, Math.min(hi, x[i] + delta[i]));
        return out;
    }

    /**
     * FGSM against the definition, on the batch and on one example alone. (A batch's FGSM is not compared with each
     * example's: they differ only as the model's batched and single gradients round, which near a flat spot of the
     * loss, two LayerNormalizations in a row, turns the L2 direction by 1e-4.)
     */
    private void fgsm(Batch b, Norm norm, double eps, double lo, double hi, String where) {
        ProjectedGradientAttack a = Attacks.fgsm(norm, eps, lo, hi);
        float[] got = attacked(a, b, b.x());
        String how = where + ", " + a;
        inBall(got, b, norm, eps, lo, hi, how);
        compare("FGSM is not one step of epsilon along the gradient's " + (norm == Norm.LINF ? "sign" : "direction")
                + ", clipped", got, step(b, b.x(), b.x(), eps, norm, eps, lo, hi), lo, hi, how);
        if (b.size() > 1) { // a batch of one: the mean loss is that example's own
            Batch one = b.example(b.size() - 1);
            compare("FGSM of a batch of one is not the definition", attacked(a, one, one.x()),
                    step(one, one.x(), one.x(), eps, norm, eps, lo, hi), lo, hi, how + ", the last example alone");
        }
    }

    /**
     * PGD: at step size 0 it is its random start (inside the ball, repeatable for its seed); with the step size, the
     * definition's steps from that start.
     */
    private void pgd(Batch b, Norm norm, double eps, double lo, double hi, SplittableRandom r, String where) {
        long seed = r.nextLong();
        int steps = 1 + r.nextInt(3);
        double stepSize = eps * (0.1 + 2 * r.nextDouble());
        float[] start = attacked(Attacks.pgd(norm, eps, 0, 1 + r.nextInt(3), lo, hi, seed), b, b.x());
        String how = where + ", pgd " + norm + " seed " + seed + ", " + steps + " steps of " + stepSize;
        inBall(start, b, norm, eps, lo, hi, how + " (its random start)");
        if (eps > 0 && Arrays.equals(start, b.x()) && !onTheBoundaryEverywhere(b.x(), lo, hi)) {
            record("PGD's random start is the input itself", how);
        }
        ProjectedGradientAttack a = Attacks.pgd(norm, eps, stepSize, steps, lo, hi, seed);
        float[] got = attacked(a, b, b.x());
        inBall(got, b, norm, eps, lo, hi, how);
        float[] want = start;
        for (int s = 0; s < steps; s++) want = step(b, b.x(), want, stepSize, norm, eps, lo, hi);
        compare("PGD is not the definition's steps from its random start", got, want, lo, hi, how);
        if (!Arrays.equals(got, attacked(Attacks.pgd(norm, eps, stepSize, steps, lo, hi, seed), b, b.x()))) {
            record("two PGD attacks of one seed differ", how);
        }
    }

    private static boolean onTheBoundaryEverywhere(float[] x, double lo, double hi) {
        for (float v : x) if (v != (float) lo && v != (float) hi) return false;
        return true;
    }

    /** Clean and robust accuracy (FGSM, L-inf) counted here, in batches of a random size; its head the attacked inputs. */
    private void robustAccuracy(Batch b, double eps, double lo, double hi, SplittableRandom r, String where) {
        ProjectedGradientAttack a = Attacks.fgsm(Norm.LINF, eps, lo, hi);
        int batchSize = 1 + r.nextInt(b.size() + 1), keep = r.nextInt(b.size() + 2);
        RobustAccuracy.Result res = RobustAccuracy.of(b.m(), a, b.x(), Arrays.copyOfRange(b.shape(), 1, b.shape().length),
                b.labels(), batchSize, keep);
        // Attacked in the same batches: a batch's gradients round otherwise than its parts' (AVX-512 and AMX GEMMs
        // pick kernels by row count), and where an input's gradient is rounding noise FGSM's sign flips.
        float[] adv = new float[b.x().length];
        for (int from = 0; from < b.size(); from += batchSize) {
            Batch part = b.range(from, Math.min(b.size(), from + batchSize));
            System.arraycopy(attacked(a, part, part.x()), 0, adv, from * b.per(), part.x().length);
        }
        String how = where + ", batches of " + batchSize + ", keeping " + keep;
        double clean = right(b, b.x()), robust = right(b, adv);
        if (res.clean() != clean || res.robust() != robust) {
            record("robust accuracy is not the arg-max counts", how + ": clean " + res.clean() + " robust " + res.robust()
                    + " against " + clean + " and " + robust);
        }
        float[] head = Arrays.copyOf(adv, Math.min(keep, b.size()) * b.per());
        if (res.adversarialHead().length != head.length) {
            record("robust accuracy kept another number of attacked inputs", how + ": " + res.adversarialHead().length
                    + " values, " + head.length + " wanted");
        } else {
            compare("robust accuracy's kept inputs are not the attacked ones", res.adversarialHead(), head, lo, hi, how);
        }
        double unchanged = RobustAccuracy.underChange(b.m(), v -> v, b.x(), Arrays.copyOfRange(b.shape(), 1, b.shape().length),
                b.labels(), batchSize);
        if (unchanged != clean) record("accuracy under no change is not the clean accuracy", how + ": " + unchanged + " against " + clean);
    }

    /** The fraction of examples whose arg-max prediction is the label. */
    private static double right(Batch b, float[] x) {
        float[] out;
        try (Scope s = Scope.open(); GradMode.Guard g = GradMode.disable()) {
            out = b.m().call(Tensor.of(x, b.shape())).toFloatArray();
        }
        int classes = out.length / b.size(), count = 0;
        for (int i = 0; i < b.size(); i++) {
            int best = 0;
            for (int c = 1; c < classes; c++) if (out[i * classes + c] > out[i * classes + best]) best = c;
            if (best == b.labels()[i]) count++;
        }
        return (double) count / b.size();
    }

    /** Noise of sigma 0 is none; one seed gives one noise; the noise's mean and spread are sigma's. */
    private void gaussianNoise(Batch b, SplittableRandom r, String where) {
        long seed = r.nextLong();
        double sigma = 0.05 + r.nextDouble();
        float[] none = perturbed(new GaussianNoise(0, seed), b);
        if (!Arrays.equals(none, b.x())) record("noise of sigma 0 changed the input", where);
        float[] once = perturbed(new GaussianNoise(sigma, seed), b);
        if (!Arrays.equals(once, perturbed(new GaussianNoise(sigma, seed), b))) record("two noises of one seed differ", where);
        // Many draws of one stream: their mean and variance within 6 standard errors of 0 and sigma^2.
        GaussianNoise g = new GaussianNoise(sigma, seed);
        double sum = 0, squares = 0;
        int count = 0;
        while (count < 20_000) {
            float[] noisy = perturbed(g, b);
            for (int i = 0; i < noisy.length; i++, count++) {
                double d = (double) noisy[i] - b.x()[i];
                sum += d;
                squares += d * d;
            }
        }
        double mean = sum / count, variance = squares / count - mean * mean, s2 = sigma * sigma;
        if (Math.abs(mean) > 6 * sigma / Math.sqrt(count) || Math.abs(variance - s2) > 6 * s2 * Math.sqrt(2.0 / count)) {
            record("Gaussian noise does not have mean 0 and variance sigma^2", where + ", sigma " + sigma + ": mean " + mean
                    + ", variance " + variance + " over " + count + " draws");
        }
    }

    private static float[] perturbed(TrainingPerturbation p, Batch b) {
        try (Scope s = Scope.open()) {
            return p.perturb(b.m(), Tensor.of(b.x(), b.shape()), b.targets()).toFloatArray();
        }
    }

    /**
     * One epoch of one batch with adversarial training (or noise) against plain fit on the batch perturbed here with
     * that step's draws, from the same weights: the same weights after.
     */
    private void adversarialFit(Batch b, double eps, double lo, double hi, SplittableRandom r, String where) {
        long seed = r.nextLong(), fitSeed = r.nextLong();
        double stepSize = eps * (0.5 + r.nextDouble());
        int kind = r.nextInt(4);
        Supplier<TrainingPerturbation> make = () -> switch (kind) {
            case 0 -> Attacks.fgsm(Norm.LINF, eps, lo, hi);
            case 1 -> Attacks.fgsmRandomStart(eps, lo, hi, seed);
            case 2 -> Attacks.pgd(Norm.L2, eps, stepSize, 2, lo, hi, seed);
            default -> new GaussianNoise(0.1, fitSeed);
        };
        String how = where + ", fit with " + make.get();
        List<float[]> start = WeightLists.of(b.m());
        List<Map<String, Long>> streams = b.m().layers().stream().map(Layer::randomState).toList(); // dropout's masks
        FitOptions options = new FitOptions().batchSize(b.size()).epochs(1).shuffle(false).seed(fitSeed).verbose(0);
        if (kind == 3) options.gaussianNoise(0.1);
        else options.adversarial(make.get());
        b.m().fit(b.dataset(b.x()), options);
        List<float[]> adversarial = WeightLists.of(b.m());

        restore(b.m(), start);
        for (int i = 0; i < streams.size(); i++) if (!streams.get(i).isEmpty()) b.m().layers().get(i).restoreRandomState(streams.get(i));
        TrainingPerturbation p = make.get();
        p.startStep(0, 0, 0);
        float[] changed = perturbed(p, b);
        b.m().fit(b.dataset(changed), new FitOptions().batchSize(b.size()).epochs(1).shuffle(false).seed(fitSeed).verbose(0));
        if (!WeightLists.same(adversarial, WeightLists.of(b.m()))) {
            record("adversarial training is not training on the batch its step's attack makes", how);
        }
    }

    /** Puts the weights of {@link WeightLists#of} back. */
    private static void restore(Model m, List<float[]> weights) {
        for (int i = 0; i < weights.size(); i++) {
            Tensor v = m.params().get(i).value();
            try (Scope s = Scope.open()) {
                dev.soma.nn.Weights.assign("restore", v, Tensor.of(weights.get(i), v.shape()));
            }
        }
    }

    /** Within epsilon of the clean batch in the norm (a float rounding's slack) and inside [lo, hi]. */
    private void inBall(float[] got, Batch b, Norm norm, double eps, double lo, double hi, String where) {
        double slack = 4 * Math.ulp((float) Math.max(Math.abs(lo), Math.abs(hi)));
        for (int e = 0; e < b.size(); e++) {
            double length = 0;
            for (int i = e * b.per(); i < (e + 1) * b.per(); i++) {
                if (!(got[i] >= (float) lo && got[i] <= (float) hi)) {
                    record("an attack left the valid range", where + ": element " + i + " is " + got[i]);
                    return;
                }
                double d = Math.abs((double) got[i] - b.x()[i]);
                length = norm == Norm.LINF ? Math.max(length, d) : length + d * d;
            }
            if (norm == Norm.L2) length = Math.sqrt(length);
            if (!(length <= eps + slack * (norm == Norm.L2 ? Math.sqrt(b.per()) : 1))) {
                record("an attack left the epsilon ball", where + ": example " + e + " moved " + length);
                return;
            }
        }
    }

    /** Models of several inputs or outputs: attacks and adversarial training refuse them clearly. */
    private void severalInputsOrOutputsAreRefused(FunctionalModel m, ModelGraphs.Graph g, SplittableRandom r, String where) {
        long[] shape = g.inputs().get(0);
        int per = Math.toIntExact(Arrays.stream(shape).reduce(1, Math::multiplyExact));
        int n = 1 + r.nextInt(3);
        float[] x = inRange(r, n * per, 0, 1);
        int[] labels = new int[n];
        mustRefuse("an attack on a model of several inputs or outputs", () -> {
            try (Scope s = Scope.open()) {
                Attacks.fgsm(Norm.LINF, 0.1, 0, 1).perturb(m, Tensor.of(x, batchShape(n, shape)), Tensor.ofInts(labels, n));
            }
        }, where);
        mustRefuse("adversarial training of a model of several inputs or outputs",
                () -> m.fit(ModelGraphs.data(g, 4, r.nextLong()), new FitOptions().epochs(1).verbose(0)
                        .adversarial(Attacks.fgsm(Norm.LINF, 0.1, 0, 1))), where);
    }

    /** Token ids have no gradient to ascend: attacks and noise refuse them clearly. */
    private void idsAreRefused(Sequential m, ModelStacks.Stack stack, SplittableRandom r, String where) {
        int n = 1 + r.nextInt(3), steps = (int) stack.input()[0];
        int[] ids = new int[n * steps];
        for (int i = 0; i < ids.length; i++) ids[i] = r.nextInt(stack.vocabulary());
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) labels[i] = r.nextInt(stack.classes());
        boolean sparse = m.loss().name().startsWith("sparse");
        for (TrainingPerturbation p : List.of(Attacks.fgsm(Norm.LINF, 0.1, 0, stack.vocabulary()),
                Attacks.pgd(Norm.L2, 0.5, 2, 0, stack.vocabulary(), r.nextLong()), new GaussianNoise(0.1, r.nextLong()))) {
            String name = p instanceof ProjectedGradientAttack a ? a.name() : "gaussianNoise";
            try (Scope s = Scope.open()) {
                Tensor y = sparse ? Tensor.ofInts(labels, n) : Tensor.of(new float[n * stack.classes()], n, stack.classes());
                p.perturb(m, Tensor.ofInts(ids, n, steps), y);
                record("a perturbation of token ids was accepted", where + ", " + p);
            } catch (Throwable e) {
                String unclear = FuzzReports.unclearRefusal(e, false);
                if (unclear != null) record("a perturbation of token ids " + unclear, where + ", " + p + ": " + e);
                else if (!e.getMessage().startsWith(name + ":")) {
                    record("a perturbation of token ids was refused without naming it", where + ", " + p + ": " + e);
                } else refusalsChecked++;
            }
        }
        judged++;
    }

    /** Bad settings, ranges, batches and labels: refused clearly, before any harm. */
    private void refusals(Batch b, double lo, double hi, SplittableRandom r, String where) {
        Norm norm = Norm.values()[r.nextInt(2)];
        long[] example = Arrays.copyOfRange(b.shape(), 1, b.shape().length);
        List<Runnable> bad = new ArrayList<>();
        bad.add(() -> Attacks.fgsm(norm, new double[] {-0.1, Double.NaN, Double.POSITIVE_INFINITY}[r.nextInt(3)], lo, hi));
        bad.add(() -> Attacks.pgd(norm, 0.1, r.nextBoolean() ? 0 : -1, lo, hi, 1));
        bad.add(() -> Attacks.pgd(norm, 0.1, r.nextBoolean() ? Double.NaN : -0.5, 3, lo, hi, 1));
        bad.add(() -> Attacks.fgsm(norm, 0.1, hi, r.nextBoolean() ? lo : hi));
        bad.add(() -> Attacks.fgsm(norm, 0.1, Double.NaN, hi));
        bad.add(() -> Norm.parse("l" + (3 + r.nextInt(5))));
        bad.add(() -> new GaussianNoise(r.nextBoolean() ? -1 : Double.NaN, 1));
        ProjectedGradientAttack fgsm = Attacks.fgsm(norm, 0.1, lo, hi);
        float[] outside = b.x().clone();
        outside[r.nextInt(outside.length)] = (float) (r.nextBoolean() ? hi + 0.5 : lo - 0.5);
        bad.add(() -> attacked(fgsm, b, outside));
        float[] broken = b.x().clone();
        broken[r.nextInt(broken.length)] = new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}[r.nextInt(3)];
        bad.add(() -> attacked(fgsm, b, broken));
        bad.add(() -> {
            try (Scope s = Scope.open()) { // targets of one example too many
                Batch more = new Batch(b.m(), b.x(), b.shape(), Arrays.copyOf(b.labels(), b.size() + 1), b.sparse(),
                        b.classes(), b.per());
                fgsm.perturb(b.m(), Tensor.of(b.x(), b.shape()), more.targets());
            }
        });
        bad.add(() -> {
            try (Scope s = Scope.open()) { // one example's values without its batch axis
                fgsm.perturb(b.m(), Tensor.of(Arrays.copyOf(b.x(), b.per()), example), b.example(0).targets());
            }
        });
        int[] beyond = b.labels().clone();
        beyond[r.nextInt(beyond.length)] = r.nextBoolean() ? -1 : b.classes() + r.nextInt(3);
        bad.add(() -> RobustAccuracy.of(b.m(), fgsm, b.x(), example, beyond, b.size(), 0));
        bad.add(() -> RobustAccuracy.of(b.m(), fgsm, b.x(), example, b.labels(), r.nextBoolean() ? 0 : -3, 0));
        bad.add(() -> RobustAccuracy.of(b.m(), fgsm, b.x(), example, b.labels(), b.size(), -1 - r.nextInt(3)));
        bad.add(() -> RobustAccuracy.of(b.m(), fgsm, Arrays.copyOf(b.x(), b.x().length + 1), example, b.labels(), 2, 0));
        bad.add(() -> RobustAccuracy.of(b.m(), fgsm, new float[0], example, new int[0], 2, 0));
        bad.add(() -> RobustAccuracy.underChange(b.m(), v -> Arrays.copyOf(v, v.length + 1), b.x(), example, b.labels(), 2));
        bad.add(() -> new FitOptions().adversarial(null));
        bad.add(() -> b.m().fit(b.dataset(b.x()), new FitOptions().epochs(1).verbose(0).adversarial(fgsm).privacy(1.0, 1.0, 1e-5)));
        List<float[]> weights = WeightLists.of(b.m());
        for (int i = 0; i < bad.size(); i++) mustRefuse("a bad input", bad.get(i), where + ": case " + i);
        emptyBatch(b, fgsm, where);
        if (!WeightLists.same(weights, WeightLists.of(b.m()))) record("a refused call changed the model's weights", where);
    }

    /** An empty batch has nothing to move: an empty result of its shape, or a clear refusal. */
    private void emptyBatch(Batch b, ProjectedGradientAttack a, String where) {
        long[] none = b.shape().clone();
        none[0] = 0;
        try (Scope s = Scope.open()) {
            Tensor y = b.sparse() ? Tensor.ofInts(new int[0], 0) : Tensor.of(new float[0], 0, b.classes());
            Tensor out = a.perturb(b.m(), Tensor.of(new float[0], none), y);
            if (!Arrays.equals(out.shape(), none)) record("an attack on an empty batch gave another shape", where + ": " + out.describe());
        } catch (Throwable e) {
            String unclear = FuzzReports.unclearRefusal(e, false);
            if (unclear != null) record("an attack on an empty batch " + unclear, where + ": " + e + " at " + FuzzReports.topFrames(e));
        }
    }

    private void mustRefuse(String what, Runnable bad, String where) {
        try {
            bad.run();
            record(what + " was accepted", where);
        } catch (Throwable e) {
            String unclear = FuzzReports.unclearRefusal(e, false);
            if (unclear != null) record(what + " " + unclear, where + ": " + e + " at " + FuzzReports.topFrames(e));
            else refusalsChecked++;
        }
    }

    /** Element-wise within a float rounding of the range's scale. */
    private void compare(String what, float[] got, float[] want, double lo, double hi, String where) {
        double tolerance = 1e-5 * Math.max(1, Math.max(Math.abs(lo), Math.abs(hi)));
        for (int i = 0; i < want.length; i++) {
            if (!(Math.abs(got[i] - want[i]) <= tolerance)) {
                record(what, where + ": element " + i + ": " + got[i] + " against " + want[i]);
                return;
            }
        }
    }

    /** Uniform values in [lo, hi], about one in eight exactly on a bound. */
    static float[] inRange(SplittableRandom r, int count, double lo, double hi) {
        float[] v = new float[count];
        for (int i = 0; i < count; i++) {
            int k = r.nextInt(16);
            v[i] = k == 0 ? (float) lo : k == 1 ? (float) hi : (float) Math.max(lo, Math.min(hi, lo + (hi - lo) * r.nextDouble()));
        }
        return v;
    }

    static long[] batchShape(int n, long[] example) {
        long[] s = new long[example.length + 1];
        s[0] = n;
        System.arraycopy(example, 0, s, 1, example.length);
        return s;
    }

    private void record(String what, String example) {
        findings.putIfAbsent(what, example);
    }
}
