package dev.soma.fuzz;

import dev.soma.data.ArrayDataset;
import dev.soma.gan.GanLoss;
import dev.soma.gan.GanTrainer;
import dev.soma.memory.Scope;
import dev.soma.model.History;
import dev.soma.model.Sequential;
import dev.soma.nn.*;
import dev.soma.optim.Optimizer;
import dev.soma.tensor.Device;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * GAN runs interrupted and resumed ({@link GanTrainer#save}, {@link GanTrainer#restore}) must be the runs that never
 * stopped, bit for bit: random generator and discriminator stacks (dense layers with random widths and activations,
 * batch normalisation and LeakyReLU in G, dropout and layer normalisation in D), every loss, 1 to 3 discriminator
 * steps, label smoothing, one or two discriminator passes, a random gradient-penalty weight, random optimizers; 2 to 4
 * epochs straight, or saved after a random epoch and continued in fresh objects seeded otherwise. The histories, every
 * weight and moving statistic, and the samples of the fixed noise must be equal. {@code -Dsoma.fuzz.seed=S},
 * {@code -Dsoma.fuzz.gans=N} (default 20), {@code -Dsoma.fuzz.model=SEED}.
 */
@ExtendWith(NoLeaks.class)
class GanResumeFuzzTest {
    static final long SEED = FuzzReports.seed(GanResumeFuzzTest.class);
    static final int GANS = Integer.getInteger("soma.fuzz.gans", 20);

    private final Map<String, String> findings = new LinkedHashMap<>();
    private int resumed, refused;

    @Test
    void aResumedGanRunIsTheRunThatNeverStopped(@TempDir Path dir) throws Throwable {
        refused = FuzzReports.runTrials(SEED, GANS, Long.getLong("soma.fuzz.model"), Device.cpu(), findings,
                seed -> trial(seed, Files.createDirectories(dir.resolve(Long.toString(seed)))));
        System.out.println("gan resume fuzzing, seed " + SEED + ": " + resumed + " runs resumed, " + refused + " refused, "
                + findings.size() + " findings");
        FuzzReports.failIfAny(findings, SEED);
    }

    /** What one trial draws: the three runs build their pairs and trainers from it alike. */
    private record Plan(long drawSeed, GanLoss loss, int k, double smoothing, boolean singlePass, double penalty,
                        int pixels, int latent, int n, int batch, int epochs, int breakAt) {}

    /** A pair of models, their optimizers and the trainer over them. */
    private record Gan(Sequential g, Sequential d, GanTrainer trainer) implements AutoCloseable {
        @Override
        public void close() {
            trainer.close();
            g.close();
            d.close();
        }
    }

    private void trial(long seed, Path dir) throws Throwable {
        SplittableRandom r = new SplittableRandom(seed);
        GanLoss loss = GanLoss.values()[r.nextInt(GanLoss.values().length)];
        int epochs = 2 + r.nextInt(3);
        Plan p = new Plan(r.nextLong(), loss, 1 + r.nextInt(3), r.nextBoolean() ? 0 : 0.1 * r.nextDouble(),
                r.nextBoolean(), 1 + 10 * r.nextDouble(), 2 + r.nextInt(8), 1 + r.nextInt(5), 12 + r.nextInt(20),
                2 + r.nextInt(7), epochs, 1 + r.nextInt(epochs - 1));
        ArrayDataset data = data(p, r.nextLong());
        String where = "seed " + seed + " " + p;
        History straight;
        List<float[]> straightWeights;
        float[] straightSamples;
        try (Gan gan = gan(p, 5)) {
            where += ": G " + gan.g().layers() + ", D " + gan.d().layers();
            straight = gan.trainer().fit(data, p.batch(), p.epochs(), null);
            straightWeights = weights(gan);
            straightSamples = samples(gan);
        }
        Path state = dir.resolve("gan.safetensors");
        try (Gan gan = gan(p, 5)) {
            gan.trainer().fit(data, p.batch(), p.breakAt(), (epoch, logs) -> gan.trainer().save(state));
        }
        try (Gan gan = gan(p, 99)) {
            gan.trainer().restore(state);
            History h = gan.trainer().fit(data, p.batch(), p.epochs(), null);
            resumed++;
            if (!straight.all().equals(h.all())) {
                findings.putIfAbsent("logs another history after a resume", where + ": break after epoch " + p.breakAt()
                        + ": " + straight.all() + " became " + h.all());
            } else if (!WeightLists.same(straightWeights, weights(gan))) {
                findings.putIfAbsent("ends on other weights after a resume", where + ": break after epoch " + p.breakAt());
            } else if (!Arrays.equals(straightSamples, samples(gan))) {
                findings.putIfAbsent("draws other samples of the fixed noise after a resume", where);
            }
        }
    }

    /** The pair of the plan, G and D seeded 1 and 2, the trainer seeded {@code trainerSeed} (a resume takes the file's). */
    private static Gan gan(Plan p, long trainerSeed) throws Throwable {
        SplittableRandom r = new SplittableRandom(p.drawSeed());
        LayerKnobs k = new LayerKnobs(r, false);
        List<Layer> g = new ArrayList<>();
        for (int i = 0, n = 1 + r.nextInt(2); i < n; i++) {
            g.add(new Dense(k.count(2, 8), k.activation()));
            if (r.nextInt(3) == 0) g.add(new BatchNormalization());
            if (r.nextInt(3) == 0) g.add(new LeakyReLU(0.2));
        }
        g.add(new Dense(p.pixels(), "tanh"));
        boolean critic = p.loss() == GanLoss.WASSERSTEIN_GP; // the penalty has no rule for dropout or batch statistics
        List<Layer> d = new ArrayList<>();
        for (int i = 0, n = 1 + r.nextInt(2); i < n; i++) {
            d.add(new Dense(k.count(2, 8), "leaky_relu"));
            if (!critic && r.nextInt(3) == 0) d.add(new Dropout(0.3 * r.nextDouble()));
            if (!critic && r.nextInt(4) == 0) d.add(new LayerNormalization()); // (the penalty has no rule for it)
        }
        boolean probabilities = p.loss() == GanLoss.MINIMAX || p.loss() == GanLoss.NON_SATURATING;
        d.add(new Dense(1, probabilities ? "sigmoid" : null));
        Sequential gm = (Sequential) new Sequential(g.toArray(new Layer[0])).seed(1);
        Sequential dm = (Sequential) new Sequential(d.toArray(new Layer[0])).seed(2);
        Optimizer go = ModelStacks.optimizer(new SplittableRandom(p.drawSeed() ^ 1));
        Optimizer dopt = ModelStacks.optimizer(new SplittableRandom(p.drawSeed() ^ 2));
        GanTrainer t = new GanTrainer(gm, go, dm, dopt, p.latent()).loss(p.loss()).discriminatorSteps(p.k())
                .discriminatorSinglePass(p.singlePass()).seed(trainerSeed).fixedNoiseCount(4);
        if (p.loss() == GanLoss.WASSERSTEIN_GP) t.gradientPenaltyWeight(p.penalty());
        else t.labelSmoothing(p.smoothing());
        return new Gan(gm, dm, t);
    }

    /** n "images" of the plan's pixels in [-1, 1]. */
    private static ArrayDataset data(Plan p, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[p.n() * p.pixels()];
        for (int i = 0; i < x.length; i++) x[i] = (float) Math.tanh(r.nextGaussian());
        return ArrayDataset.withLabels(x, new long[] {p.pixels()}, new int[p.n()]);
    }

    /** Every weight of both models, moving statistics included. */
    private static List<float[]> weights(Gan gan) {
        List<float[]> out = new ArrayList<>(WeightLists.of(gan.g()));
        out.addAll(WeightLists.of(gan.d()));
        return out;
    }

    private static float[] samples(Gan gan) {
        try (Scope s = Scope.open()) {
            return gan.trainer().generate(gan.trainer().fixedNoise()).toFloatArray();
        }
    }
}
