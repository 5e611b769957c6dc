package dev.soma.fuzz;

import dev.soma.nn.Initializer;
import dev.soma.nn.Regularizer;

import java.util.List;
import java.util.SplittableRandom;

/**
 * The random values a layer recipe ({@link LayerRecipes}) and its setters ({@link LayerSetters}) are made of. Plausible
 * most of the time; when {@code wild}, now and then one that a user could pass by mistake (0, a negative size, NaN, a
 * huge count, an unknown name), which the layer must refuse clearly or handle.
 */
final class LayerKnobs {
    static final List<String> ACTIVATIONS = List.of("linear", "relu", "leaky_relu", "tanh", "sigmoid", "softmax", "gelu");
    /** A recurrent cell's activations (its fused kernels know these). */
    static final List<String> RECURRENT_ACTIVATIONS = List.of("tanh", "sigmoid", "relu", "hard_sigmoid", "linear");

    private final SplittableRandom random;
    private final boolean wild;
    /** What was drawn wild, for the finding's description; empty when nothing was. */
    private final StringBuilder wildDraws = new StringBuilder();

    LayerKnobs(SplittableRandom random, boolean wild) {
        this.random = random;
        this.wild = wild;
    }

    SplittableRandom random() {
        return random;
    }

    /** Whether this draw goes wild (about one value in eight of a wild recipe). */
    private boolean goWild() {
        return wild && random.nextInt(8) == 0;
    }

    private <T> T wild(T value) {
        wildDraws.append(wildDraws.length() == 0 ? "" : ", ").append(value);
        return value;
    }

    String wildDraws() {
        return wildDraws.toString();
    }

    /** A count in [lo, hi]; wild: 0, -1, -7 or 2^31 - 1. */
    int count(int lo, int hi) {
        if (goWild()) return wild(new int[] {0, -1, -7, Integer.MAX_VALUE}[random.nextInt(4)]);
        return lo + random.nextInt(hi - lo + 1);
    }

    /** A size in [lo, hi] for a shape; never wild (shapes are mutated by the fuzzer itself). */
    long size(int lo, int hi) {
        return lo + random.nextInt(hi - lo + 1);
    }

    /** A rate in [0, hi); wild: -0.5, 1, 1.5, NaN or an infinity. */
    double rate(double hi) {
        if (goWild()) return wild(new double[] {-0.5, 1, 1.5, Double.NaN, Double.POSITIVE_INFINITY}[random.nextInt(5)]);
        return random.nextInt(3) == 0 ? 0 : hi * random.nextDouble();
    }

    /** A positive number in [lo, hi]; wild: 0, a negative one, NaN or an infinity. */
    double positive(double lo, double hi) {
        if (goWild()) return wild(new double[] {0, -1e-3, Double.NaN, Double.POSITIVE_INFINITY}[random.nextInt(4)]);
        return lo + (hi - lo) * random.nextDouble();
    }

    /** Any finite number in [lo, hi]; wild: NaN or an infinity. */
    double number(double lo, double hi) {
        if (goWild()) return wild(new double[] {Double.NaN, Double.NEGATIVE_INFINITY}[random.nextInt(2)]);
        return lo + (hi - lo) * random.nextDouble();
    }

    boolean flag() {
        return random.nextBoolean();
    }

    /** An activation's Keras name or null (none); wild: an unknown name. */
    String activation() {
        if (goWild()) return wild(new String[] {"relU", "", "softmax2"}[random.nextInt(3)]);
        int k = random.nextInt(ACTIVATIONS.size() + 1);
        return k == ACTIVATIONS.size() ? null : ACTIVATIONS.get(k);
    }

    /** A recurrent cell's activation; wild: one it does not have. */
    String recurrentActivation() {
        if (goWild()) return wild(random.nextBoolean() ? "softmax" : "gelu");
        return RECURRENT_ACTIVATIONS.get(random.nextInt(RECURRENT_ACTIVATIONS.size()));
    }

    /** "valid" or "same"; wild: "causal" or "full". */
    String padding() {
        if (goWild()) return wild(random.nextBoolean() ? "causal" : "full");
        return random.nextBoolean() ? "valid" : "same";
    }

    /** An initializer by Keras' formulas, with small scales so that outputs stay of order 1. */
    Initializer initializer() {
        return switch (random.nextInt(7)) {
            case 0 -> Initializer.zeros();
            case 1 -> Initializer.ones();
            case 2 -> Initializer.constant(number(-0.5, 0.5));
            case 3 -> Initializer.randomUniform(-0.5, 0.5);
            case 4 -> Initializer.randomNormal(0, 0.3);
            case 5 -> Initializer.truncatedNormal(0.3);
            default -> Initializer.glorotUniform();
        };
    }

    /** L1, L2 or both; wild: a negative or NaN factor. */
    Regularizer regularizer() {
        if (goWild()) {
            double bad = wild(random.nextBoolean() ? -0.01 : Double.NaN);
            return random.nextBoolean() ? Regularizer.l2(bad) : Regularizer.l1(bad);
        }
        double a = 0.001 + 0.1 * random.nextDouble(), b = 0.001 + 0.1 * random.nextDouble();
        return switch (random.nextInt(3)) {
            case 0 -> Regularizer.l1(a);
            case 1 -> Regularizer.l2(b);
            default -> Regularizer.l1l2(a, b);
        };
    }
}
