package dev.soma.backend;

import dev.soma.tensor.Tensor;

/**
 * Seeded random number generation (counter-based, so CPU and GPU agree). Every backend draws from the same
 * Philox4x32-10 stream with the element layout documented in native/src/random.cpp: element {@code i} of a
 * fill depends only on (seed, stream, i).
 */
public interface RandomKernels {
    /** Distribution codes, matching {@code soma_random_dist} in soma.h. */
    enum Distribution {
        /** {@code a + (b - a) * u}, u uniform in [0, 1). */
        UNIFORM(0),
        /** {@code a + b * z}, z standard normal (Box-Muller on pairs). */
        NORMAL(1);

        public final int code;

        Distribution(int code) {
            this.code = code;
        }
    }

    /**
     * Fills the contiguous floating-point {@code out} (f32 or f64, checked by the op) with values of
     * {@code dist}; {@code stream} selects an independent sequence for the same seed (0 for plain creation).
     */
    void fill(Distribution dist, Tensor out, long seed, long stream, double a, double b);
}
