package dev.soma.robust;

import dev.soma.autograd.GradMode;
import dev.soma.memory.Scope;
import dev.soma.model.Sequential;
import dev.soma.nn.Dense;
import dev.soma.optim.SGD;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** The attacks against closed forms and against each other, and the limits they must respect. */
@ExtendWith(NoLeaks.class)
class AttackTest {
    private static final int D = 12;

    /**
     * On a logistic model z = w.x + b, FGSM's L-inf step moves x by -eps*sign(w) for label 1 (+eps*sign(w) for label
     * 0), so the margin changes by exactly eps * ||w||_1 against the label.
     */
    @Test
    void fgsmOnALinearModelChangesTheMarginByEpsTimesTheL1NormOfW() {
        try (Sequential m = new Sequential(new Dense(1, "sigmoid"))) {
            m.seed(3);
            m.build(D);
            m.compile(new SGD(0.1), "binary_crossentropy");
            float[] w = m.params().get(0).value().toFloatArray();
            double l1 = 0;
            for (float v : w) l1 += Math.abs(v);
            int n = 6;
            float[] x = uniform(n * D, 0.3, 0.7, 9); // inside [0, 1] by more than eps: no clipping
            float[] y = {1, 0, 1, 1, 0, 0};
            double eps = 0.1;
            try (Scope s = Scope.open()) {
                Tensor adv = Attacks.fgsm(Norm.LINF, eps, 0, 1).perturb(m, Tensor.of(x, n, D), Tensor.of(y, n, 1));
                float[] a = adv.toFloatArray();
                for (int k = 0; k < n; k++) {
                    double change = 0;
                    for (int i = 0; i < D; i++) change += w[i] * (a[k * D + i] - x[k * D + i]);
                    double expected = (y[k] == 1 ? -1 : 1) * eps * l1;
                    assertEquals(expected, change, 1e-5, "example " + k);
                }
            }
        }
    }

    /** PGD-20 from the same inputs reaches at least FGSM's loss, in both norms. */
    @Test
    void pgdIsNeverWeakerThanFgsm() {
        for (Norm norm : Norm.values()) {
            try (Sequential m = mlp(); Scope s = Scope.open()) {
                int n = 32;
                Tensor x = Tensor.of(uniform(n * D, 0, 1, 4), n, D);
                Tensor y = Tensor.ofInts(labels(n, 3, 5), n);
                double eps = norm == Norm.LINF ? 0.1 : 0.5;
                double clean = loss(m, x, y);
                double fgsm = loss(m, Attacks.fgsm(norm, eps, 0, 1).perturb(m, x, y), y);
                double pgd = loss(m, Attacks.pgd(norm, eps, 20, 0, 1, 7).perturb(m, x, y), y);
                assertTrue(fgsm > clean, norm + ": FGSM " + fgsm + " did not raise the clean loss " + clean);
                assertTrue(pgd >= fgsm, norm + ": PGD loss " + pgd + " < FGSM loss " + fgsm);
            }
        }
    }

    /** Every attack stays within eps of the input in its norm and inside [lo, hi], also from pixels at the edges. */
    @Test
    void perturbationsRespectEpsilonAndTheValidRange() {
        int n = 16;
        float[] x = uniform(n * D, 0, 1, 2);
        for (int i = 0; i < x.length; i += 3) x[i] = i % 2 == 0 ? 0f : 1f; // pixels on the boundary
        for (Norm norm : Norm.values()) {
            double eps = norm == Norm.LINF ? 0.1 : 0.7;
            Attack[] attacks = {Attacks.fgsm(norm, eps, 0, 1), Attacks.pgd(norm, eps, 10, 0, 1, 3),
                    Attacks.pgd(norm, eps, 2 * eps, 5, 0, 1, 4), Attacks.fgsmRandomStart(0.1, 0, 1, 5)};
            for (Attack attack : attacks) {
                try (Sequential m = mlp(); Scope s = Scope.open()) {
                    float[] a = attack.perturb(m, Tensor.of(x, n, D), Tensor.ofInts(labels(n, 3, 1), n)).toFloatArray();
                    float[] delta = new float[a.length];
                    boolean moved = false;
                    for (int i = 0; i < a.length; i++) {
                        assertTrue(a[i] >= 0f && a[i] <= 1f, attack + ": value " + a[i] + " outside [0, 1]");
                        delta[i] = a[i] - x[i];
                        moved |= delta[i] != 0;
                    }
                    assertTrue(moved, attack + " did not move the input");
                    for (int k = 0; k < n; k++) {
                        double len = attack.norm().length(delta, k * D, D);
                        assertTrue(len <= attack.epsilon() * (1 + 1e-5) + 1e-6, attack + ": example " + k + " moved " + len);
                    }
                }
            }
        }
    }

    @Test
    void badInputsGetClearMessages() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Attacks.fgsm(Norm.LINF, -0.1, 0, 1))
                .getMessage().contains("epsilon"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Attacks.pgd(Norm.L2, 0.1, 0, 0, 1, 1))
                .getMessage().contains("steps"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Attacks.fgsm(Norm.LINF, 0.1, 1, 0))
                .getMessage().contains("[lo, hi]"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Norm.parse("l1")).getMessage().contains("linf or l2"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new GaussianNoise(-1, 0)).getMessage().contains("sigma"));
        try (Sequential m = mlp(); Scope s = Scope.open()) {
            Tensor outside = Tensor.of(new float[] {0.5f, 1.5f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 1, D);
            Exception e = assertThrows(dev.soma.errors.SomaException.class,
                    () -> Attacks.fgsm(Norm.LINF, 0.1, 0, 1).perturb(m, outside, Tensor.ofInts(new int[] {0}, 1)));
            assertTrue(e.getMessage().contains("outside the valid range [0.0, 1.0]"), e.getMessage());
            Exception noBatch = assertThrows(dev.soma.errors.ShapeException.class,
                    () -> Attacks.fgsm(Norm.LINF, 0.1, 0, 1).perturb(m, Tensor.of(new float[D], D), Tensor.ofInts(new int[] {0}, 1)));
            assertTrue(noBatch.getMessage().contains("batch axis"), noBatch.getMessage());
        }
        try (Sequential plain = new Sequential(new Dense(3)); Scope s = Scope.open()) {
            plain.build(D);
            Exception e = assertThrows(RuntimeException.class, () -> Attacks.fgsm(Norm.LINF, 0.1, 0, 1)
                    .perturb(plain, Tensor.of(new float[D], 1, D), Tensor.ofInts(new int[] {0}, 1)));
            assertTrue(e.getMessage().contains("compile"), e.getMessage());
        }
    }

    /** What the attack fuzzer found: each used to throw an unnamed JDK exception or, one-hot, count a wrong label. */
    @Test
    void labelsKeptCountsEmptyBatchesAndTokenIdsAreHandledClearly() {
        try (Sequential m = mlp(); Scope s = Scope.open()) {
            Attack fgsm = Attacks.fgsm(Norm.LINF, 0.1, 0, 1);
            float[] images = uniform(4 * D, 0, 1, 2);
            long[] example = {D};
            Exception label = assertThrows(IllegalArgumentException.class,
                    () -> RobustAccuracy.of(m, fgsm, images, example, new int[] {0, 1, 3, 2}, 4, 0));
            assertTrue(label.getMessage().contains("label 3 of example 2"), label.getMessage());
            Exception keep = assertThrows(IllegalArgumentException.class,
                    () -> RobustAccuracy.of(m, fgsm, images, example, new int[] {0, 1, 2, 2}, 4, -1));
            assertTrue(keep.getMessage().contains("keep"), keep.getMessage());

            Tensor empty = fgsm.perturb(m, Tensor.of(new float[0], 0, D), Tensor.ofInts(new int[0], 0));
            assertArrayEquals(new long[] {0, D}, empty.shape());

            for (dev.soma.model.TrainingPerturbation p : java.util.List.of(fgsm, new GaussianNoise(0.1, 1))) {
                Exception ids = assertThrows(dev.soma.errors.DTypeException.class,
                        () -> p.perturb(m, Tensor.ofInts(new int[D], 1, D), Tensor.ofInts(new int[] {0}, 1)));
                assertTrue(ids.getMessage().matches("(fgsm|gaussianNoise): the input int32\\[1, 12\\].* is not float32.*"),
                        ids.getMessage());
            }
        }
        // One-hot targets: a label beyond the classes would have been written into the next example's row.
        try (Sequential m = new Sequential(new Dense(3, "softmax")); Scope s = Scope.open()) {
            m.seed(1);
            m.build(D);
            m.compile(new SGD(0.1), "categorical_crossentropy");
            Exception e = assertThrows(IllegalArgumentException.class, () -> RobustAccuracy.of(m,
                    Attacks.fgsm(Norm.L2, 0.1, 0, 1), uniform(2 * D, 0, 1, 3), new long[] {D}, new int[] {4, 0}, 2, 0));
            assertTrue(e.getMessage().contains("expected 0 to 2"), e.getMessage());
        }
    }

    static Sequential mlp() {
        Sequential m = new Sequential(new Dense(16, "tanh"), new Dense(3, "softmax"));
        m.seed(8);
        m.build(D);
        m.compile(new SGD(0.1), "sparse_categorical_crossentropy");
        return m;
    }

    static double loss(Sequential m, Tensor x, Tensor y) {
        try (GradMode.Guard g = GradMode.disable(); Scope s = Scope.open()) {
            return m.compiledLoss(x, y, false).item();
        }
    }

    static float[] uniform(int n, double lo, double hi, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (lo + (hi - lo) * r.nextDouble());
        return v;
    }

    static int[] labels(int n, int classes, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] y = new int[n];
        for (int i = 0; i < n; i++) y[i] = r.nextInt(classes);
        return y;
    }
}
