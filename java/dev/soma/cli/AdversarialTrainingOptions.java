package dev.soma.cli;

import dev.soma.model.FitOptions;
import dev.soma.robust.Attacks;
import dev.soma.robust.Norm;
import picocli.CommandLine.Option;

/** {@code soma train}'s robustness switches: adversarial training (--adv) or Gaussian-noise augmentation. */
final class AdversarialTrainingOptions {
    @Option(names = "--adv", description = "adversarial training: fgsm (FGSM with random start, Wong et al. 2020) or pgd")
    String adv;

    @Option(names = "--adv-epsilon", defaultValue = "0.1", description = "adversarial training's L-inf budget (default ${DEFAULT-VALUE})")
    double advEpsilon;

    @Option(names = "--adv-steps", defaultValue = "7", description = "--adv pgd: steps (default ${DEFAULT-VALUE})")
    int advSteps;

    @Option(names = "--noise-sigma", defaultValue = "0", description = "Gaussian-noise augmentation's sigma (default 0: off)")
    double noiseSigma;

    /** One-line IllegalArgumentException for any bad value or combination, before any data is loaded. */
    void check(String who, boolean imageClassifier, boolean privateTraining) {
        boolean any = adv != null || noiseSigma != 0;
        if (any && privateTraining) {
            throw new IllegalArgumentException(who + ": --adv and --noise-sigma cannot be combined with DP-SGD (--dp-*) yet");
        }
        if (any && !imageClassifier) {
            throw new IllegalArgumentException(who + ": --adv and --noise-sigma apply to the image classifiers only");
        }
        if (adv != null && noiseSigma != 0) {
            throw new IllegalArgumentException(who + ": choose either --adv or --noise-sigma, not both");
        }
        if (adv != null && !adv.equals("fgsm") && !adv.equals("pgd")) {
            throw new IllegalArgumentException(who + ": --adv must be fgsm or pgd, got '" + adv + "'");
        }
        if (!(advEpsilon > 0) || !Double.isFinite(advEpsilon)) {
            throw new IllegalArgumentException(who + ": --adv-epsilon must be a finite number > 0, got " + advEpsilon);
        }
        if (advSteps < 1) throw new IllegalArgumentException(who + ": --adv-steps must be >= 1, got " + advSteps);
        if (!(noiseSigma >= 0) || !Double.isFinite(noiseSigma)) {
            throw new IllegalArgumentException(who + ": --noise-sigma must be a finite number >= 0, got " + noiseSigma);
        }
    }

    /** {@code options} with the chosen perturbation (unchanged when none); images in [0, 1]. */
    FitOptions apply(FitOptions options, long seed) {
        if ("fgsm".equals(adv)) return options.adversarial(Attacks.fgsmRandomStart(advEpsilon, 0, 1, seed));
        if ("pgd".equals(adv)) return options.adversarial(Attacks.pgd(Norm.LINF, advEpsilon, advSteps, 0, 1, seed));
        return noiseSigma > 0 ? options.gaussianNoise(noiseSigma) : options;
    }

    /** A few words for the training banner. */
    String describe() {
        if (adv != null) return ", adversarial training " + adv + " eps " + advEpsilon;
        return noiseSigma > 0 ? ", Gaussian noise sigma " + noiseSigma : "";
    }
}
