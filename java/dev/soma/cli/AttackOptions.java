package dev.soma.cli;

import dev.soma.robust.Attack;
import dev.soma.robust.Attacks;
import dev.soma.robust.Norm;
import picocli.CommandLine.Option;

/** The attack options of {@code soma attack} and {@code soma robustness}, and the attack they describe. */
final class AttackOptions {
    /** MNIST-format pixels as the data loader gives them. */
    static final double LO = 0;
    static final double HI = 1;

    @Option(names = "--epsilon", defaultValue = "0.1", description = "perturbation budget (default ${DEFAULT-VALUE})")
    double epsilon;

    @Option(names = "--steps", defaultValue = "20", description = "PGD steps; 1: FGSM (default ${DEFAULT-VALUE})")
    int steps;

    @Option(names = "--step-size", defaultValue = "0", description = "PGD step size (default 2.5 * epsilon / steps)")
    double stepSize;

    @Option(names = "--norm", defaultValue = "linf", description = "linf or l2 (default ${DEFAULT-VALUE})")
    String norm;

    @Option(names = "--seed", defaultValue = "1", description = "seed of PGD's random start")
    long seed;

    /** The attack at {@code eps}; throws a one-line IllegalArgumentException for any bad value. */
    Attack attack(String command, double eps) {
        Norm n = Norm.parse(norm);
        // Checked even where FGSM (--steps 1) ignores it, like every other option: a typo is never taken silently.
        if (stepSize < 0 || !Double.isFinite(stepSize)) {
            throw new IllegalArgumentException(command + ": --step-size must be a finite number >= 0, got " + stepSize);
        }
        if (steps < 1) throw new IllegalArgumentException(command + ": --steps must be >= 1, got " + steps);
        if (steps == 1) return Attacks.fgsm(n, eps, LO, HI);
        return stepSize == 0 ? Attacks.pgd(n, eps, steps, LO, HI, seed) : Attacks.pgd(n, eps, stepSize, steps, LO, HI, seed);
    }

    /** {@link #attack(String, double)} at --epsilon, with the command's counts checked too. */
    Attack attack(String command, int limit, int show) {
        if (limit < 1) throw new IllegalArgumentException(command + ": --limit must be >= 1, got " + limit);
        if (show < 1) throw new IllegalArgumentException(command + ": --show must be >= 1, got " + show);
        if (!(epsilon > 0) || !Double.isFinite(epsilon)) {
            throw new IllegalArgumentException(command + ": --epsilon must be a finite number > 0, got " + epsilon);
        }
        return attack(command, epsilon);
    }
}
