package dev.soma.fuzz;

import dev.soma.data.ArrayDataset;
import dev.soma.data.Dataset;
import dev.soma.model.Checkpoint;
import dev.soma.model.FitOptions;
import dev.soma.model.FunctionalModel;
import dev.soma.model.Model;
import dev.soma.model.Sequential;
import dev.soma.nn.Layer;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;


/**
 * Random Sequential models of every family ({@link ModelStacks}) and functional graphs ({@link ModelGraphs}: several
 * inputs and heads, shared layers, merges, nested models), trained one epoch, saved, and trained on: the model
 * loaded from the file must predict and evaluate as the saved one did, bit for bit, and its second epoch must end on
 * the same weights as the one that never stopped (optimizer state and step, dropout streams, moving statistics,
 * regularizers, every layer option). A model whose layers do not fit together must refuse clearly; nothing may leak.
 * The seed changes every run and is printed: {@code -Dsoma.fuzz.seed=S} replays a run, {@code -Dsoma.fuzz.models=N} sets
 * how many models (default 60), {@code -Dsoma.fuzz.model=SEED} replays one.
 */
@ExtendWith(NoLeaks.class)
class ModelFuzzTest {
    static final long SEED = FuzzReports.seed(ModelFuzzTest.class);
    static final int MODELS = Integer.getInteger("soma.fuzz.models", 60);

    private final Map<String, String> findings = new LinkedHashMap<>();
    private int trained;
    private int refused;

    @Test
    void randomModelsSaveMidTrainingAndResumeBitForBit(@TempDir Path dir) throws Throwable {
        Long one = Long.getLong("soma.fuzz.model");
        SplittableRandom seeds = new SplittableRandom(SEED);
        for (int i = 0; i < (one == null ? MODELS : 1); i++) {
            long seed = one == null ? seeds.nextLong() : one;
            long live = FuzzReports.liveBytes(Device.cpu());
            String where = "model seed " + seed;
            try {
                where = trial(seed, dir.resolve("m" + i + ".safetensors"), where);
            } catch (AssertionError e) {
                throw e;
            } catch (Throwable e) {
                if (FuzzReports.isRefusal(e)) {
                    refused++;
                    if (one != null || Boolean.getBoolean("soma.fuzz.verbose")) System.out.println("refused: " + where + ": " + e);
                }
                String unclear = FuzzReports.unclearRefusal(e, false);
                if (unclear != null) record(unclear, where + ": " + e + " at " + FuzzReports.topFrames(e));
            }
            long leaked = FuzzReports.liveBytes(Device.cpu()) - live;
            if (leaked != 0) record("left native memory allocated", leaked + " bytes: " + where);
        }
        System.out.println("model fuzzing, seed " + SEED + ": " + trained + " models trained, saved and resumed, "
                + refused + " refused, " + findings.size() + " findings");
        FuzzReports.failIfAny(findings, SEED);
    }

    /**
     * One model, a Sequential stack (two draws in three) or a functional graph: an epoch, a save, another epoch; then
     * the loaded model's checks. Returns the model's description.
     */
    private String trial(long seed, Path file, String where) throws Throwable {
        SplittableRandom r = new SplittableRandom(seed);
        int n = 16 + r.nextInt(25);
        int batch = 4 + r.nextInt(13);
        long fitSeed = r.nextLong();
        if (r.nextInt(3) == 0) {
            ModelGraphs.Graph g = ModelGraphs.draw(r);
            Dataset data = ModelGraphs.data(g, n, r.nextLong());
            try (FunctionalModel m = g.model()) {
                where += " (graph of " + g.inputs().size() + " inputs, " + g.losses().size() + " heads, batch " + batch
                        + "): " + m.nodes().stream().map(node -> node.layer().typeName()).toList();
                m.seed(seed).compile(ModelStacks.optimizer(r), g.losses(), java.util.Collections.nCopies(g.losses().size(), 1.0));
                return saveAndResume(m, data, batch, fitSeed, file, where);
            }
        }
        ModelStacks.Stack stack = ModelStacks.draw(r);
        ArrayDataset data = data(stack, n, r.nextLong());
        try (Sequential m = new Sequential(stack.layers().toArray(new Layer[0]))) {
            where += " (" + stack.family() + " " + Arrays.toString(stack.input()) + ", batch " + batch + "): " + m.layers();
            m.seed(seed).compile(ModelStacks.optimizer(r), "sparse_categorical_crossentropy", "accuracy");
            return saveAndResume(m, data, batch, fitSeed, file, where);
        } finally {
            for (Layer l : stack.layers()) l.close(); // a model that refused to build may not own its layers yet
        }
    }

    private String saveAndResume(Model m, Dataset data, int batch, long fitSeed, Path file, String where) throws Throwable {
        m.fit(data, options(batch, fitSeed, 1, 0));
        m.save(file);
        List<float[]> atSave = WeightLists.of(m);
        List<float[]> predictedAtSave = predict(m, data);
        Map<String, Double> evaluatedAtSave = m.evaluate(data, 8);
        m.fit(data, options(batch, fitSeed, 2, 1));
        List<float[]> unbroken = WeightLists.of(m);
        try (Model loaded = Checkpoint.loadModel(file)) {
            if (!WeightLists.same(atSave, WeightLists.of(loaded))) record("loads other weights than it saved", where);
            if (!WeightLists.same(predictedAtSave, predict(loaded, data))) record("predicts otherwise after a load", where);
            if (!evaluatedAtSave.equals(loaded.evaluate(data, 8))) {
                record("evaluates otherwise after a load", where + ": " + evaluatedAtSave + " became " + loaded.evaluate(data, 8));
            }
            loaded.fit(data, options(batch, fitSeed, 2, 1));
            if (!WeightLists.same(unbroken, WeightLists.of(loaded))) {
                record("trains on to other weights after a load than without the break", where);
            }
        }
        trained++;
        return where;
    }

    private static FitOptions options(int batch, long seed, int epochs, int initialEpoch) {
        return new FitOptions().batchSize(batch).epochs(epochs).initialEpoch(initialEpoch).seed(seed).verbose(0);
    }

    /** Gaussian inputs (ids below the vocabulary for an id stack) and random labels. */
    static ArrayDataset data(ModelStacks.Stack s, int n, long seed) {
        return data(s, n, seed, 0);
    }

    /** The same, each float input moved by {@code nudge} of itself in a random direction (ids stay). */
    static ArrayDataset data(ModelStacks.Stack s, int n, long seed, double nudge) {
        SplittableRandom r = new SplittableRandom(seed);
        int per = Math.toIntExact(Arrays.stream(s.input()).reduce(1, Math::multiplyExact));
        float[] x = new float[n * per];
        for (int i = 0; i < x.length; i++) x[i] = s.vocabulary() > 0 ? r.nextInt(s.vocabulary()) : (float) r.nextGaussian();
        if (nudge != 0 && s.vocabulary() == 0) {
            SplittableRandom signs = new SplittableRandom(seed ^ 0x5EED);
            for (int i = 0; i < x.length; i++) x[i] = (float) (x[i] * (1 + (signs.nextBoolean() ? nudge : -nudge)));
        }
        int[] y = new int[n];
        for (int i = 0; i < n; i++) y[i] = r.nextInt(s.classes());
        return ArrayDataset.withLabels(x, s.input(), y);
    }

    /** Every output's predictions (kept for the caller: closed here). */
    private static List<float[]> predict(Model m, Dataset d) {
        List<float[]> out = new ArrayList<>();
        for (Tensor t : m.predictAll(d, 8)) {
            try (t) {
                out.add(t.toFloatArray());
            }
        }
        return out;
    }

    private void record(String what, String example) {
        findings.putIfAbsent(what, example);
    }
}
