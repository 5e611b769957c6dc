package dev.soma.data;

import dev.soma.errors.ShapeException;

import java.util.Arrays;

/** In-memory examples: features as a flat float array with a per-example shape, targets as labels or floats. */
public final class ArrayDataset implements Dataset {
    private final float[] x;
    private final long[] exampleShape;
    private final int exampleSize;
    private final int[] labels;
    private final float[] values;
    private final long[] targetShape;
    private final int targetSize;
    private final int n;

    private ArrayDataset(float[] x, long[] exampleShape, int[] labels, float[] values, long[] targetShape) {
        this.x = x;
        this.exampleShape = exampleShape.clone();
        this.exampleSize = (int) dev.soma.ops.Shapes.numel(exampleShape);
        if (exampleSize <= 0 || x.length % exampleSize != 0) {
            throw new ShapeException("ArrayDataset: " + x.length + " feature values do not split into examples of shape "
                    + Arrays.toString(exampleShape));
        }
        this.n = x.length / exampleSize;
        this.labels = labels;
        this.values = values;
        this.targetShape = targetShape.clone();
        this.targetSize = (int) dev.soma.ops.Shapes.numel(targetShape);
        int targets = labels != null ? labels.length / Math.max(targetSize, 1) : values.length / Math.max(targetSize, 1);
        if (targets != n) {
            throw new ShapeException("ArrayDataset: " + n + " examples but " + targets + " targets");
        }
    }

    /** Examples with int class labels (one per example). */
    public static ArrayDataset withLabels(float[] x, long[] exampleShape, int[] labels) {
        return new ArrayDataset(x, exampleShape, labels, null, new long[0]);
    }

    /** Examples with float targets of a per-example shape (e.g. [1] for binary, [10] one-hot). */
    public static ArrayDataset withTargets(float[] x, long[] exampleShape, float[] targets, long[] targetShape) {
        return new ArrayDataset(x, exampleShape, null, targets, targetShape);
    }

    @Override
    public int size() {
        return n;
    }

    public long[] exampleShape() {
        return exampleShape.clone();
    }

    @Override
    public Batch gather(int[] indices) {
        int b = indices.length;
        float[] bx = new float[b * exampleSize];
        for (int i = 0; i < b; i++) System.arraycopy(x, indices[i] * exampleSize, bx, i * exampleSize, exampleSize);
        long[] xs = new long[exampleShape.length + 1];
        xs[0] = b;
        System.arraycopy(exampleShape, 0, xs, 1, exampleShape.length);
        long[] ys = new long[targetShape.length + 1];
        ys[0] = b;
        System.arraycopy(targetShape, 0, ys, 1, targetShape.length);
        if (labels != null) {
            int[] by = new int[b * Math.max(targetSize, 1)];
            for (int i = 0; i < b; i++) by[i] = labels[indices[i]];
            return new Batch(bx, xs, by, null, ys);
        }
        float[] by = new float[b * targetSize];
        for (int i = 0; i < b; i++) System.arraycopy(values, indices[i] * targetSize, by, i * targetSize, targetSize);
        return new Batch(bx, xs, null, by, ys);
    }
}
