package dev.soma.privacy;

/**
 * DP-SGD's three knobs: the noise multiplier σ (noise std = σ · maxGradNorm), the per-example L2 clipping bound of
 * the gradient over all trainable parameters, and the δ at which ε is reported. σ = 0 is allowed (clipping only,
 * for tests and ablations); its ε is infinite. {@code generalPath}: skip the ghost-norm fast path (benchmarks, tests).
 */
public record PrivacySettings(double noiseMultiplier, double maxGradNorm, double delta, boolean generalPath) {
    public PrivacySettings(double noiseMultiplier, double maxGradNorm, double delta) {
        this(noiseMultiplier, maxGradNorm, delta, false);
    }

    /** The same settings, always on the general per-example path (no ghost norms): for comparisons. */
    public PrivacySettings withGeneralPath() {
        return new PrivacySettings(noiseMultiplier, maxGradNorm, delta, true);
    }

    public PrivacySettings {
        if (!(noiseMultiplier >= 0) || Double.isInfinite(noiseMultiplier)) {
            throw new IllegalArgumentException("fit privacy: noiseMultiplier must be finite and >= 0, got " + noiseMultiplier);
        }
        if (!(maxGradNorm > 0) || Double.isInfinite(maxGradNorm)) {
            throw new IllegalArgumentException("fit privacy: maxGradNorm (the clipping bound) must be finite and > 0, got " + maxGradNorm);
        }
        if (!(delta > 0 && delta < 1)) {
            throw new IllegalArgumentException("fit privacy: delta must be in (0, 1) (usually < 1/N, e.g. 1e-5), got " + delta);
        }
    }
}
