package dev.soma.nn;

import dev.soma.errors.OutOfMemoryException;
import dev.soma.errors.ShapeException;
import dev.soma.ops.Shapes;

import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Draws a new parameter's initial values on the Java heap (as {@link Initializer}s take them), refusing sizes no
 * array holds or this JVM's heap cannot, with Soma's exceptions instead of an ArithmeticException or a Java
 * OutOfMemoryError that leaves the JVM short of memory.
 */
final class ParamValues {
    /** The largest Java array the JVM allocates. */
    static final long MAX_ARRAY = Integer.MAX_VALUE - 8;

    private ParamValues() {}

    /** {@code what}: the parameter's name, e.g. "dense_1/kernel". */
    static double[] draw(String what, long[] shape, Initializer init, long fanIn, long fanOut, SplittableRandom rng) {
        long[] s = Shapes.checkShape(what, shape);
        long n = Shapes.numel(s);
        if (n > MAX_ARRAY) {
            throw new ShapeException(what + ": weight " + Arrays.toString(s) + " has " + n + " elements; one weight "
                    + "holds at most " + MAX_ARRAY + " (its initial values are drawn in one Java array); use fewer units");
        }
        Runtime rt = Runtime.getRuntime();
        long bytes = 8 * n;
        if (bytes > rt.maxMemory()) throw outOfHeap(what, s, bytes, rt);
        double[] values;
        try {
            values = new double[(int) n];
        } catch (OutOfMemoryError e) {
            throw outOfHeap(what, s, bytes, rt);
        }
        init.fill(values, fanIn, fanOut, rng);
        // A NaN or infinite initial weight (Initializer.constant(NaN), a custom initializer's bug) would only show as
        // NaN losses later; refused here, where it is made.
        for (int i = 0; i < values.length; i++) {
            if (!Double.isFinite(values[i])) {
                throw new IllegalArgumentException(what + ": the initializer drew " + values[i] + " at element " + i
                        + " of weight " + Arrays.toString(s) + "; initial weights must be finite");
            }
        }
        return values;
    }

    private static OutOfMemoryException outOfHeap(String what, long[] shape, long bytes, Runtime rt) {
        return new OutOfMemoryException(what + ": out of memory drawing the initial values of weight "
                + Arrays.toString(shape) + ": they need " + mb(bytes) + " of Java heap (float64) but the heap holds "
                + "at most " + mb(rt.maxMemory()) + "; use fewer units or raise -Xmx",
                "Java heap: max " + mb(rt.maxMemory()) + ", in use " + mb(rt.totalMemory() - rt.freeMemory()));
    }

    private static String mb(long bytes) {
        return String.format(Locale.ROOT, "%.1f MB", bytes / 1048576.0);
    }
}
