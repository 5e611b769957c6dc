package dev.soma.fuzz;

import dev.soma.data.ArrayDataset;
import dev.soma.model.Callback;
import dev.soma.model.EarlyStopping;
import dev.soma.model.FitOptions;
import dev.soma.model.History;
import dev.soma.model.ModelCheckpoint;
import dev.soma.model.Sequential;
import dev.soma.nn.Layer;
import dev.soma.nn.Param;
import dev.soma.optim.LearningRateSchedule;
import dev.soma.optim.Optimizer;
import dev.soma.tensor.Device;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Runs on cuda:0 interrupted and resumed: random models ({@link ModelStacks}, dropout included) trained 3 epochs on the
 * GPU straight, or for 1 or 2 epochs with a ModelCheckpoint and then on from the file in a fresh model on the GPU,
 * must log and end bit for bit alike (the GPU's dropout streams, optimizer state and schedule come from the file). A
 * model without dropout resumed on the CPU from the GPU's checkpoint must end within 1e-3 of the GPU run (the devices
 * draw dropout masks differently), unless its loss left the float range: a diverged run's weights are the devices'
 * rounding differences grown without bound (NaN and inf), not comparable across devices. SGD with or without momentum, as the GPU model fuzzer. {@code -Dsoma.fuzz.seed=S}, {@code -Dsoma.fuzz.gpuResumes=N} (default 12).
 */
@Tag("gpu")
@ExtendWith(NoLeaks.class)
class CudaResumeFuzzTest {
    static final long SEED = FuzzReports.seed(CudaResumeFuzzTest.class);
    static final int MODELS = Integer.getInteger("soma.fuzz.gpuResumes", 12);
    private static final Device GPU = Device.cuda(0);
    private static final double BOUND = 1e-3;

    private final Map<String, String> findings = new LinkedHashMap<>();
    private int resumed, onCpu, diverged, refused;

    @Test
    void aResumedGpuRunIsTheRunThatNeverStopped(@TempDir Path dir) throws Throwable {
        FuzzReports.onTheGpu(() -> refused = FuzzReports.runTrials(SEED, MODELS, null, GPU, findings,
                seed -> trial(seed, Files.createDirectories(dir.resolve(Long.toString(seed))))));
        System.out.println("gpu resume fuzzing, seed " + SEED + ": " + resumed + " resumed on the GPU, " + onCpu
                + " also on the CPU, " + diverged + " diverged (not compared with the CPU), " + refused + " refused, "
                + findings.size() + " findings");
        FuzzReports.failIfAny(findings, SEED);
    }

    private record Plan(long drawSeed, int n, long dataSeed, int batch, long fitSeed, int breakAt, boolean split,
                        boolean schedule, boolean early) {}

    private void trial(long seed, Path dir) throws Throwable {
        SplittableRandom r = new SplittableRandom(seed);
        Plan p = new Plan(r.nextLong(), 12 + r.nextInt(13), r.nextLong(), 4 + r.nextInt(6), r.nextLong(), 1 + r.nextInt(2),
                r.nextBoolean(), r.nextBoolean(), r.nextInt(3) == 0);
        String where = "seed " + seed + " " + p;
        Run straight = fit(p, GPU, 3, null, false);
        where += ": " + straight.layers();
        Path file = dir.resolve("run.safetensors");
        Run interrupted = fit(p, GPU, p.breakAt(), file, false);
        if (interrupted.history().epochs() < p.breakAt()) return; // EarlyStopping ended it before the break
        Run resumedRun = fit(p, GPU, 3, file, true);
        resumed++;
        if (!straight.history().all().equals(resumedRun.history().all())) {
            findings.putIfAbsent("logs another history after a resume on the GPU", where + ": " + straight.history().all()
                    + " became " + resumedRun.history().all());
        } else if (!WeightLists.same(straight.weights(), resumedRun.weights())) {
            findings.putIfAbsent("ends on other weights after a resume on the GPU", where);
        }
        if (straight.stochastic()) return;
        // Seed 52398853076674: an E/I dense stack trained by SGD to a loss of 3.6e8, then NaN, and all its weights NaN.
        if (straight.history().all().values().stream().flatMap(List::stream).anyMatch(v -> !Double.isFinite(v))) {
            diverged++;
            return;
        }
        Run cpu = fit(p, Device.cpu(), 3, file, true);
        onCpu++;
        for (int i = 0; i < cpu.weights().size(); i++) {
            // A gradient that is 0 in exact arithmetic (a bias before batch normalisation, attention's key bias) moves
            // its weight by rounding noise only, of order 1e-8, which differs between the devices in every digit.
            double rel = WeightLists.relative(cpu.weights().get(i), straight.weights().get(i));
            if (!(rel <= BOUND) && !(WeightLists.maxAbsDifference(cpu.weights().get(i), straight.weights().get(i)) <= 1e-6)) {
                findings.putIfAbsent("ends elsewhere resumed on the CPU from a GPU checkpoint", where + ": "
                        + straight.names().get(i) + " relative error " + rel);
                break;
            }
        }
    }

    private record Run(History history, List<float[]> weights, List<String> names, String layers, boolean stochastic) {}

    private static Run fit(Plan p, Device device, int epochs, Path checkpoint, boolean resume) throws Throwable {
        ModelStacks.Stack s = ModelStacks.draw(new SplittableRandom(p.drawSeed()));
        boolean stochastic = false;
        for (Layer l : s.layers()) stochastic |= LayerFuzzer.stochastic(l.config());
        ArrayDataset data = ModelFuzzTest.data(s, p.n(), p.dataSeed());
        try (Sequential m = new Sequential(s.layers().toArray(new Layer[0]))) {
            String layers = String.valueOf(m.layers());
            // SGD: Adam would turn the devices' rounding noise on gradients that are 0 in exact arithmetic into steps.
            SplittableRandom or = new SplittableRandom(p.drawSeed() ^ 7);
            double lr = 0.005 + 0.03 * or.nextDouble();
            Optimizer o = or.nextBoolean() ? new dev.soma.optim.SGD(lr) : new dev.soma.optim.SGD(lr, 0.8, or.nextBoolean());
            if (p.schedule()) o.schedule(LearningRateSchedule.cosineDecay(0.02, 3L * (p.n() / p.batch() + 1), 0.1));
            m.seed(resume ? 99 : 5).to(device).compile(o, "sparse_categorical_crossentropy", "accuracy");
            FitOptions f = new FitOptions().batchSize(p.batch()).epochs(epochs).seed(p.fitSeed()).verbose(0);
            if (p.split()) f.validationSplit(0.25);
            List<Callback> callbacks = new ArrayList<>();
            if (p.early()) callbacks.add(new EarlyStopping("loss", 0, 0.01, true));
            if (checkpoint != null && !resume) callbacks.add(new ModelCheckpoint(checkpoint));
            if (resume) f.resumeFrom(checkpoint);
            History h = m.fit(data, f.callbacks(callbacks.toArray(new Callback[0])));
            List<String> names = new ArrayList<>();
            for (Param param : m.params()) names.add(param.name());
            return new Run(h, WeightLists.of(m), names, layers, stochastic);
        } finally {
            for (Layer l : s.layers()) l.close();
        }
    }

}
