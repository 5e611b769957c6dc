package dev.soma.fuzz;

import dev.soma.data.ArrayDataset;
import dev.soma.memory.Scope;
import dev.soma.model.FitOptions;
import dev.soma.model.Sequential;
import dev.soma.nn.Layer;
import dev.soma.optim.SGD;
import dev.soma.robust.Attacks;
import dev.soma.robust.Norm;
import dev.soma.robust.ProjectedGradientAttack;
import dev.soma.robust.RobustAccuracy;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * {@link AttackFuzzTest}'s attacks on cuda:0 (the emulated device in CI's gpu-emulated step, a real one where present)
 * against the same model and batch on the CPU: random stacks built with the same weights on both, compiled alike.
 * <ul>
 * <li>FGSM (L2) and PGD (L2, the same seed: the same random start) within 1e-3 of the range's scale;</li>
 * <li>FGSM (L-inf) the same, where the CPU's input gradient is larger than 1e-3 of its example's largest;</li>
 * <li>examples whose input gradient is rounding noise (below 1e-6 everywhere: a gradient that is 0 in exact
 *     arithmetic, which the devices round differently) are left out;</li>
 * <li>robust accuracy on the GPU: its kept inputs the GPU's attack;</li>
 * <li>adversarial training (FGSM, L2), one epoch of one batch, models without dropout: the weights within 1e-3;</li>
 * <li>the GPU model keeps its weights and no gradient; neither pool keeps a byte.</li>
 * </ul>
 * {@code -Dsoma.fuzz.seed=S}, {@code -Dsoma.fuzz.gpuAttackModels=N} (default 16), {@code -Dsoma.fuzz.model=SEED}.
 */
@Tag("gpu")
@ExtendWith(NoLeaks.class)
class CudaAttackFuzzTest {
    static final long SEED = FuzzReports.seed(CudaAttackFuzzTest.class);
    static final int MODELS = Integer.getInteger("soma.fuzz.gpuAttackModels", 16);
    private static final Device GPU = Device.cuda(0);
    private static final double BOUND = 1e-3;

    private final Map<String, String> findings = new LinkedHashMap<>();
    private int compared, fits;

    @Test
    void attacksOnTheGpuAreTheCpus() throws Throwable {
        int[] refused = new int[1];
        FuzzReports.onTheGpu(() -> refused[0] = FuzzReports.runTrials(SEED, MODELS,
                Long.getLong("soma.fuzz.model"), GPU, findings, this::trial));
        System.out.println("gpu attack fuzzing, seed " + SEED + ": " + compared + " attacks compared with the CPU, " + fits
                + " adversarial fits, " + refused[0] + " models refused, " + findings.size() + " findings");
        FuzzReports.failIfAny(findings, SEED);
    }

    private void trial(long seed) throws Throwable {
        SplittableRandom r = new SplittableRandom(seed);
        try (DeviceTwins twins = new DeviceTwins(r.nextLong())) {
            ModelStacks.Stack onCpu = twins.stack;
            Sequential cpu = twins.cpu, gpu = twins.gpu;
            if (onCpu.vocabulary() > 0) return; // token ids: refused by attacks (AttackFuzzTest)
            long[] shape = onCpu.input();
            String where = twins.describe(seed);
            boolean sparse = r.nextBoolean();
            String loss = sparse ? "sparse_categorical_crossentropy" : "categorical_crossentropy";
            long modelSeed = r.nextLong();
            double lr = 0.005 + 0.02 * r.nextDouble();
            cpu.compile(new SGD(lr), loss);
            gpu.compile(new SGD(lr), loss);
            if (!twins.buildAlike(modelSeed, GPU)) {
                record("the same seed built other weights on the two devices", where);
                return;
            }
            int per = Math.toIntExact(Arrays.stream(shape).reduce(1, Math::multiplyExact));
            int n = 1 + r.nextInt(6), classes = onCpu.classes();
            double lo = (float) -r.nextDouble(), hi = (float) (lo + 0.25 + 2 * r.nextDouble());
            int[] labels = new int[n];
            for (int i = 0; i < n; i++) labels[i] = r.nextInt(classes);
            AttackFuzzTest.Batch b = new AttackFuzzTest.Batch(cpu, AttackFuzzTest.inRange(r, n * per, lo, hi),
                    AttackFuzzTest.batchShape(n, shape), labels, sparse, classes, per);
            double eps = 0.02 + 0.5 * r.nextDouble() * (hi - lo);
            double tolerance = BOUND * Math.max(1, Math.max(Math.abs(lo), Math.abs(hi)));
            where += ", " + n + " examples in [" + lo + ", " + hi + "], eps " + eps;
            List<float[]> gpuWeights = WeightLists.of(gpu);

            float[] grad = AttackFuzzTest.gradient(b, b.x()); // the CPU's, to tell noise from a direction
            long pgdSeed = r.nextLong();
            int steps = 1 + r.nextInt(3);
            for (ProjectedGradientAttack a : List.of(Attacks.fgsm(Norm.L2, eps, lo, hi),
                    Attacks.pgd(Norm.L2, eps, steps, lo, hi, pgdSeed))) {
                // One attack object per device: a PGD's random stream advances with each call.
                ProjectedGradientAttack twin = a.name().equals("fgsm") ? a : Attacks.pgd(Norm.L2, eps, steps, lo, hi, pgdSeed);
                compare(a.name() + " (L2) differs between cuda:0 and the CPU", attacked(twin, gpu, b, GPU),
                        attacked(a, cpu, b, Device.cpu()), grad, per, false, tolerance, where + ", " + a);
            }
            ProjectedGradientAttack linf = Attacks.fgsm(Norm.LINF, eps, lo, hi);
            compare("fgsm (L-inf) differs between cuda:0 and the CPU", attacked(linf, gpu, b, GPU),
                    attacked(linf, cpu, b, Device.cpu()), grad, per, true, tolerance, where);

            long[] example = Arrays.copyOfRange(b.shape(), 1, b.shape().length);
            ProjectedGradientAttack l2 = Attacks.fgsm(Norm.L2, eps, lo, hi);
            RobustAccuracy.Result res = RobustAccuracy.of(gpu, l2, b.x(), example, labels, n, n);
            compare("robust accuracy on cuda:0 kept other inputs than its attack makes", res.adversarialHead(),
                    attacked(l2, gpu, b, GPU), null, per, false, 1e-6, where);
            String disturbed = ExplainFuzzTest.disturbed(gpu, gpuWeights);
            if (disturbed != null) record(disturbed.replace("an attribution", "an attack") + " on cuda:0", where);

            boolean stochastic = false;
            for (Layer l : onCpu.layers()) stochastic |= LayerFuzzer.stochastic(l.config());
            if (!stochastic) {
                long fitSeed = r.nextLong();
                ArrayDataset data = b.dataset(b.x());
                for (Sequential m : List.of(cpu, gpu)) {
                    m.fit(data, new FitOptions().batchSize(n).epochs(1).shuffle(false).seed(fitSeed).verbose(0)
                            .adversarial(Attacks.fgsm(Norm.L2, eps, lo, hi)));
                }
                List<float[]> c = WeightLists.of(cpu), g = WeightLists.of(gpu);
                for (int i = 0; i < c.size(); i++) {
                    String difference = ExplainFuzzTest.firstDifference(g.get(i), c.get(i), BOUND);
                    if (difference != null) {
                        record("adversarial training on cuda:0 ends on other weights than on the CPU", where + ", weight "
                                + i + ": " + difference);
                        break;
                    }
                }
                fits++;
            }
        }
    }

    /** The attack on {@code model}, with the batch and its targets on {@code device}; host values back. */
    private static float[] attacked(ProjectedGradientAttack a, Sequential model, AttackFuzzTest.Batch b, Device device) {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(b.x(), b.shape()), y = b.targets();
            if (!device.equals(Device.cpu())) {
                x = x.to(device);
                y = y.to(device);
            }
            return a.perturb(model, x, y).to(Device.cpu()).toFloatArray();
        }
    }

    /**
     * Element-wise within {@code tolerance}, over the examples whose CPU input gradient {@code gradient} (when given)
     * reaches 1e-6 somewhere: below that, on these models of order-1 inputs and losses, it is the rounding noise of a
     * gradient that is 0 in exact arithmetic (a softmax over outputs that no longer depend on the input), whose
     * direction the devices round differently. With {@code bySign}, also only where the element's gradient is larger
     * than 1e-3 of its example's largest (an L-inf step follows each element's sign).
     */
    private void compare(String what, float[] gpu, float[] cpu, float[] gradient, int per, boolean bySign,
                         double tolerance, String where) {
        compared++;
        if (gpu.length != cpu.length) {
            record(what, where + ": " + gpu.length + " values against " + cpu.length);
            return;
        }
        for (int start = 0; start < cpu.length; start += per) {
            double largest = 0;
            if (gradient != null) for (int i = start; i < start + per; i++) largest = Math.max(largest, Math.abs(gradient[i]));
            if (gradient != null && largest < 1e-6) continue;
            for (int i = start; i < start + per; i++) {
                if (bySign && Math.abs(gradient[i]) <= 1e-3 * largest) continue;
                if (!(Math.abs(gpu[i] - cpu[i]) <= tolerance)) {
                    record(what, where + ": element " + i + ": " + gpu[i] + " against " + cpu[i]);
                    return;
                }
            }
        }
    }

    private void record(String what, String example) {
        findings.putIfAbsent(what, example);
    }
}
