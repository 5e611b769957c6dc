package dev.soma.gan;

import dev.soma.ops.Losses;
import dev.soma.tensor.Tensor;

import java.util.Locale;

/**
 * The adversarial objectives. {@code d} is the discriminator's output on a batch: logits when {@code logits} is
 * true (the trainer folds a final sigmoid into the binary cross-entropy, which is stable), else probabilities
 * (or raw scores for least squares and Wasserstein). Each method returns a recorded 0-d tensor to minimise.
 *
 * <ul>
 *   <li>{@link #MINIMAX}: D minimises BCE(D(x), 1) + BCE(D(G(z)), 0); G minimises log(1 - D(G(z))), which is
 *       {@code -BCE(D(G(z)), 0)} (Goodfellow et al. 2014; saturates early in training).</li>
 *   <li>{@link #NON_SATURATING} (default): D as above; G minimises BCE(D(G(z)), 1) = -log D(G(z)).</li>
 *   <li>{@link #LEAST_SQUARES} (Mao et al. 2017): D minimises ½(D(x) − 1)² + ½D(G(z))²; G minimises ½(D(G(z)) − 1)².</li>
 *   <li>{@link #WASSERSTEIN_GP} (Gulrajani et al. 2017): the critic minimises mean D(G(z)) − mean D(x) + λ·GP; G
 *       minimises −mean D(G(z)). The gradient penalty is added by the trainer, see {@link GradientPenalty}.</li>
 * </ul>
 * One-sided label smoothing replaces the real target 1 by {@code realTarget} (e.g. 0.9) in the discriminator's
 * loss only; it does not apply to the Wasserstein loss.
 */
public enum GanLoss {
    MINIMAX, NON_SATURATING, LEAST_SQUARES, WASSERSTEIN_GP;

    /** Parses "minimax", "non-saturating", "least-squares", "wgan-gp" (and the enum names). */
    public static GanLoss byName(String name) {
        String n = name.toLowerCase(Locale.ROOT).replace('_', '-');
        return switch (n) {
            case "minimax" -> MINIMAX;
            case "non-saturating", "ns" -> NON_SATURATING;
            case "least-squares", "lsgan", "ls" -> LEAST_SQUARES;
            case "wasserstein-gp", "wgan-gp", "wgan" -> WASSERSTEIN_GP;
            default -> throw new IllegalArgumentException("unknown GAN loss '" + name
                    + "': expected minimax, non-saturating, least-squares or wgan-gp");
        };
    }

    /** True for the losses written as binary cross-entropies (they can take logits). */
    public boolean isCrossEntropy() {
        return this == MINIMAX || this == NON_SATURATING;
    }

    /** The discriminator's (critic's) loss, without the gradient penalty. */
    public Tensor discriminatorLoss(Tensor dReal, Tensor dFake, boolean logits, double realTarget) {
        return switch (this) {
            case MINIMAX, NON_SATURATING -> bce(dReal, realTarget, logits).add(bce(dFake, 0, logits));
            case LEAST_SQUARES -> mse(dReal, realTarget).add(mse(dFake, 0)).mul(0.5);
            case WASSERSTEIN_GP -> dFake.mean().sub(dReal.mean());
        };
    }

    /** The generator's loss on the discriminator's output for generated samples. */
    public Tensor generatorLoss(Tensor dFake, boolean logits) {
        return switch (this) {
            case MINIMAX -> bce(dFake, 0, logits).neg();
            case NON_SATURATING -> bce(dFake, 1, logits);
            case LEAST_SQUARES -> mse(dFake, 1).mul(0.5);
            case WASSERSTEIN_GP -> dFake.mean().neg();
        };
    }

    private static Tensor bce(Tensor d, double target, boolean logits) {
        Tensor t = Tensor.full(target, d.dtype(), d.device(), d.shape());
        return logits ? Losses.binaryCrossEntropyWithLogits(d, t) : Losses.binaryCrossEntropy(d, t);
    }

    private static Tensor mse(Tensor d, double target) {
        return Losses.meanSquaredError(d, Tensor.full(target, d.dtype(), d.device(), d.shape()));
    }
}
