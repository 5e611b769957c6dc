package dev.soma.gan;

import dev.soma.data.ArrayDataset;
import dev.soma.errors.SomaException;
import dev.soma.model.History;
import dev.soma.model.Sequential;
import dev.soma.nn.Dense;
import dev.soma.nn.Dropout;
import dev.soma.nn.LeakyReLU;
import dev.soma.optim.Adam;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** A GAN run saved after one epoch and resumed in fresh objects equals the two-epoch run, bit for bit (CPU). */
@ExtendWith(NoLeaks.class)
class GanResumeTest {
    static final int PIXELS = 16;
    static final int LATENT = 4;

    /** 24 synthetic 4x4 "images" in [-1, 1]: a bright row on a noisy background. */
    static ArrayDataset images() {
        SplittableRandom r = new SplittableRandom(7);
        int n = 24;
        float[] x = new float[n * PIXELS];
        for (int i = 0; i < n; i++) {
            int row = r.nextInt(4);
            for (int p = 0; p < PIXELS; p++) x[i * PIXELS + p] = p / 4 == row ? 0.9f : (float) (r.nextDouble() * 0.4 - 0.9);
        }
        return ArrayDataset.withLabels(x, new long[] {PIXELS}, new int[n]);
    }

    /** The pair, their optimizers and the trainer; D has dropout (except WGAN-GP's critic), so its stream matters too. */
    record Run(Sequential g, Adam gOpt, Sequential d, Adam dOpt, GanTrainer gan) implements AutoCloseable {
        static Run create(GanLoss loss, long trainerSeed) {
            Sequential g = (Sequential) new Sequential(new Dense(12), new LeakyReLU(0.2), new Dense(PIXELS, "tanh")).seed(1);
            // The gradient penalty has no rule for dropout: the critic goes without it.
            Sequential d = (Sequential) (loss == GanLoss.WASSERSTEIN_GP
                    ? new Sequential(new Dense(12, "leaky_relu"), new Dense(1))
                    : new Sequential(new Dense(12, "leaky_relu"), new Dropout(0.25), new Dense(1, "sigmoid"))).seed(2);
            Adam gOpt = new Adam(2e-3, 0.5, 0.999, 1e-7);
            Adam dOpt = new Adam(2e-3, 0.5, 0.999, 1e-7);
            GanTrainer gan = new GanTrainer(g, gOpt, d, dOpt, LATENT).loss(loss)
                    .discriminatorSteps(loss == GanLoss.WASSERSTEIN_GP ? 2 : 1).seed(trainerSeed);
            return new Run(g, gOpt, d, dOpt, gan);
        }

        @Override
        public void close() {
            gan.close();
            g.close();
            d.close();
        }
    }

    static List<float[]> weights(Sequential m) {
        List<float[]> out = new ArrayList<>();
        for (Tensor t : m.trainableTensors()) out.add(t.toFloatArray());
        return out;
    }

    static void assertSameWeights(List<float[]> want, List<float[]> got, String what) {
        assertEquals(want.size(), got.size(), what);
        for (int i = 0; i < want.size(); i++) assertArrayEquals(want.get(i), got.get(i), what + " tensor " + i);
    }

    @Test
    void aResumedRunEqualsTheUninterruptedOneBitForBit(@TempDir Path dir) throws Exception {
        ArrayDataset data = images();
        for (GanLoss loss : List.of(GanLoss.NON_SATURATING, GanLoss.WASSERSTEIN_GP)) {
            List<float[]> g2;
            List<float[]> d2;
            long gSteps;
            long dSteps;
            History straight;
            try (Run run = Run.create(loss, 5)) {
                straight = run.gan().fit(data, 4, 2, null);
                g2 = weights(run.g());
                d2 = weights(run.d());
                gSteps = run.gOpt().iterations();
                dSteps = run.dOpt().iterations();
            }
            Path state = dir.resolve(loss + ".safetensors");
            try (Run first = Run.create(loss, 5)) {
                first.gan().fit(data, 4, 1, (epoch, logs) -> first.gan().save(state));
            }
            // Fresh objects with another seed: the seed and the stream's position come from the file.
            try (Run resumed = Run.create(loss, 99)) {
                resumed.gan().restore(state);
                assertEquals(1, resumed.gan().completedEpochs());
                List<Integer> epochsSeen = new ArrayList<>();
                History h = resumed.gan().fit(data, 4, 2, (epoch, logs) -> epochsSeen.add(epoch));
                assertEquals(List.of(1), epochsSeen, loss + ": only the second epoch runs");
                assertEquals(straight.all(), h.all(), loss + ": the history");
                assertSameWeights(g2, weights(resumed.g()), loss + " generator");
                assertSameWeights(d2, weights(resumed.d()), loss + " discriminator");
                assertEquals(gSteps, resumed.gOpt().iterations(), loss + " generator optimizer steps");
                assertEquals(dSteps, resumed.dOpt().iterations(), loss + " discriminator optimizer steps");
            }
        }
    }

    /**
     * A learning rate the run changed between epochs (here halved by the epoch listener) comes back with the state, as
     * a model checkpoint's does; it used to restart at the rate the optimizers were made with.
     */
    @Test
    void aRateChangedBetweenEpochsSurvivesAResume(@TempDir Path dir) throws Exception {
        ArrayDataset data = images();
        List<float[]> g3;
        try (Run run = Run.create(GanLoss.NON_SATURATING, 5)) {
            run.gan().fit(data, 4, 3, (epoch, logs) -> halve(run));
            g3 = weights(run.g());
        }
        Path state = dir.resolve("decayed.safetensors");
        try (Run first = Run.create(GanLoss.NON_SATURATING, 5)) {
            first.gan().fit(data, 4, 1, (epoch, logs) -> {
                halve(first);
                first.gan().save(state);
            });
        }
        try (Run resumed = Run.create(GanLoss.NON_SATURATING, 99)) {
            resumed.gan().restore(state);
            assertEquals(1e-3, resumed.gOpt().currentLearningRate(), 1e-15);
            resumed.gan().fit(data, 4, 3, (epoch, logs) -> halve(resumed));
            assertSameWeights(g3, weights(resumed.g()), "generator");
        }
    }

    private static void halve(Run run) {
        run.gOpt().learningRate(run.gOpt().currentLearningRate() / 2);
        run.dOpt().learningRate(run.dOpt().currentLearningRate() / 2);
    }

    @Test
    void aStateOfOtherOptionsIsRefused(@TempDir Path dir) throws Exception {
        Path state = dir.resolve("gan.safetensors");
        try (Run run = Run.create(GanLoss.NON_SATURATING, 5)) {
            run.gan().fit(images(), 4, 1, null);
            run.gan().save(state);
        }
        try (Run other = Run.create(GanLoss.LEAST_SQUARES, 5)) {
            SomaException e = assertThrows(SomaException.class, () -> other.gan().restore(state));
            assertTrue(e.getMessage().contains("NON_SATURATING") && e.getMessage().contains("LEAST_SQUARES"), e.getMessage());
        }
        // Options that change D's loss or its passes: before, a trainer set otherwise resumed silently on another loss.
        try (Run smoothed = Run.create(GanLoss.NON_SATURATING, 5)) {
            smoothed.gan().labelSmoothing(0.1);
            SomaException e = assertThrows(SomaException.class, () -> smoothed.gan().restore(state));
            assertTrue(e.getMessage().contains("label_smoothing=0.0") && e.getMessage().contains("label_smoothing=0.1,"),
                    e.getMessage());
        }
        try (Run twoPasses = Run.create(GanLoss.NON_SATURATING, 5)) {
            twoPasses.gan().discriminatorSinglePass(false);
            assertThrows(SomaException.class, () -> twoPasses.gan().restore(state));
        }
        try (Run same = Run.create(GanLoss.NON_SATURATING, 5)) {
            same.gan().restore(state); // the same options: accepted
            assertEquals(1, same.gan().completedEpochs());
        }
    }
}
