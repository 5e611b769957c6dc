package dev.soma.optim;

/** The learning rate as a function of the optimizer's step count (0-based), as Keras schedules. */
@FunctionalInterface
public interface LearningRateSchedule {
    double at(long step);

    static LearningRateSchedule constant(double lr) {
        return step -> lr;
    }

    /** {@code initial * rate^(step / decaySteps)}, with an integer exponent when staircase. */
    static LearningRateSchedule exponentialDecay(double initial, long decaySteps, double rate, boolean staircase) {
        if (decaySteps <= 0) throw new IllegalArgumentException("exponentialDecay: decaySteps must be > 0, got " + decaySteps);
        return step -> {
            double p = (double) step / decaySteps;
            return initial * Math.pow(rate, staircase ? Math.floor(p) : p);
        };
    }

    /** Cosine decay from {@code initial} to {@code initial * alpha} over {@code decaySteps}, then flat. */
    static LearningRateSchedule cosineDecay(double initial, long decaySteps, double alpha) {
        if (decaySteps <= 0) throw new IllegalArgumentException("cosineDecay: decaySteps must be > 0, got " + decaySteps);
        return step -> {
            double p = Math.min(step, decaySteps) / (double) decaySteps;
            double cosine = 0.5 * (1 + Math.cos(Math.PI * p));
            return initial * ((1 - alpha) * cosine + alpha);
        };
    }

    /** {@code values[i]} while {@code step < boundaries[i]}, the last value after the last boundary. */
    static LearningRateSchedule piecewiseConstant(long[] boundaries, double[] values) {
        if (values.length != boundaries.length + 1) {
            throw new IllegalArgumentException("piecewiseConstant: need boundaries.length + 1 values, got "
                    + values.length + " for " + boundaries.length + " boundaries");
        }
        long[] b = boundaries.clone();
        double[] v = values.clone();
        return step -> {
            for (int i = 0; i < b.length; i++) if (step < b[i]) return v[i];
            return v[v.length - 1];
        };
    }
}
