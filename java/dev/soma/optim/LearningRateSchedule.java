package dev.soma.optim;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The learning rate as a function of the optimizer's step count (0-based), as Keras schedules. The built-in ones
 * know their {@link #config()}, so checkpoints store them; a schedule written as a lambda cannot be stored.
 */
@FunctionalInterface
public interface LearningRateSchedule {
    double at(long step);

    /** The kind ("constant", "cosine_decay"...) and arguments, for checkpoints; null for a lambda. */
    default Map<String, Object> config() {
        return null;
    }

    /** Rebuilds a built-in schedule from its {@link #config()}. */
    static LearningRateSchedule fromConfig(Map<String, Object> c) {
        Object kind = c.get("kind");
        return switch (String.valueOf(kind)) {
            case "constant" -> constant(num(c, "learning_rate"));
            case "exponential_decay" -> exponentialDecay(num(c, "initial"), (long) num(c, "decay_steps"),
                    num(c, "rate"), Boolean.TRUE.equals(c.get("staircase")));
            case "cosine_decay" -> cosineDecay(num(c, "initial"), (long) num(c, "decay_steps"), num(c, "alpha"));
            case "piecewise_constant" -> {
                List<?> b = (List<?>) c.get("boundaries");
                List<?> v = (List<?>) c.get("values");
                if (b == null || v == null) throw new IllegalArgumentException("piecewise_constant schedule: boundaries or values missing: " + c);
                yield piecewiseConstant(b.stream().mapToLong(x -> ((Number) x).longValue()).toArray(),
                        v.stream().mapToDouble(x -> ((Number) x).doubleValue()).toArray());
            }
            default -> throw new IllegalArgumentException("unknown learning-rate schedule kind '" + kind + "': " + c);
        };
    }

    private static double num(Map<String, Object> c, String key) {
        if (!(c.get(key) instanceof Number n)) {
            throw new IllegalArgumentException("learning-rate schedule: '" + key + "' missing or not a number: " + c);
        }
        return n.doubleValue();
    }

    private static Map<String, Object> config(String kind, Object... kv) {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("kind", kind);
        for (int i = 0; i < kv.length; i += 2) c.put((String) kv[i], kv[i + 1]);
        return c;
    }

    static LearningRateSchedule constant(double lr) {
        rate("constant schedule", "learning rate", lr);
        return new ConfiguredSchedule(config("constant", "learning_rate", lr), step -> lr);
    }

    /** {@code initial * rate^(step / decaySteps)}, with an integer exponent when staircase. */
    static LearningRateSchedule exponentialDecay(double initial, long decaySteps, double rate, boolean staircase) {
        if (decaySteps <= 0) throw new IllegalArgumentException("exponentialDecay: decaySteps must be > 0, got " + decaySteps);
        rate("exponentialDecay", "initial rate", initial);
        if (!(rate > 0) || Double.isInfinite(rate)) {
            throw new IllegalArgumentException("exponentialDecay: the decay rate must be finite and > 0, got " + rate);
        }
        return new ConfiguredSchedule(config("exponential_decay", "initial", initial, "decay_steps", decaySteps,
                "rate", rate, "staircase", staircase), step -> {
            double p = (double) step / decaySteps;
            return initial * Math.pow(rate, staircase ? Math.floor(p) : p);
        });
    }

    /** Cosine decay from {@code initial} to {@code initial * alpha} over {@code decaySteps}, then flat. */
    static LearningRateSchedule cosineDecay(double initial, long decaySteps, double alpha) {
        if (decaySteps <= 0) throw new IllegalArgumentException("cosineDecay: decaySteps must be > 0, got " + decaySteps);
        rate("cosineDecay", "initial rate", initial);
        rate("cosineDecay", "alpha (the final fraction of the initial rate)", alpha);
        return new ConfiguredSchedule(config("cosine_decay", "initial", initial, "decay_steps", decaySteps,
                "alpha", alpha), step -> {
            double p = Math.min(step, decaySteps) / (double) decaySteps;
            double cosine = 0.5 * (1 + Math.cos(Math.PI * p));
            return initial * ((1 - alpha) * cosine + alpha);
        });
    }

    /** {@code values[i]} while {@code step < boundaries[i]}, the last value after the last boundary. */
    static LearningRateSchedule piecewiseConstant(long[] boundaries, double[] values) {
        if (values.length != boundaries.length + 1) {
            throw new IllegalArgumentException("piecewiseConstant: need boundaries.length + 1 values, got "
                    + values.length + " for " + boundaries.length + " boundaries");
        }
        for (int i = 0; i < values.length; i++) rate("piecewiseConstant", "value " + i, values[i]);
        for (int i = 1; i < boundaries.length; i++) {
            if (boundaries[i] <= boundaries[i - 1]) {
                throw new IllegalArgumentException("piecewiseConstant: boundaries must increase, got "
                        + java.util.Arrays.toString(boundaries));
            }
        }
        long[] b = boundaries.clone();
        double[] v = values.clone();
        return new ConfiguredSchedule(config("piecewise_constant", "boundaries", b.clone(), "values", v.clone()),
                step -> {
                    for (int i = 0; i < b.length; i++) if (step < b[i]) return v[i];
                    return v[v.length - 1];
                });
    }

    /** A rate (or factor) of a built-in schedule: finite and >= 0, so that no step gets NaN or a negative rate. */
    private static void rate(String schedule, String what, double v) {
        if (!(v >= 0) || Double.isInfinite(v)) {
            throw new IllegalArgumentException(schedule + ": the " + what + " must be finite and >= 0, got " + v);
        }
    }
}
