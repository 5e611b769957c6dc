package dev.soma.fuzz;

import dev.soma.explain.AttributionMethod;
import dev.soma.explain.Baseline;
import dev.soma.explain.GradientTimesInput;
import dev.soma.explain.IntegratedGradients;
import dev.soma.explain.IntegrationRule;
import dev.soma.explain.Occlusion;
import dev.soma.explain.Saliency;
import dev.soma.explain.SmoothGrad;
import dev.soma.explain.Target;
import dev.soma.model.Sequential;
import dev.soma.tensor.Device;
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
 * {@link ExplainFuzzTest}'s models on cuda:0 (the emulated device in CI's gpu-emulated step): the same stack with the
 * same initial weights on both devices, and every attribution method with the same settings (the same seeded noise for
 * SmoothGrad) must agree within 1e-3 of the larger of 1 and the attributions' largest magnitude. The GPU model's
 * weights must stay as they were and keep no gradient, and neither pool may keep a byte. {@code -Dsoma.fuzz.seed=S},
 * {@code -Dsoma.fuzz.gpuExplainModels=N} (default 16), {@code -Dsoma.fuzz.model=SEED}.
 */
@Tag("gpu")
@ExtendWith(NoLeaks.class)
class CudaExplainFuzzTest {
    static final long SEED = FuzzReports.seed(CudaExplainFuzzTest.class);
    static final int MODELS = Integer.getInteger("soma.fuzz.gpuExplainModels", 16);
    private static final Device GPU = Device.cuda(0);
    private static final double BOUND = 1e-3;

    private final Map<String, String> findings = new LinkedHashMap<>();
    private int compared;

    @Test
    void attributionsOnTheGpuAreTheCpus() throws Throwable {
        int[] refused = new int[1];
        FuzzReports.onTheGpu(() -> refused[0] = FuzzReports.runTrials(SEED, MODELS,
                Long.getLong("soma.fuzz.model"), GPU, findings, this::trial));
        System.out.println("gpu explain fuzzing, seed " + SEED + ": " + compared + " attributions compared with the CPU, "
                + refused[0] + " models refused, " + findings.size() + " findings");
        FuzzReports.failIfAny(findings, SEED);
    }

    private void trial(long seed) throws Throwable {
        SplittableRandom r = new SplittableRandom(seed);
        try (DeviceTwins twins = new DeviceTwins(r.nextLong())) {
            ModelStacks.Stack onCpu = twins.stack;
            Sequential cpu = twins.cpu, gpu = twins.gpu;
            if (onCpu.vocabulary() > 0) return; // ids: not differentiable (ExplainFuzzTest skips them too)
            long[] shape = onCpu.input();
            String where = twins.describe(seed);
            if (!twins.buildAlike(r.nextLong(), GPU)) {
                record("the same seed built other weights on the two devices", where);
                return;
            }
            List<float[]> gpuWeights = WeightLists.of(gpu);
            int per = Math.toIntExact(Arrays.stream(shape).reduce(1, Math::multiplyExact));
            float[] x = new float[per];
            for (int i = 0; i < per; i++) x[i] = (float) r.nextGaussian();
            int unit = r.nextInt(onCpu.classes());
            boolean logit = r.nextBoolean();
            Target tc = logit ? Target.logit(cpu, unit) : Target.output(cpu, unit);
            Target tg = logit ? Target.logit(gpu, unit) : Target.output(gpu, unit);
            where += ", " + tc.description();
            for (AttributionMethod method : methods(r, shape)) {
                float[] a = method.attribute(tc, x, shape).values();
                float[] b = method.attribute(tg, x, shape).values();
                compare(method.name(), b, a, where);
                compared++;
            }
            String disturbed = ExplainFuzzTest.disturbed(gpu, gpuWeights);
            if (disturbed != null) record(disturbed + " on cuda:0", where);
        }
    }

    /** Each method once, with random settings (drawn once, so both devices get the same). */
    private static List<AttributionMethod> methods(SplittableRandom r, long[] shape) {
        IntegrationRule rule = IntegrationRule.values()[r.nextInt(IntegrationRule.values().length)];
        int steps = (rule == IntegrationRule.RIEMANN_TRAPEZOID ? 2 : 1) + r.nextInt(40);
        int[] window = new int[1 + r.nextInt(shape.length)], stride = new int[window.length];
        for (int d = 0; d < window.length; d++) {
            window[d] = 1 + r.nextInt((int) shape[d]);
            stride[d] = 1 + r.nextInt((int) shape[d]);
        }
        return List.of(new Saliency(), new GradientTimesInput(),
                new IntegratedGradients().rule(rule).steps(steps).baseline(r.nextBoolean() ? Baseline.zeros()
                        : Baseline.uniform(-1, 1, r.nextLong())),
                new SmoothGrad().samples(1 + r.nextInt(6)).noise(0.05 + 0.3 * r.nextDouble()).seed(r.nextLong()),
                new Occlusion().window(window).stride(stride).baseline(r.nextBoolean() ? 0 : r.nextDouble(-1, 1)));
    }

    private void compare(String method, float[] gpu, float[] cpu, String where) {
        String difference = ExplainFuzzTest.firstDifference(gpu, cpu, BOUND);
        if (difference != null) record(method + " differs between cuda:0 and the CPU", where + ": " + difference);
    }

    private void record(String what, String example) {
        findings.putIfAbsent(what, example);
    }
}
