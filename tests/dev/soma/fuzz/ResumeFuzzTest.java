package dev.soma.fuzz;

import dev.soma.data.Dataset;
import dev.soma.model.Callback;
import dev.soma.model.Checkpoint;
import dev.soma.model.CsvLogger;
import dev.soma.model.EarlyStopping;
import dev.soma.model.FitOptions;
import dev.soma.model.FunctionalModel;
import dev.soma.model.History;
import dev.soma.model.LearningRateScheduler;
import dev.soma.model.Loss;
import dev.soma.model.Model;
import dev.soma.model.ModelCheckpoint;
import dev.soma.model.Sequential;
import dev.soma.nn.Layer;
import dev.soma.optim.LearningRateSchedule;
import dev.soma.optim.Optimizer;
import dev.soma.robust.Attacks;
import dev.soma.robust.Norm;
import dev.soma.tensor.Device;
import dev.soma.testing.NoLeaks;
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
 * A run interrupted and resumed from its checkpoint must be the run that never stopped, bit for bit: random models
 * ({@link ModelStacks}, {@link ModelGraphs}) trained with random fit options (validation split or data, shuffling,
 * learning-rate schedules, a LearningRateScheduler, EarlyStopping on any logged value with or without restoring the
 * best weights, a CsvLogger, label smoothing, Gaussian-noise or adversarial augmentation, DP-SGD, bf16 mixed
 * precision, gradient clipping) for 3 to 5 epochs straight, or for k epochs with a ModelCheckpoint and then on from
 * the file: in a fresh, differently seeded model ({@code resumeFrom}), and as Keras does it (the whole model from
 * {@code Checkpoint.loadModel}, then {@code initialEpoch}). The histories, the stopping epoch, the CSV logs and the
 * final weights must be equal. The seed changes every run and
 * is printed: {@code -Dsoma.fuzz.seed=S} replays a run, {@code -Dsoma.fuzz.resumes=N} sets how many models (default
 * 40), {@code -Dsoma.fuzz.model=SEED} replays one.
 */
@ExtendWith(NoLeaks.class)
class ResumeFuzzTest {
    static final long SEED = FuzzReports.seed(ResumeFuzzTest.class);
    static final int MODELS = Integer.getInteger("soma.fuzz.resumes", 40);

    private final Map<String, String> findings = new LinkedHashMap<>();
    private int resumed, stoppedEarly, refused;

    @Test
    void aResumedRunIsTheRunThatNeverStopped(@TempDir Path dir) throws Throwable {
        refused = FuzzReports.runTrials(SEED, MODELS, Long.getLong("soma.fuzz.model"), Device.cpu(), findings,
                seed -> trial(seed, Files.createDirectories(dir.resolve(Long.toString(seed)))));
        System.out.println("resume fuzzing, seed " + SEED + ": " + resumed + " runs resumed, " + stoppedEarly
                + " stopped early before the break, " + refused + " refused, " + findings.size() + " findings");
        FuzzReports.failIfAny(findings, SEED);
    }

    /** What one trial draws besides the model: everything a run's three fits share. */
    private record Plan(long drawSeed, boolean graph, int n, long dataSeed, int epochs, int breakAt, int batch, long fitSeed,
                        boolean shuffle, int validation, int optimizer, int schedule, int scheduler, boolean smoothing,
                        int augmentation, boolean privacy, String monitor, int patience, double minDelta,
                        boolean restoreBest, boolean early, boolean csv, boolean bf16, int clipping) {}

    private void trial(long seed, Path dir) throws Throwable {
        SplittableRandom r = new SplittableRandom(seed);
        boolean graph = r.nextInt(3) == 0;
        int epochs = 3 + r.nextInt(3);
        int augmentation = r.nextInt(4); // 0, 1: none; 2: Gaussian noise; 3: adversarial
        Plan p = new Plan(r.nextLong(), graph, 16 + r.nextInt(25), r.nextLong(), epochs, 1 + r.nextInt(epochs - 1),
                4 + r.nextInt(13), r.nextLong(), r.nextBoolean(), r.nextInt(3), r.nextInt(5), r.nextInt(3), r.nextInt(3),
                r.nextInt(4) == 0, augmentation, augmentation < 2 && r.nextInt(5) == 0,
                new String[] {"loss", "val_loss", "accuracy", "val_accuracy"}[r.nextInt(4)], r.nextInt(3),
                r.nextBoolean() ? 0 : 0.01 * r.nextDouble(), r.nextBoolean(), r.nextInt(3) == 0, r.nextBoolean(),
                r.nextInt(6) == 0, r.nextInt(4));
        String where = "seed " + seed + " " + p;
        Path file = dir.resolve("run.safetensors");
        Path straightCsv = dir.resolve("straight.csv"), resumedCsv = dir.resolve("resumed.csv");

        Run straight = fit(p, seed, p.epochs(), null, false, straightCsv);
        where += ": " + straight.description();
        Run interrupted = fit(p, seed, p.breakAt(), file, false, resumedCsv);
        if (interrupted.history().epochs() < p.breakAt()) { // EarlyStopping ended it before the break
            stoppedEarly++;
            if (straight.history().epochs() != interrupted.history().epochs()) {
                record("stops at another epoch when asked for fewer epochs", where + ": " + interrupted.history().epochs()
                        + " against " + straight.history().epochs());
            }
            return;
        }
        Files.copy(file, dir.resolve("at-break.safetensors"));
        Run resumedRun = fit(p, seed ^ 0x5EED, p.epochs(), file, true, resumedCsv);
        resumed++;
        compare(straight, resumedRun, "resumeFrom", where, p);
        if (p.csv() && !Files.readString(straightCsv).equals(Files.readString(resumedCsv))) {
            record("writes another CSV log after a resume", where + ":\n" + Files.readString(straightCsv) + "became\n"
                    + Files.readString(resumedCsv));
        }
        // Keras' way: the whole model loaded from the file (its optimizer and schedule with it), then initialEpoch.
        try (Model loaded = Checkpoint.loadModel(dir.resolve("at-break.safetensors"))) {
            Data data = data(p);
            FitOptions o = options(p, p.epochs(), data).initialEpoch(loaded.completedEpochs());
            o.callbacks(callbacks(p, loaded, dir.resolve("loaded.csv"), null, false).toArray(new Callback[0]));
            History h = loaded.fit(data.train(), o);
            compare(straight, new Run(h, WeightLists.of(loaded), ""), "Checkpoint.loadModel and initialEpoch", where, p);
        }
    }

    private void compare(Run straight, Run resumedRun, String how, String where, Plan p) {
        if (!straight.history().all().equals(resumedRun.history().all())) {
            record("logs another history after a resume (" + how + ")", where + ": break after epoch " + p.breakAt() + ": "
                    + straight.history().all() + " became " + resumedRun.history().all());
        } else if (!WeightLists.same(straight.weights(), resumedRun.weights())) {
            record("ends on other weights after a resume (" + how + ")", where + ": break after epoch " + p.breakAt());
        }
    }

    private record Run(History history, List<float[]> weights, String description) {}

    /**
     * One fit of the plan's model: {@code epochs} in all; {@code checkpoint}: written every epoch, or (resume) the
     * file this fit resumes from; {@code modelSeed} seeds the weights (a resumed model's come from the file).
     */
    private Run fit(Plan p, long modelSeed, int epochs, Path checkpoint, boolean resume, Path csv) throws Throwable {
        SplittableRandom r = new SplittableRandom(p.drawSeed());
        Model m;
        List<Layer> layers;
        List<Loss> losses;
        Data data;
        if (p.graph()) {
            ModelGraphs.Graph g = ModelGraphs.draw(r);
            m = g.model();
            layers = new ArrayList<>();
            losses = g.losses();
            data = data(p, g);
        } else {
            ModelStacks.Stack s = ModelStacks.draw(r);
            data = data(p, s);
            m = new Sequential(s.layers().toArray(new Layer[0]));
            layers = s.layers();
            losses = List.of(Loss.byName("sparse_categorical_crossentropy"));
        }
        try (m) {
            String description = p.graph() ? "graph " + ((FunctionalModel) m).nodes().stream().map(n -> n.layer().typeName()).toList()
                    : String.valueOf(m.layers());
            if (p.smoothing()) {
                List<Loss> smoothed = new ArrayList<>();
                for (Loss l : losses) smoothed.add(l.name().contains("crossentropy") ? Loss.withLabelSmoothing(l.name(), 0.1) : l);
                losses = smoothed;
            }
            // A graph's regression head has no accuracy: graphs log losses only, and EarlyStopping watches one of them.
            String[] metrics = p.graph() ? new String[0] : new String[] {"accuracy"};
            m.seed(modelSeed).compile(optimizer(p), losses, java.util.Collections.nCopies(losses.size(), 1.0), metrics);
            FitOptions o = options(p, epochs, data);
            if (resume) o.resumeFrom(checkpoint);
            o.callbacks(callbacks(p, m, csv, checkpoint, resume).toArray(new Callback[0]));
            History h = m.fit(data.train(), o);
            return new Run(h, WeightLists.of(m), description);
        } finally {
            for (Layer l : layers) l.close(); // a model that refused to build may not own its layers yet
        }
    }

    /** The plan's fit options for {@code epochs} in all (inputs of ids take no augmentation). */
    private static FitOptions options(Plan p, int epochs, Data data) {
        FitOptions o = new FitOptions().batchSize(p.batch()).epochs(epochs).seed(p.fitSeed()).shuffle(p.shuffle()).verbose(0);
        if (p.validation() == 1) o.validationSplit(0.25);
        if (p.validation() == 2) o.validationData(data.validation());
        if (p.augmentation() == 2 && !data.ids()) o.gaussianNoise(0.1);
        if (p.augmentation() == 3 && !data.ids()) o.adversarial(Attacks.pgd(Norm.LINF, 0.05, 2, -100, 100, p.fitSeed()));
        if (p.privacy()) o.privacy(0.5, 1.0, 1e-5);
        if (p.bf16()) o.precision(dev.soma.tensor.Precision.BF16);
        return o;
    }

    /** Fresh callbacks of the plan; {@code checkpoint}: written every epoch unless this fit resumes from it. */
    private static List<Callback> callbacks(Plan p, Model m, Path csv, Path checkpoint, boolean resume) {
        List<Callback> callbacks = new ArrayList<>();
        // A graph's regression head has no accuracy: graphs log losses only, and EarlyStopping watches one of them.
        String monitor = p.graph() ? p.monitor().replace("accuracy", "loss") : p.monitor();
        if (p.early()) callbacks.add(new EarlyStopping(monitor, p.patience(), p.minDelta(), p.restoreBest()));
        if (p.scheduler() == 1) callbacks.add(new LearningRateScheduler((epoch, lr) -> lr * 0.7));
        if (p.scheduler() == 2) callbacks.add(new LearningRateScheduler((epoch, lr) -> 0.02 / (1 + epoch)));
        if (p.csv()) callbacks.add(new CsvLogger(csv));
        if (checkpoint != null && !resume) callbacks.add(new ModelCheckpoint(checkpoint));
        return callbacks;
    }

    /** The plan's training and validation data, and whether its inputs are ids. */
    private record Data(Dataset train, Dataset validation, boolean ids) {}

    private static Data data(Plan p, ModelGraphs.Graph g) {
        return new Data(ModelGraphs.data(g, p.n(), p.dataSeed()), ModelGraphs.data(g, 8, p.dataSeed() + 1), false);
    }

    private static Data data(Plan p, ModelStacks.Stack s) {
        return new Data(ModelFuzzTest.data(s, p.n(), p.dataSeed()), ModelFuzzTest.data(s, 8, p.dataSeed() + 1),
                s.vocabulary() > 0);
    }

    /** The plan's data for a model loaded from a file: the model is drawn again for it (the draw fixes the shapes). */
    private static Data data(Plan p) throws Throwable {
        SplittableRandom r = new SplittableRandom(p.drawSeed());
        if (p.graph()) {
            ModelGraphs.Graph g = ModelGraphs.draw(r);
            try (FunctionalModel m = g.model()) {
                return data(p, g);
            }
        }
        ModelStacks.Stack s = ModelStacks.draw(r);
        for (Layer l : s.layers()) l.close();
        return data(p, s);
    }

    private static Optimizer optimizer(Plan p) {
        Optimizer o = ModelStacks.optimizer(new SplittableRandom(p.drawSeed() ^ p.optimizer()));
        long steps = (long) p.epochs() * (p.n() / p.batch() + 1);
        if (p.schedule() == 1) o.schedule(LearningRateSchedule.cosineDecay(0.02, steps, 0.1));
        if (p.schedule() == 2) o.schedule(LearningRateSchedule.exponentialDecay(0.02, 3, 0.8, p.shuffle()));
        if (p.clipping() == 1) o.clipValue(0.05);
        if (p.clipping() == 2) o.globalClipNorm(0.5);
        return o;
    }

    private void record(String what, String example) {
        findings.putIfAbsent(what, example);
    }
}
