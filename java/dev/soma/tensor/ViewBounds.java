package dev.soma.tensor;

import dev.soma.errors.ShapeException;

import java.util.Arrays;
import java.util.function.Supplier;

/**
 * Checks that a view's every element lies inside its storage, so no kernel given the view can read or write past
 * the allocation (views are public: {@link Tensor#viewOf} takes raw offsets and strides).
 */
final class ViewBounds {
    private ViewBounds() {}

    /**
     * {@code capacity}: the storage's size in elements of the view's dtype; {@code who} names the view in the
     * message, and is asked for only when the view is wrong (views are made on every op's hot path).
     */
    static void check(Supplier<String> who, long capacity, long offset, long[] shape, long[] strides) {
        String problem = problem(capacity, offset, shape, strides);
        if (problem != null) throw new ShapeException(who.get() + ": " + problem);
    }

    /** What is wrong with the view, or null when it is inside the storage. */
    private static String problem(long capacity, long offset, long[] shape, long[] strides) {
        if (shape.length != strides.length) {
            return "shape " + Arrays.toString(shape) + " has " + shape.length + " axes but " + strides.length
                    + " strides were given; expected one stride per axis";
        }
        boolean empty = false;
        for (long s : shape) {
            if (s < 0) return "negative size in shape " + Arrays.toString(shape);
            if (s == 0) empty = true;
        }
        long lowest = offset;
        long highest = offset;
        if (!empty) {
            try {
                for (int i = 0; i < shape.length; i++) {
                    long reach = Math.multiplyExact(shape[i] - 1, strides[i]);
                    if (reach < 0) lowest = Math.addExact(lowest, reach);
                    else highest = Math.addExact(highest, reach);
                }
            } catch (ArithmeticException e) {
                return outside(capacity, offset, shape, strides);
            }
        }
        // An empty view touches nothing; it may sit at the very end (offset == capacity).
        boolean inside = empty ? offset >= 0 && offset <= capacity : lowest >= 0 && highest < capacity;
        return inside ? null : outside(capacity, offset, shape, strides);
    }

    private static String outside(long capacity, long offset, long[] shape, long[] strides) {
        return "offset " + offset + ", shape " + Arrays.toString(shape) + " and strides " + Arrays.toString(strides)
                + " reach outside the storage of " + capacity + " elements; a view must stay inside the memory it views";
    }
}
