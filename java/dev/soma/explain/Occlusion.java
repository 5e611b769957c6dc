package dev.soma.explain;

import java.util.Arrays;

/**
 * Occlusion (Zeiler and Fergus 2014), as Captum's: a window slides over the example with a stride; each position
 * is filled with the baseline value and the drop in the target's score {@code F(x) - F(occluded)} is credited to
 * every element under the window; each element's credit is then divided by the number of windows that covered
 * it. No gradients: works on any model. Window and stride give one size per example dimension; fewer sizes leave
 * the trailing dimensions (an image's channels) covered whole.
 */
public final class Occlusion implements AttributionMethod {
    private int[] window = {4, 4};
    private int[] stride = {2, 2};
    private double fill = 0;

    public Occlusion window(int... sizes) {
        if (sizes.length == 0 || Arrays.stream(sizes).anyMatch(s -> s < 1)) {
            throw new IllegalArgumentException("Occlusion: window sizes must be >= 1, got " + Arrays.toString(sizes));
        }
        this.window = sizes.clone();
        return this;
    }

    public Occlusion stride(int... sizes) {
        if (sizes.length == 0 || Arrays.stream(sizes).anyMatch(s -> s < 1)) {
            throw new IllegalArgumentException("Occlusion: strides must be >= 1, got " + Arrays.toString(sizes));
        }
        this.stride = sizes.clone();
        return this;
    }

    /** The value occluded elements take (Captum's {@code baselines}); default 0. */
    public Occlusion baseline(double value) {
        if (!Double.isFinite(value)) throw new IllegalArgumentException("Occlusion: the fill value must be finite, got " + value);
        this.fill = value;
        return this;
    }

    @Override
    public String name() {
        return "occlusion";
    }

    @Override
    public Attribution attribute(Target target, float[] example, long[] shape) {
        target.checkExample(name(), example, shape);
        int rank = shape.length;
        if (window.length > rank || stride.length != window.length) {
            throw new IllegalArgumentException("Occlusion: window " + Arrays.toString(window) + " and stride "
                    + Arrays.toString(stride) + " must have the same length, at most the example's rank " + rank
                    + " (shape " + Arrays.toString(shape) + ")");
        }
        int[] win = new int[rank];
        int[] str = new int[rank];
        int[] positions = new int[rank];
        int windows = 1;
        for (int d = 0; d < rank; d++) {
            win[d] = d < window.length ? window[d] : (int) shape[d];
            str[d] = d < stride.length ? stride[d] : (int) shape[d];
            if (win[d] > shape[d]) {
                throw new IllegalArgumentException("Occlusion: window " + Arrays.toString(window) + " is larger than the example "
                        + Arrays.toString(shape) + " in dimension " + d);
            }
            positions[d] = (int) ((shape[d] - win[d]) / str[d]) + 1;
            windows *= positions[d];
        }
        int per = example.length;
        int[] strides = new int[rank];
        strides[rank - 1] = 1;
        for (int d = rank - 2; d >= 0; d--) strides[d] = strides[d + 1] * (int) shape[d + 1];
        float[] batch = Gradients.repeat(example, windows);
        int[][] covered = new int[windows][];
        int[] at = new int[rank];
        for (int w = 0; w < windows; w++) {
            int rest = w;
            for (int d = rank - 1; d >= 0; d--) {
                at[d] = (rest % positions[d]) * str[d];
                rest /= positions[d];
            }
            covered[w] = box(at, win, strides);
            for (int i : covered[w]) batch[w * per + i] = (float) fill;
        }
        float[] scores = Gradients.scores(target, batch, shape, windows);
        float base = Gradients.scores(target, example, shape, 1)[0];
        double[] credit = new double[per];
        int[] count = new int[per];
        for (int w = 0; w < windows; w++) {
            for (int i : covered[w]) {
                credit[i] += base - scores[w];
                count[i]++;
            }
        }
        float[] attr = new float[per];
        for (int i = 0; i < per; i++) attr[i] = count[i] == 0 ? 0 : (float) (credit[i] / count[i]);
        return new Attribution(name(), shape, attr, base, Double.NaN);
    }

    /** The flat indices of the box with corner {@code at} and sizes {@code win}. */
    private static int[] box(int[] at, int[] win, int[] strides) {
        int n = 1;
        for (int s : win) n *= s;
        int[] out = new int[n];
        int[] off = new int[win.length];
        for (int k = 0; k < n; k++) {
            int rest = k;
            int flat = 0;
            for (int d = win.length - 1; d >= 0; d--) {
                off[d] = rest % win[d];
                rest /= win[d];
                flat += (at[d] + off[d]) * strides[d];
            }
            out[k] = flat;
        }
        return out;
    }
}
