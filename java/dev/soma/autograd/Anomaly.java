package dev.soma.autograd;

import dev.soma.backend.NumericChecks;
import dev.soma.errors.AnomalyException;
import dev.soma.tensor.Tensor;

import java.util.Arrays;

/**
 * Anomaly mode: when on, every op's output is scanned for NaN and Inf as the op records it
 * ({@link Autograd#record}, which every differentiable op calls, with or without gradients), and so is every
 * gradient a backward rule returns. The first op that produces a non-finite value throws an
 * {@link AnomalyException} naming it, the first bad element, and its inputs' shapes and dtypes, each marked
 * "finite" or "holds NaN/Inf" (so data that arrived non-finite is told apart from an op that made it so).
 *
 * <pre>{@code
 * try (Anomaly.Guard g = Anomaly.enable()) {
 *     model.fit(data, options);      // throws at the first op whose output holds NaN or Inf
 * }
 * }</pre>
 * Or start the JVM with {@code -Dsoma.anomaly=true}. The switch is global (all threads). Off by default; then
 * the only cost is one volatile read per op. On, each op pays a scan of its output (a vectorised native loop on
 * the CPU, a copy to the host elsewhere). Views that are not contiguous are not scanned: they compute nothing,
 * and their values were scanned where they were produced. Comparisons, arg-extrema and tensor creation record
 * nothing and are not scanned.
 *
 * <p>Without anomaly mode NaN and Inf follow IEEE 754: they propagate through arithmetic, reductions, matmul and
 * losses, and appear in the results (NaN compares unequal and counts as the maximum in max/argmax).
 */
public final class Anomaly {
    /** Read by {@link Autograd#record} on every op: the only cost of this class while anomaly mode is off. */
    static volatile boolean enabled = Boolean.getBoolean("soma.anomaly");
    private static final boolean FROM_PROPERTY = enabled;
    private static int guards;
    /** Set while this thread scans, so the conversions a scan may need do not scan themselves. */
    private static final ThreadLocal<boolean[]> SCANNING = ThreadLocal.withInitial(() -> new boolean[1]);

    private Anomaly() {}

    public static boolean isEnabled() {
        return enabled;
    }

    /** Turns anomaly mode on until the returned guard is closed. Guards nest (on while any is open). */
    public static synchronized Guard enable() {
        guards++;
        enabled = true;
        boolean[] closed = new boolean[1];
        return () -> {
            synchronized (Anomaly.class) {
                if (closed[0]) return;
                closed[0] = true;
                guards--;
                enabled = guards > 0 || FROM_PROPERTY;
            }
        };
    }

    /** Closes on try-with-resources exit; never throws. */
    public interface Guard extends AutoCloseable {
        @Override
        void close();
    }

    /** Throws when {@code output} of {@code op} holds NaN or Inf; closes {@code output} first (it never escapes). */
    static void checkOutput(String op, Tensor output, Tensor[] inputs) {
        String finding = scan(output);
        if (finding == null) return;
        String message = "anomaly mode: " + op + " produced " + finding + " in its output " + output.describe()
                + "; inputs: " + describeInputs(inputs);
        boolean isInput = false;
        for (Tensor in : inputs) isInput |= in == output;
        if (!isInput) output.close();
        throw new AnomalyException(op, message);
    }

    /** Throws when the gradient a backward rule returned for input {@code k} holds NaN or Inf. */
    static void checkGradient(String op, int k, Tensor grad, Tensor[] inputs) {
        String finding = scan(grad);
        if (finding == null) return;
        throw new AnomalyException(op, "anomaly mode: the backward of " + op + " produced " + finding
                + " in the gradient " + grad.describe() + " of its input " + k + "; inputs: " + describeInputs(inputs));
    }

    /** "NaN at element 3 [1, 0]" for the first non-finite element of {@code t}, or null when all are finite. */
    private static String scan(Tensor t) {
        boolean[] scanning = SCANNING.get();
        if (scanning[0] || t == null || t.isClosed() || !t.dtype().isFloating() || !t.isContiguous()) return null;
        scanning[0] = true;
        try {
            long i = NumericChecks.firstNonFinite(t);
            if (i < 0) return null;
            double v;
            try (Tensor one = t.viewOf(t.offset() + i, new long[0], new long[0]).keep()) {
                v = one.item();
            }
            return (Double.isNaN(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf") + " at element " + i + " "
                    + Arrays.toString(unravel(i, t.shape()));
        } finally {
            scanning[0] = false;
        }
    }

    private static String describeInputs(Tensor[] inputs) {
        StringBuilder b = new StringBuilder();
        boolean[] scanning = SCANNING.get();
        scanning[0] = true;
        try {
            for (int k = 0; k < inputs.length; k++) {
                Tensor in = inputs[k];
                if (k > 0) b.append(", ");
                b.append(k).append(": ");
                if (in == null) {
                    b.append("none");
                } else if (in.isClosed()) {
                    b.append(in.describe());
                } else {
                    b.append(in.describe());
                    if (in.dtype().isFloating()) {
                        b.append(NumericChecks.firstNonFinite(in) < 0 ? " (finite)" : " (holds NaN/Inf)");
                    }
                }
            }
        } finally {
            scanning[0] = false;
        }
        return b.length() == 0 ? "none" : b.toString();
    }

    private static long[] unravel(long i, long[] shape) {
        long[] idx = new long[shape.length];
        for (int d = shape.length - 1; d >= 0; d--) {
            if (shape[d] == 0) return idx;
            idx[d] = i % shape[d];
            i /= shape[d];
        }
        return idx;
    }
}
