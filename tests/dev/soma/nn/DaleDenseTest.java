package dev.soma.nn;

import dev.soma.autograd.GradMode;
import dev.soma.autograd.Gradcheck;
import dev.soma.data.ArrayDataset;
import dev.soma.errors.ShapeException;
import dev.soma.gan.GanTrainer;
import dev.soma.memory.Scope;
import dev.soma.model.Callback;
import dev.soma.model.Checkpoint;
import dev.soma.model.FitOptions;
import dev.soma.model.FunctionalModel;
import dev.soma.model.Input;
import dev.soma.model.Model;
import dev.soma.model.Sequential;
import dev.soma.ops.Creation;
import dev.soma.optim.Adam;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** DaleDense: gradients, the paper's initialisation, sign constraints during training, save/load, bad input. */
@ExtendWith(NoLeaks.class)
class DaleDenseTest {
    /** Non-negative inputs (excitatory activity), away from 0 so the divisive denominator stays well scaled. */
    private static Tensor activity(long seed, long... shape) {
        return Creation.normal(seed, 0, 1, DType.F64, Device.cpu(), shape).abs().add(0.1);
    }

    private static void gradcheck(DaleDense layer, Tensor x) {
        long[] s = x.shape();
        layer.build(java.util.Arrays.copyOfRange(s, 1, s.length), DType.F64, new SplittableRandom(3));
        List<Tensor> inputs = new ArrayList<>();
        inputs.add(x);
        for (Param p : layer.params()) inputs.add(p.value());
        Gradcheck.assertGradients(layer.name(), xs -> layer.apply(xs[0], true), inputs.toArray(Tensor[]::new));
    }

    @Test
    void gradientsOfSubtractiveAndDivisiveForms() {
        try (Scope s = Scope.open(); DaleDense sub = new DaleDense(5, "tanh").excitatoryShare(0.6);
             DaleDense div = new DaleDense(4).divisive(true); DaleDense seq = new DaleDense(3)) {
            gradcheck(sub, activity(1, 3, 6));
            assertEquals(2, sub.inhibitoryUnits());
            gradcheck(div, activity(2, 3, 7));
            gradcheck(seq, activity(3, 2, 3, 6)); // acts on the last axis of [B, T, F]
            assertArrayEquals(new long[] {3, 3}, seq.outputShape());
        }
    }

    @Test
    void initialisationCentresTheOutputAndKeepsHeVariance() {
        int d = 400;
        int units = 300;
        try (Scope s = Scope.open(); DaleDense layer = new DaleDense(units).useBias(false)) {
            layer.build(new long[] {d}, DType.F64, new SplittableRandom(11));
            double[] ee = layer.wEE().toDoubleArray();
            double[] ie = layer.wIE().toDoubleArray();
            double[] ei = layer.wEI().toDoubleArray();
            int ni = layer.inhibitoryUnits();
            assertEquals(30, ni, "the default share 0.9 gives 10 % interneurons");
            double eeMean = 0;
            for (double v : ee) {
                assertTrue(v >= 0);
                eeMean += v / ee.length;
            }
            assertEquals(1 / Math.sqrt(d / 2.0), eeMean, 0.02 / Math.sqrt(d / 2.0), "Exponential(λ) has mean 1/λ");
            for (double v : ei) assertEquals(1.0 / ni, v, 1e-15);
            for (int j = 0; j < d; j++) {
                double rowMean = 0;
                for (int k = 0; k < units; k++) rowMean += ee[j * units + k] / units;
                for (int i = 0; i < ni; i++) assertEquals(rowMean, ie[j * ni + i], 1e-12, "W_IE is W_EE's mean row");
            }
            // Rectified-Gaussian inputs: every example's outputs average to exactly 0 over the units, and their
            // variance is 2 E[x²] = 1, as He initialisation gives an ordinary Dense layer.
            try (GradMode.Guard g = GradMode.disable()) {
                Tensor x = Creation.normal(5, 0, 1, DType.F64, Device.cpu(), 64, d).relu();
                double[] z = layer.apply(x, false).toDoubleArray();
                double sumSq = 0;
                for (int b = 0; b < 64; b++) {
                    double mean = 0;
                    for (int k = 0; k < units; k++) mean += z[b * units + k] / units;
                    assertEquals(0, mean, 1e-9, "example " + b + " is centred over the outputs");
                }
                for (double v : z) sumSq += v * v;
                double variance = sumSq / z.length;
                assertEquals(1.0, variance, 0.15, "output variance " + variance);
            }
        }
    }

    @Test
    void divisiveInitialisationStandardisesTheOutput() {
        int d = 400;
        try (Scope s = Scope.open(); DaleDense layer = new DaleDense(300).divisive(true).useBias(false)) {
            layer.build(new long[] {d}, DType.F64, new SplittableRandom(12));
            try (GradMode.Guard g = GradMode.disable()) {
                Tensor x = Creation.normal(6, 0, 1, DType.F64, Device.cpu(), 64, d).relu();
                double[] z = layer.apply(x, false).toDoubleArray();
                double sumSq = 0;
                for (double v : z) sumSq += v * v;
                assertEquals(1.0, sumSq / z.length, 0.15, "γ is the numerator's standard deviation at init");
            }
        }
    }

    @Test
    void interneuronCountFollowsTheExcitatoryShare() {
        assertEquals(13, new DaleDense(128).inhibitoryUnits());
        assertEquals(26, new DaleDense(128).excitatoryShare(0.8).inhibitoryUnits());
        assertEquals(1, new DaleDense(3).inhibitoryUnits(), "at least one interneuron");
    }

    @Test
    void badInputIsRefusedWithClearMessages() {
        IllegalArgumentException units = assertThrows(IllegalArgumentException.class, () -> new DaleDense(0));
        assertTrue(units.getMessage().contains("DaleDense") && units.getMessage().contains("0"), units.getMessage());
        for (double share : new double[] {0, 1, -0.2, 1.5, Double.NaN}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new DaleDense(4).excitatoryShare(share));
            assertTrue(e.getMessage().contains("excitatory share") && e.getMessage().contains("(0, 1)"), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> new DaleDense(4, "swishy"));
        try (Scope s = Scope.open(); DaleDense layer = new DaleDense(4)) {
            layer.apply(activity(1, 2, 5), false);
            ShapeException e = assertThrows(ShapeException.class, () -> layer.apply(activity(2, 2, 6), false));
            assertTrue(e.getMessage().contains(layer.name()) && e.getMessage().contains("[2, 6]"), e.getMessage());
            IllegalStateException late = assertThrows(IllegalStateException.class, () -> layer.excitatoryShare(0.8));
            assertTrue(late.getMessage().contains(layer.name()) && late.getMessage().contains("before"), late.getMessage());
        }
    }

    /** Non-negative features, label: whether the first half outweighs the second (needs inhibition to learn). */
    private static ArrayDataset task(int n, int features, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[n * features];
        int[] y = new int[n];
        for (int i = 0; i < n; i++) {
            double a = 0;
            for (int j = 0; j < features; j++) {
                float v = (float) r.nextDouble();
                x[i * features + j] = v;
                a += j < features / 2 ? v : -v;
            }
            y[i] = a > 0 ? 1 : 0;
        }
        return ArrayDataset.withLabels(x, new long[] {features}, y);
    }

    /** Fails the step that leaves any constrained weight negative; counts weights the projection pinned to 0. */
    private static final class SignCheck implements Callback {
        int steps;
        long zeros;

        @Override
        public void onBatchEnd(Model model, int batch, Map<String, Double> logs) {
            steps++;
            zeros = 0;
            int constrained = 0;
            for (Param p : model.params()) {
                if (p.constraint() == null) continue;
                constrained++;
                for (double v : p.value().toDoubleArray()) {
                    if (!(v >= 0)) fail(p.name() + " holds " + v + " after step " + steps);
                    if (v == 0) zeros++;
                }
            }
            assertEquals(6, constrained, "W_EE, W_IE and W_EI of both layers are constrained");
        }
    }

    @Test
    void everyConstrainedWeightKeepsItsSignAfterEveryStep() {
        ArrayDataset data = task(512, 8, 1);
        SignCheck check = new SignCheck();
        try (Sequential m = new Sequential(new DaleDense(16, "relu"), new DaleDense(2, "softmax"))) {
            m.seed(4).compile(new Adam(0.05), "sparse_categorical_crossentropy", "accuracy");
            m.fit(data, new FitOptions().batchSize(32).epochs(6).seed(2).verbose(0).callbacks(check));
            assertEquals(6 * 16, check.steps);
            // Adam at this rate pushes weights below zero: without the projection they would stay negative.
            assertTrue(check.zeros > 0, "the projection never had to act");
            double accuracy = m.evaluate(task(256, 8, 2), 64).get("accuracy");
            assertTrue(accuracy > 0.85, "accuracy " + accuracy);
        }
    }

    @Test
    void savesAndLoadsInASequentialCheckpoint(@TempDir Path dir) throws Exception {
        ArrayDataset data = task(128, 6, 3);
        Path file = dir.resolve("dale.safetensors");
        try (Scope s = Scope.open();
             Sequential m = new Sequential(new DaleDense(8, "relu").excitatoryShare(0.75).divisive(true),
                     new DaleDense(2, "softmax"))) {
            m.seed(1).compile(new Adam(0.01), "sparse_categorical_crossentropy", "accuracy");
            m.fit(data, new FitOptions().batchSize(32).epochs(1).verbose(0));
            Checkpoint.save(m, file);
            try (Sequential back = Checkpoint.load(file)) {
                DaleDense first = (DaleDense) back.layers().get(0);
                assertEquals(0.75, first.excitatoryShare());
                assertTrue(first.isDivisive());
                assertEquals(2, first.inhibitoryUnits());
                assertEquals(m.params().size(), back.params().size());
                for (int i = 0; i < m.params().size(); i++) {
                    assertEquals(m.params().get(i).constraint() == null, back.params().get(i).constraint() == null,
                            m.params().get(i).name() + " keeps its constraint");
                }
                try (Tensor want = m.predict(data, 64); Tensor got = back.predict(data, 64)) { // kept: the caller owns them
                    assertArrayEquals(want.toDoubleArray(), got.toDoubleArray(), 1e-6);
                }
            }
        }
    }

    @Test
    void trainsInAFunctionalModel() {
        ArrayDataset data = task(256, 8, 5);
        Input in = Input.of(8);
        DaleDense hidden = new DaleDense(16, "relu");
        DaleDense out = new DaleDense(2, "softmax");
        try (FunctionalModel m = new FunctionalModel(List.of(in), List.of(in.then(hidden).then(out)))) {
            m.seed(3).compile(new Adam(0.03), "sparse_categorical_crossentropy", "accuracy");
            m.fit(data, new FitOptions().batchSize(32).epochs(5).verbose(0));
            for (Param p : m.params()) {
                if (p.constraint() != null) for (double v : p.value().toDoubleArray()) assertTrue(v >= 0, p.name());
            }
            assertTrue(m.evaluate(data, 64).get("accuracy") > 0.8);
        }
    }

    @Test
    void ganTrainerProjectsConstrainedWeightsAfterItsSteps() {
        try (Sequential g = new Sequential(new Dense(6, "sigmoid")); Sequential d = new Sequential(new DaleDense(1, "sigmoid"))) {
            g.seed(1).build(4);
            d.seed(2).build(6);
            // A huge rate makes the first Adam step (size ~lr per weight) drive many weights far below zero.
            try (GanTrainer t = new GanTrainer(g, new Adam(1e-3), d, new Adam(1.0), 4).seed(3); Scope s = Scope.open()) {
                t.trainStep(Creation.normal(7, 0, 1, DType.F32, Device.cpu(), 8, 6).sigmoid());
                int zeros = 0;
                for (Param p : d.params()) {
                    if (p.constraint() == null) continue;
                    for (double v : p.value().toDoubleArray()) {
                        assertTrue(v >= 0, p.name() + " holds " + v);
                        if (v == 0) zeros++;
                    }
                }
                assertTrue(zeros > 0, "the discriminator step would have left negative weights");
            }
        }
    }
}
