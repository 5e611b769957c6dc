package dev.soma.nn;

import dev.soma.errors.ShapeException;
import dev.soma.ops.Shapes;
import dev.soma.tensor.Tensor;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A slice of each example along one per-example axis (0 is the first axis after the batch; negative counts from
 * the end), as Python's {@code x[:, -1]} or {@code x[:, 2:5]} in a Keras Lambda, but saved with the model:
 * <ul>
 *   <li>{@link #index(int, long)} keeps one position and drops the axis; {@link #lastStep()} is the last step of a
 *       sequence ({@code [batch, steps, features] -> [batch, features]});</li>
 *   <li>{@link #range(int, long, long)} keeps positions {@code start} to {@code end - 1} (Python style: negative
 *       bounds count from the end, both are clamped to the size) and the axis.</li>
 * </ul>
 * A mask over steps (axis 0) is sliced with the steps, dropped by an index; slicing another axis keeps it.
 */
public final class Slice extends Layer {
    private final int axis;
    private final long start;
    private final long end;
    /** True for an index (the axis is dropped), false for a range. */
    private final boolean select;

    private Slice(int axis, long start, long end, boolean select) {
        this.axis = axis;
        this.start = start;
        this.end = end;
        this.select = select;
    }

    /** Position {@code index} of per-example axis {@code axis}; the axis is dropped. */
    public static Slice index(int axis, long index) {
        return new Slice(axis, index, index, true);
    }

    /** Positions {@code [start, end)} of per-example axis {@code axis} (Python bounds); the axis is kept. */
    public static Slice range(int axis, long start, long end) {
        return new Slice(axis, start, end, false);
    }

    /** The last step of a sequence: {@code [batch, steps, ...] -> [batch, ...]}. */
    public static Slice lastStep() {
        return index(0, -1);
    }

    @Override
    public String typeName() {
        return "slice";
    }

    @Override
    public long[] computeOutputShape(long[] in) {
        int a = resolveAxis(in.length);
        long size = in[a];
        if (select) {
            if (size != VARIABLE && (start >= size || start < -size)) {
                throw new ShapeException(name() + ": index " + start + " is out of range for axis " + axis + " of size "
                        + size + " (per-example shape " + Arrays.toString(in) + ")");
            }
            long[] out = new long[in.length - 1];
            for (int i = 0, j = 0; i < in.length; i++) if (i != a) out[j++] = in[i];
            return out;
        }
        long[] out = in.clone();
        if (size != VARIABLE) {
            out[a] = rangeLength(size);
            if (out[a] == 0) {
                throw new ShapeException(name() + ": range [" + start + ", " + end + ") of axis " + axis + " is empty "
                        + "for size " + size + " (per-example shape " + Arrays.toString(in) + ")");
            }
        }
        return out;
    }

    private int resolveAxis(int rank) {
        int a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) {
            throw new ShapeException(name() + ": axis " + axis + " does not exist in a per-example shape of rank " + rank
                    + " (0 is the first axis after the batch)");
        }
        return a;
    }

    private long rangeLength(long size) {
        long from = clamp(start, size);
        long to = clamp(end, size);
        return Math.max(0, to - from);
    }

    private static long clamp(long i, long size) {
        long j = i < 0 ? i + size : i;
        return Math.max(0, Math.min(size, j));
    }

    @Override
    protected Tensor call(Tensor x, boolean training) {
        int a = resolveAxis(x.ndim() - 1) + 1;
        long size = x.size(a);
        if (select) {
            if (start >= size || start < -size) {
                throw new ShapeException(name() + ": index " + start + " is out of range for axis " + axis + " of input "
                        + x.describe());
            }
            return Shapes.select(x, a, start);
        }
        if (rangeLength(size) == 0) {
            throw new ShapeException(name() + ": range [" + start + ", " + end + ") of axis " + axis + " is empty for input "
                    + x.describe());
        }
        return Shapes.slice(x, a, start, end, 1);
    }

    @Override
    public Tensor computeMask(Tensor x, Tensor mask) {
        if (mask == null) return null;
        if (resolveAxis(x.ndim() - 1) != 0) return mask;  // the steps are untouched
        return select ? null : Shapes.slice(mask, 1, start, end, 1);
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("axis", axis);
        c.put("start", start);
        c.put("end", end);
        c.put("select", select);
        return c;
    }

    /** Rebuilds a layer from {@link #config()}. */
    static Slice fromConfig(Map<String, Object> c) {
        return new Slice(LayerRegistry.intOf(c, "axis"), LayerRegistry.longOf(c, "start"), LayerRegistry.longOf(c, "end"),
                LayerRegistry.boolOf(c, "select"));
    }
}
