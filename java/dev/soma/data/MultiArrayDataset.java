package dev.soma.data;

import dev.soma.errors.ShapeException;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * In-memory examples with several input arrays and several target arrays (for models with several inputs
 * and outputs), each a flat float or int array with a per-example shape. Inputs and targets are given in the
 * order of the model's inputs and outputs; a dataset with no targets serves {@code predict}.
 * <pre>{@code
 * var data = MultiArrayDataset.builder().input(xa, 4).input(xb, 3).labels(y).targets(t, 1).build();
 * }</pre>
 */
public final class MultiArrayDataset implements Dataset {
    private final List<Column> inputs;
    private final List<Column> targets;
    private final int n;

    /** One array: floats or ints, a per-example shape and the number of values per example. */
    private record Column(float[] floats, int[] ints, long[] exampleShape, int exampleSize) {
        int length() {
            return floats != null ? floats.length : ints.length;
        }

        Batch.HostArray gather(int[] indices) {
            long[] shape = new long[exampleShape.length + 1];
            shape[0] = indices.length;
            System.arraycopy(exampleShape, 0, shape, 1, exampleShape.length);
            int k = exampleSize;
            if (floats != null) {
                float[] out = new float[indices.length * k];
                for (int i = 0; i < indices.length; i++) System.arraycopy(floats, indices[i] * k, out, i * k, k);
                return new Batch.HostArray(out, null, shape);
            }
            int[] out = new int[indices.length * k];
            for (int i = 0; i < indices.length; i++) System.arraycopy(ints, indices[i] * k, out, i * k, k);
            return new Batch.HostArray(null, out, shape);
        }
    }

    private MultiArrayDataset(List<Column> inputs, List<Column> targets) {
        if (inputs.isEmpty()) throw new IllegalArgumentException("MultiArrayDataset: at least one input array is needed");
        this.inputs = List.copyOf(inputs);
        this.targets = List.copyOf(targets);
        this.n = inputs.get(0).length() / inputs.get(0).exampleSize();
        List<Column> all = new ArrayList<>(inputs);
        all.addAll(targets);
        for (int i = 0; i < all.size(); i++) {
            Column c = all.get(i);
            int examples = c.length() / c.exampleSize();
            if (examples != n) {
                String which = i < inputs.size() ? "input " + i : "target " + (i - inputs.size());
                throw new ShapeException("MultiArrayDataset: input 0 has " + n + " examples but " + which + " has "
                        + examples + " (per-example shape " + Arrays.toString(c.exampleShape()) + ")");
            }
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public int size() {
        return n;
    }

    public int inputCount() {
        return inputs.size();
    }

    public int targetCount() {
        return targets.size();
    }

    @Override
    public Batch gather(int[] indices) {
        List<Batch.HostArray> xs = new ArrayList<>(inputs.size());
        for (Column c : inputs) xs.add(c.gather(indices));
        List<Batch.HostArray> ys = new ArrayList<>(targets.size());
        for (Column c : targets) ys.add(c.gather(indices));
        return new Batch(xs, ys);
    }

    /** Collects arrays in order: inputs first-to-last, targets first-to-last. */
    public static final class Builder {
        private final List<Column> inputs = new ArrayList<>();
        private final List<Column> targets = new ArrayList<>();

        /** A float input with a per-example shape. */
        public Builder input(float[] values, long... exampleShape) {
            inputs.add(column("input " + inputs.size(), values, null, exampleShape));
            return this;
        }

        /** An int input (token ids, say) with a per-example shape. */
        public Builder intInput(int[] values, long... exampleShape) {
            inputs.add(column("input " + inputs.size(), null, values, exampleShape));
            return this;
        }

        /** Int class labels, one per example (for sparse cross-entropy). */
        public Builder labels(int[] labels) {
            targets.add(column("target " + targets.size(), null, labels, new long[0]));
            return this;
        }

        /** Float targets with a per-example shape (e.g. [1] for regression, [10] one-hot). */
        public Builder targets(float[] values, long... exampleShape) {
            targets.add(column("target " + targets.size(), values, null, exampleShape));
            return this;
        }

        public MultiArrayDataset build() {
            return new MultiArrayDataset(inputs, targets);
        }

        private static Column column(String what, float[] floats, int[] ints, long[] exampleShape) {
            if (floats == null && ints == null) throw new IllegalArgumentException("MultiArrayDataset: " + what + " is null");
            for (long d : exampleShape) {
                if (d <= 0) {
                    throw new ShapeException("MultiArrayDataset: " + what + " has per-example shape "
                            + Arrays.toString(exampleShape) + "; every size must be > 0");
                }
            }
            long size = dev.soma.ops.Shapes.numel(exampleShape);
            if (size > Integer.MAX_VALUE) {
                throw new ShapeException("MultiArrayDataset: " + what + " per-example shape " + Arrays.toString(exampleShape)
                        + " is too large");
            }
            int length = floats != null ? floats.length : ints.length;
            if (length % size != 0) {
                throw new ShapeException("MultiArrayDataset: " + what + " has " + length + " values, which do not split into "
                        + "examples of shape " + Arrays.toString(exampleShape));
            }
            return new Column(floats == null ? null : floats.clone(), ints == null ? null : ints.clone(),
                    exampleShape.clone(), (int) size);
        }
    }
}
