package dev.soma.model;

import dev.soma.data.Batch;
import dev.soma.data.MultiArrayDataset;
import dev.soma.errors.ShapeException;
import dev.soma.memory.Scope;
import dev.soma.nn.Concatenate;
import dev.soma.nn.Dense;
import dev.soma.optim.Adam;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** Functional models with several inputs and outputs train through compile / fit / evaluate / predict. */
@ExtendWith(NoLeaks.class)
class FunctionalTrainingTest {
    /**
     * Two feature groups; the class (0..3) is 2 * [a0 > a1] + [b0 + b1 > 0], so either group alone gives at
     * most 50% accuracy and only a model that reads both can pass 90%.
     */
    static MultiArrayDataset twoGroups(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[n * 4], b = new float[n * 3];
        int[] y = new int[n];
        for (int i = 0; i < n; i++) {
            for (int d = 0; d < 4; d++) a[i * 4 + d] = (float) r.nextGaussian();
            for (int d = 0; d < 3; d++) b[i * 3 + d] = (float) r.nextGaussian();
            y[i] = 2 * (a[i * 4] > a[i * 4 + 1] ? 1 : 0) + (b[i * 3] + b[i * 3 + 1] > 0 ? 1 : 0);
        }
        return MultiArrayDataset.builder().input(a, 4).input(b, 3).labels(y).build();
    }

    @Test
    void aTwoInputModelLearnsATaskThatNeedsBothInputs() {
        Input a = Input.of(4).named("a");
        Input b = Input.of(3).named("b");
        SymbolicTensor ha = a.then(new Dense(16, "relu"));
        SymbolicTensor hb = b.then(new Dense(16, "relu"));
        SymbolicTensor out = SymbolicTensor.apply(new Concatenate(), ha, hb).then(new Dense(4, "softmax"));
        MultiArrayDataset train = twoGroups(2000, 1), test = twoGroups(500, 2);
        try (FunctionalModel m = new FunctionalModel(List.of(a, b), List.of(out))) {
            m.seed(7).compile(new Adam(0.01), "sparse_categorical_crossentropy", "accuracy");
            History h = m.fit(train, new FitOptions().batchSize(32).epochs(8).validationData(test).verbose(0));
            assertTrue(h.last("loss") < h.get("loss").get(0), "training loss fell: " + h.get("loss"));
            assertTrue(h.last("val_accuracy") > 0.9, "val accuracy " + h.get("val_accuracy"));
            Map<String, Double> eval = m.evaluate(test, 100);
            assertEquals(h.last("val_accuracy"), eval.get("accuracy"), 1e-12);
            try (Tensor p = m.predict(test, 128)) {
                assertArrayEquals(new long[] {500, 4}, p.shape());
                float[] probs = p.toFloatArray();
                assertEquals(1.0, probs[0] + probs[1] + probs[2] + probs[3], 1e-5, "softmax rows sum to one");
            }
        }
    }

    /** Blobs in 6-d for a 3-class head, plus a regression target 0.5 * x0 - x3 + 1 for a second head. */
    static MultiArrayDataset twoTargets(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[n * 6], t = new float[n];
        int[] y = new int[n];
        for (int i = 0; i < n; i++) {
            int c = r.nextInt(3);
            y[i] = c;
            for (int d = 0; d < 6; d++) x[i * 6 + d] = (float) (r.nextGaussian() * 0.7 + (d == c ? 2.0 : 0.0));
            t[i] = 0.5f * x[i * 6] - x[i * 6 + 3] + 1f;
        }
        return MultiArrayDataset.builder().input(x, 6).labels(y).targets(t, 1).build();
    }

    private static FunctionalModel twoHeads(Dense regressionHead) {
        Input x = Input.of(6).named("x");
        SymbolicTensor trunk = x.then(new Dense(16, "relu"));
        SymbolicTensor cls = trunk.then(new Dense(3, "softmax")).named("cls");
        SymbolicTensor reg = trunk.then(regressionHead).named("reg");
        return new FunctionalModel(List.of(x), List.of(cls, reg));
    }

    @Test
    void aTwoOutputModelLowersBothWeightedLosses() {
        MultiArrayDataset train = twoTargets(600, 3), test = twoTargets(200, 4);
        try (FunctionalModel m = twoHeads(new Dense(1))) {
            m.seed(5).compile(new Adam(0.01),
                    List.of(Loss.byName("sparse_categorical_crossentropy"), Loss.byName("mse")), List.of(1.0, 0.5),
                    List.of(List.of("accuracy"), List.of()));
            History h = m.fit(train, new FitOptions().batchSize(32).epochs(8).validationData(test).verbose(0));
            for (String key : List.of("cls_loss", "reg_loss", "val_cls_loss", "val_reg_loss")) {
                List<Double> v = h.get(key);
                assertTrue(v.get(v.size() - 1) < 0.5 * v.get(0), key + " fell by half: " + v);
            }
            for (int e = 0; e < h.epochs(); e++) {
                double weighted = h.get("cls_loss").get(e) + 0.5 * h.get("reg_loss").get(e);
                assertEquals(weighted, h.get("loss").get(e), 1e-5 * weighted, "loss is the weighted sum at epoch " + e);
            }
            assertTrue(h.last("val_cls_accuracy") > 0.9, "classification head: " + h.get("val_cls_accuracy"));
            Map<String, Double> eval = m.evaluate(test, 50);
            assertEquals(List.of("loss", "cls_loss", "reg_loss", "cls_accuracy"), List.copyOf(eval.keySet()));
            assertEquals(h.last("val_reg_loss"), eval.get("reg_loss"), 1e-9);
            List<Tensor> preds = m.predictAll(test, 64);
            try (Tensor cls = preds.get(0); Tensor reg = preds.get(1)) {
                assertArrayEquals(new long[] {200, 3}, cls.shape());
                assertArrayEquals(new long[] {200, 1}, reg.shape());
            }
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> m.predict(test, 64));
            assertTrue(e.getMessage().contains("2 outputs [cls, reg]"), e.getMessage());
        }
    }

    @Test
    void aZeroLossWeightLeavesThatHeadUntouched() {
        Dense regHead = new Dense(1);
        try (FunctionalModel m = twoHeads(regHead)) {
            m.seed(5).compile(new Adam(0.01),
                    List.of(Loss.byName("sparse_categorical_crossentropy"), Loss.byName("mse")), List.of(1.0, 0.0));
            m.build();
            float[] before = regHead.kernel().toFloatArray();
            History h = m.fit(twoTargets(200, 5), new FitOptions().epochs(2).verbose(0));
            assertArrayEquals(before, regHead.kernel().toFloatArray(), 0f, "a head with loss weight 0 gets no gradient");
            assertTrue(h.last("cls_loss") < h.get("cls_loss").get(0));
            assertEquals(h.last("cls_loss"), h.last("loss"), 1e-6 * h.last("loss"));
        }
    }

    @Test
    void flatMetricsApplyToEveryOutputUnderItsName() {
        Input x = Input.of(6);
        SymbolicTensor trunk = x.then(new Dense(8, "relu"));
        Dense first = new Dense(3, "softmax");
        SymbolicTensor o1 = trunk.then(first);
        SymbolicTensor o2 = trunk.then(new Dense(3, "softmax")).named("out_2");
        try (FunctionalModel m = new FunctionalModel(List.of(x), List.of(o1, o2))) {
            m.compile(new Adam(0.01), "sparse_categorical_crossentropy", "accuracy");
            assertEquals(List.of(first.name() + "_accuracy", "out_2_accuracy"), m.metrics().stream().map(Metric::name).toList());
            // Both outputs take class labels: give the same labels twice.
            MultiArrayDataset base = twoTargets(64, 6);
            Batch all = base.gather(java.util.stream.IntStream.range(0, 64).toArray());
            MultiArrayDataset data = MultiArrayDataset.builder().input(all.x(), 6).labels(all.yLabels()).labels(all.yLabels())
                    .build();
            Map<String, Double> logs = m.evaluate(data, 32);
            assertEquals(List.of("loss", first.name() + "_loss", "out_2_loss", first.name() + "_accuracy", "out_2_accuracy"),
                    List.copyOf(logs.keySet()));
            // Wrong counts are named.
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> m.compile(new Adam(0.01), List.of(Loss.byName("mse")), null));
            assertTrue(e.getMessage().contains("2 output(s)") && e.getMessage().contains("1 loss(es)"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> m.compile(new Adam(0.01),
                    List.of(Loss.byName("mse"), Loss.byName("mse")), List.of(1.0, -1.0)));
            assertTrue(e.getMessage().contains("loss weight -1.0"), e.getMessage());
            MultiArrayDataset oneTarget = MultiArrayDataset.builder().input(all.x(), 6).labels(all.yLabels()).build();
            ShapeException se = assertThrows(ShapeException.class, () -> m.evaluate(oneTarget, 32));
            assertTrue(se.getMessage().contains("2 output(s) [" + first.name() + ", out_2] but the batch has 1 target array(s)"),
                    se.getMessage());
        }
    }

    @Test
    void multiArrayDatasetsGatherEveryArrayAndRejectMismatchedCounts() {
        MultiArrayDataset d = MultiArrayDataset.builder().input(new float[] {0, 1, 2, 3, 4, 5}, 2).intInput(new int[] {7, 8, 9}, 1)
                .labels(new int[] {1, 2, 3}).build();
        assertEquals(3, d.size());
        Batch b = d.gather(new int[] {2, 0});
        assertArrayEquals(new float[] {4, 5, 0, 1}, b.x());
        assertArrayEquals(new long[] {2, 2}, b.xShape());
        assertArrayEquals(new int[] {9, 7}, b.inputs().get(1).ints());
        assertArrayEquals(new int[] {3, 1}, b.yLabels());
        try (Scope s = Scope.open()) {
            assertEquals(2, b.featureTensors().size());
            assertArrayEquals(new long[] {2}, b.targets().shape());
        }
        ShapeException e = assertThrows(ShapeException.class,
                () -> MultiArrayDataset.builder().input(new float[6], 2).labels(new int[4]).build());
        assertTrue(e.getMessage().contains("input 0 has 3 examples but target 0 has 4"), e.getMessage());
        e = assertThrows(ShapeException.class, () -> MultiArrayDataset.builder().input(new float[7], 2).build());
        assertTrue(e.getMessage().contains("7 values"), e.getMessage());
        Batch noTargets = MultiArrayDataset.builder().input(new float[4], 2).build().gather(new int[] {1});
        assertThrows(IllegalStateException.class, noTargets::targets);
    }
}
