package dev.soma.fuzz;

import dev.soma.data.ArrayDataset;
import dev.soma.memory.Scope;
import dev.soma.model.FitOptions;
import dev.soma.model.History;
import dev.soma.model.Sequential;
import dev.soma.nn.Layer;
import dev.soma.optim.SGD;
import dev.soma.tensor.Device;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * DP-SGD on cuda:0 (the per-example path: the ghost-norm kernels are CPU only) against the CPU (the ghost-norm path
 * where it applies), for random classifiers of {@link PrivateStacks} from the same initial weights, with noise
 * (Philox, the same numbers on every device), random clipping bounds and physical batches: the losses, ε and every
 * weight must agree within 1e-3 relative after two epochs of SGD, and both devices must refuse the same models.
 * {@code -Dsoma.fuzz.seed=S}, {@code -Dsoma.fuzz.gpuPrivateModels=N} (default 12).
 */
@Tag("gpu")
@ExtendWith(NoLeaks.class)
class CudaPrivateFitFuzzTest {
    static final long SEED = FuzzReports.seed(CudaPrivateFitFuzzTest.class);
    static final int MODELS = Integer.getInteger("soma.fuzz.gpuPrivateModels", 12);
    private static final Device GPU = Device.cuda(0);
    private static final double BOUND = 1e-3;

    private final Map<String, String> findings = new LinkedHashMap<>();
    private int compared, refused;

    @Test
    void privateFitsOnTheGpuEndWhereTheCpuEnds() throws Throwable {
        // (A refusal the trial does not catch itself, while a model is assembled, counts as refused by both.)
        FuzzReports.onTheGpu(() -> {
            int uncaught = FuzzReports.runTrials(SEED, MODELS, null, GPU, findings, this::trial);
            refused += uncaught; // after the call: the trials count their own refusals into the field
        });
        System.out.println("gpu private fits, seed " + SEED + ": " + compared + " compared with the CPU, " + refused
                + " refused by both, " + findings.size() + " findings");
        FuzzReports.failIfAny(findings, SEED);
    }

    private void trial(long seed) throws Throwable {
        SplittableRandom r = new SplittableRandom(seed);
        long drawSeed = r.nextLong();
        int n = 6 + r.nextInt(7);
        int batch = 2 + r.nextInt(n / 2);
        FitOptions options = new FitOptions().batchSize(batch).epochs(2).seed(r.nextLong()).verbose(0)
                .privacy(r.nextBoolean() ? 0 : 0.5 + r.nextDouble(), Math.exp(Math.log(0.05) + r.nextDouble() * Math.log(100)), 1e-5);
        if (r.nextInt(3) == 0) options.privacyPhysicalBatch(1 + r.nextInt(batch));
        double lr = 0.005 + 0.02 * r.nextDouble();
        ModelStacks.Stack onCpu = PrivateStacks.draw(new SplittableRandom(drawSeed));
        ModelStacks.Stack onGpu = PrivateStacks.draw(new SplittableRandom(drawSeed));
        ArrayDataset data = ModelFuzzTest.data(onCpu, n, r.nextLong());
        try (Sequential cpu = new Sequential(onCpu.layers().toArray(new Layer[0]));
             Sequential gpu = new Sequential(onGpu.layers().toArray(new Layer[0]))) {
            String where = "model seed " + seed + " (" + onCpu.family() + "): " + cpu.layers();
            History hc = null, hg = null;
            String cpuRefusal = null, gpuRefusal = null;
            try {
                cpu.seed(seed).compile(new SGD(lr), "sparse_categorical_crossentropy");
                hc = cpu.fit(data, options);
            } catch (RuntimeException e) {
                if (!FuzzReports.isRefusal(e)) throw e;
                cpuRefusal = String.valueOf(e.getMessage());
            }
            try {
                gpu.seed(seed).to(GPU).compile(new SGD(lr), "sparse_categorical_crossentropy");
                hg = gpu.fit(data, options);
            } catch (RuntimeException e) {
                if (!FuzzReports.isRefusal(e)) throw e;
                gpuRefusal = String.valueOf(e.getMessage());
            }
            if ((cpuRefusal == null) != (gpuRefusal == null)) {
                findings.putIfAbsent("is refused on one device only", where + ": cpu " + cpuRefusal + "; cuda:0 " + gpuRefusal);
                return;
            }
            if (cpuRefusal != null) {
                refused++;
                return;
            }
            compared++;
            for (String key : List.of("loss", "epsilon")) {
                List<Double> a = hc.get(key), b = hg.get(key);
                for (int e = 0; e < a.size(); e++) {
                    if (!a.get(e).equals(b.get(e)) && !(Math.abs(b.get(e) - a.get(e)) <= BOUND * Math.max(Math.abs(a.get(e)), 1e-6))) {
                        findings.putIfAbsent("reports another " + key + " on the GPU", where + ": epoch " + e + " cpu " + a.get(e)
                                + " cuda:0 " + b.get(e));
                    }
                }
            }
            try (Scope s = Scope.open()) {
                for (int i = 0; i < cpu.params().size(); i++) {
                    String name = cpu.params().get(i).name();
                    if (name.endsWith("/key/bias")) continue; // 0 in exact arithmetic (softmax ignores it): noise
                    double rel = TensorAgreement.error(gpu.params().get(i).value().to(Device.cpu()), cpu.params().get(i).value());
                    if (!(rel <= BOUND)) {
                        findings.putIfAbsent("trains to other weights on the GPU", where + ": " + name + " relative error " + rel);
                    }
                }
            }
        } finally {
            for (Layer l : onCpu.layers()) l.close();
            for (Layer l : onGpu.layers()) l.close();
        }
    }
}
