package dev.soma.robust;

import dev.soma.data.ArrayDataset;
import dev.soma.model.FitOptions;
import dev.soma.model.Sequential;
import dev.soma.nn.Dense;
import dev.soma.optim.Adam;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A task with one robust feature (class means 0.6 apart, more than 2 eps) and many weak, non-robust ones (means
 * 0.08 apart, less than 2 eps): plain training leans on the weak ones together, which an eps = 0.1 attack flips;
 * adversarial training must learn to rely on the robust feature.
 */
@ExtendWith(NoLeaks.class)
class AdversarialTrainingTest {
    private static final int D = 24;
    private static final double EPS = 0.1;

    @Test
    void fgsmRandomStartTrainingImprovesRobustAccuracyOverPlainTraining() {
        Data train = data(1500, 1);
        Data test = data(500, 2);
        double plainRobust;
        double advRobust;
        double advClean;
        try (Sequential plain = model()) {
            plain.fit(ArrayDataset.withLabels(train.x, new long[] {D}, train.y),
                    new FitOptions().epochs(8).batchSize(50).verbose(0).seed(1));
            RobustAccuracy.Result r = evaluate(plain, test);
            assertTrue(r.clean() > 0.9, "plain clean accuracy " + r.clean());
            plainRobust = r.robust();
        }
        try (Sequential adv = model()) {
            adv.fit(ArrayDataset.withLabels(train.x, new long[] {D}, train.y), new FitOptions().epochs(8).batchSize(50)
                    .verbose(0).seed(1).adversarial(Attacks.fgsmRandomStart(EPS, 0, 1, 11)));
            RobustAccuracy.Result r = evaluate(adv, test);
            advClean = r.clean();
            advRobust = r.robust();
        }
        assertTrue(advClean > 0.85, "adversarially trained clean accuracy " + advClean);
        assertTrue(advRobust > plainRobust + 0.2, "PGD accuracy: adversarial " + advRobust + " vs plain " + plainRobust);
    }

    @Test
    void gaussianNoiseTrainingRunsAndLearns() {
        Data train = data(1500, 3);
        try (Sequential m = model()) {
            var h = m.fit(ArrayDataset.withLabels(train.x, new long[] {D}, train.y),
                    new FitOptions().epochs(8).batchSize(50).verbose(0).gaussianNoise(0.1));
            java.util.List<Double> loss = h.get("loss");
            double last = loss.get(loss.size() - 1);
            assertTrue(Double.isFinite(last) && last < loss.get(0), "loss " + loss);
            double accuracy = RobustAccuracy.underChange(m, v -> v, train.x, new long[] {D}, train.y, 100);
            assertTrue(accuracy > 0.85, "accuracy " + accuracy);
        }
    }

    @Test
    void adversarialTrainingIsRefusedWithDpSgd() {
        Data train = data(100, 4);
        try (Sequential m = model()) {
            Exception e = assertThrows(UnsupportedOperationException.class, () -> m.fit(
                    ArrayDataset.withLabels(train.x, new long[] {D}, train.y), new FitOptions().verbose(0)
                            .adversarial(Attacks.fgsm(Norm.LINF, EPS, 0, 1)).privacy(1.0, 1.0, 1e-5)));
            assertTrue(e.getMessage().contains("DP-SGD"), e.getMessage());
        }
    }

    /** Gaussian noise is drawn from the fit's seed whichever was set first (it used to keep the seed of its call). */
    @Test
    void gaussianNoiseFollowsTheFitSeedWhateverTheOrderOfTheCalls() {
        Data train = data(64, 5);
        ArrayDataset ds = ArrayDataset.withLabels(train.x, new long[] {D}, train.y);
        java.util.function.Function<FitOptions, float[]> trained = o -> {
            try (Sequential m = model()) {
                m.fit(ds, o.verbose(0).epochs(1).batchSize(16));
                return m.params().get(0).value().toFloatArray();
            }
        };
        float[] seedFirst = trained.apply(new FitOptions().seed(5).gaussianNoise(0.3));
        assertArrayEquals(seedFirst, trained.apply(new FitOptions().gaussianNoise(0.3).seed(5)));
        assertFalse(java.util.Arrays.equals(seedFirst, trained.apply(new FitOptions().gaussianNoise(0.3).seed(6))),
                "another seed, other noise");
    }

    /** The perturbation takes the one input; a model of two used to fail inside the attack with "takes 2 inputs, got 1". */
    @Test
    void aModelWithTwoInputsIsRefusedBeforeTraining() {
        dev.soma.model.Input a = dev.soma.model.Input.of(3), b = dev.soma.model.Input.of(2);
        dev.soma.model.SymbolicTensor joined = dev.soma.model.SymbolicTensor.apply(new dev.soma.nn.Concatenate(), a, b);
        try (dev.soma.model.FunctionalModel m = new dev.soma.model.FunctionalModel(java.util.List.of(a, b),
                java.util.List.of(joined.then(new Dense(2, "softmax"))))) {
            m.compile(new Adam(0.01), "sparse_categorical_crossentropy");
            dev.soma.data.MultiArrayDataset data = dev.soma.data.MultiArrayDataset.builder().input(new float[12], 3)
                    .input(new float[8], 2).labels(new int[4]).build();
            for (FitOptions o : new FitOptions[] {new FitOptions().verbose(0).adversarial(Attacks.fgsm(Norm.LINF, EPS, 0, 1)),
                    new FitOptions().verbose(0).gaussianNoise(0.1)}) {
                Exception e = assertThrows(UnsupportedOperationException.class, () -> m.fit(data, o));
                assertTrue(e.getMessage().contains("2 input(s)"), e.getMessage());
            }
        }
    }

    private static RobustAccuracy.Result evaluate(Sequential m, Data test) {
        return RobustAccuracy.of(m, Attacks.pgd(Norm.LINF, EPS, 10, 0, 1, 5), test.x, new long[] {D}, test.y, 100, 0);
    }

    private static Sequential model() {
        Sequential m = new Sequential(new Dense(16, "relu"), new Dense(2, "softmax"));
        m.seed(4);
        m.compile(new Adam(0.01), "sparse_categorical_crossentropy", "accuracy");
        return m;
    }

    record Data(float[] x, int[] y) {}

    static Data data(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[n * D];
        int[] y = new int[n];
        for (int k = 0; k < n; k++) {
            y[k] = r.nextInt(2);
            double s = 2 * y[k] - 1;
            x[k * D] = clip(0.5 + 0.3 * s + 0.1 * Norm.gaussian(r));
            for (int i = 1; i < D; i++) x[k * D + i] = clip(0.5 + 0.04 * s + 0.05 * Norm.gaussian(r));
        }
        return new Data(x, y);
    }

    private static float clip(double v) {
        return (float) Math.max(0, Math.min(1, v));
    }
}
