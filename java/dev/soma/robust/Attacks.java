package dev.soma.robust;

/** The usual attacks by name and parameters, all on the valid input range {@code [lo, hi]}. */
public final class Attacks {
    private Attacks() {}

    /** FGSM (Goodfellow et al. 2015; the L2 variant steps along the normalised gradient): one step of epsilon. */
    public static ProjectedGradientAttack fgsm(Norm norm, double epsilon, double lo, double hi) {
        return new ProjectedGradientAttack("fgsm", norm, epsilon, epsilon, 1, false, lo, hi, 0);
    }

    /** FGSM with random start, "Fast is better than free" (Wong et al. 2020): uniform start, step 1.25 epsilon. */
    public static ProjectedGradientAttack fgsmRandomStart(double epsilon, double lo, double hi, long seed) {
        return new ProjectedGradientAttack("fgsm-rs", Norm.LINF, epsilon, 1.25 * epsilon, 1, true, lo, hi, seed);
    }

    /** PGD (Madry et al. 2018) with random start and the given step size. */
    public static ProjectedGradientAttack pgd(Norm norm, double epsilon, double stepSize, int steps, double lo, double hi,
                                              long seed) {
        return new ProjectedGradientAttack("pgd", norm, epsilon, stepSize, steps, true, lo, hi, seed);
    }

    /** PGD with the common step size 2.5 epsilon / steps (Madry et al.), enough to cross the ball and come back. */
    public static ProjectedGradientAttack pgd(Norm norm, double epsilon, int steps, double lo, double hi, long seed) {
        if (steps < 1) throw new IllegalArgumentException("pgd: steps must be >= 1, got " + steps);
        return pgd(norm, epsilon, 2.5 * epsilon / steps, steps, lo, hi, seed);
    }
}
