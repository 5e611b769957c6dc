package dev.soma.tensor;

import dev.soma.autograd.GradMode;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * NumPy/PyTorch-style text for a tensor's values:
 * <pre>
 * tensor([[1., 2.],
 *         [3., 4.]])
 * </pre>
 * Nested brackets per dimension, one width for every value, floats with 4 decimals ("1." when all are whole
 * numbers, scientific when the magnitudes are very large, very small or far apart), ints plain. Past
 * {@value #THRESHOLD} elements only the first and last {@value #EDGE} entries of each long dimension are read
 * and shown, with "..." between. Dtype and device follow when they are not float32 and cpu.
 */
final class TensorFormat {
    static final long THRESHOLD = 1000;
    static final int EDGE = 3;
    static final int LINE_WIDTH = 80;
    private static final String PREFIX = "tensor(";

    private TensorFormat() {}

    static String format(Tensor t) {
        if (t.isClosed()) {
            return PREFIX + "closed: " + t.dtype() + Arrays.toString(t.shape()) + " on " + t.device() + ")";
        }
        String suffix = (t.dtype() != DType.F32 ? ", dtype=" + t.dtype() : "")
                + (!t.device().isCpu() ? ", device=" + t.device() : "");
        if (t.numel() == 0) {
            String shape = t.ndim() == 1 ? "" : ", shape=" + Arrays.toString(t.shape());
            return PREFIX + "[]" + shape + suffix + ")";
        }
        try (GradMode.Guard g = GradMode.disable()) {
            Shown shown = gather(t);
            Style style = new Style(shown.values, t.dtype());
            String body = t.ndim() == 0 ? style.text(shown.values[0])
                    : render(shown, style, 0, 0, PREFIX.length());
            return PREFIX + body + suffix + ")";
        }
    }

    /** The values to print (row-major over {@code kept}) and which dimensions were cut to their edges. */
    private record Shown(double[] values, long[] kept, boolean[] cut) {}

    /** Reads only the shown part: one strided copy per combination of leading/trailing edges. */
    private static Shown gather(Tensor t) {
        long[] shape = t.shape();
        int rank = shape.length;
        boolean summarise = t.numel() > THRESHOLD;
        boolean[] cut = new boolean[rank];
        long[] kept = shape.clone();
        int cuts = 0;
        for (int d = 0; d < rank; d++) {
            cut[d] = summarise && shape[d] > 2 * EDGE;
            if (cut[d]) {
                kept[d] = 2 * EDGE;
                cuts++;
            }
        }
        if (cuts == 0) return new Shown(t.toDoubleArray(), kept, cut);
        long[] src = t.strides();
        try (Tensor small = Tensor.empty(t.dtype(), t.device(), kept)) {
            long[] dst = small.strides();
            for (int combo = 0; combo < (1 << cuts); combo++) {
                long[] lens = kept.clone();
                long srcOffset = t.offset();
                long dstOffset = 0;
                for (int d = 0, bit = 0; d < rank; d++) {
                    if (!cut[d]) continue;
                    boolean tail = ((combo >> bit++) & 1) == 1;
                    lens[d] = EDGE;
                    srcOffset += (tail ? shape[d] - EDGE : 0) * src[d];
                    dstOffset += (tail ? EDGE : 0) * dst[d];
                }
                try (Tensor from = t.viewOf(srcOffset, lens, src); Tensor to = small.viewOf(dstOffset, lens, dst)) {
                    t.backend().memory().copy(from, to);
                }
            }
            return new Shown(small.toDoubleArray(), kept, cut);
        }
    }

    private static String render(Shown s, Style style, int dim, int base, int indent) {
        int rank = s.kept.length;
        int n = (int) s.kept[dim];
        int stride = 1;
        for (int d = dim + 1; d < rank; d++) stride *= (int) s.kept[d];
        List<String> parts = new ArrayList<>();
        boolean last = dim == rank - 1;
        for (int i = 0; i < n; i++) {
            if (s.cut[dim] && i == EDGE) parts.add(last ? " ..." : "...");
            parts.add(last ? style.padded(s.values[base + i]) : render(s, style, dim + 1, base + i * stride, indent + 1));
        }
        if (!last) {
            String sep = "," + "\n".repeat(rank - dim - 1) + " ".repeat(indent + 1);
            return "[" + String.join(sep, parts) + "]";
        }
        // Wrap long rows so a line stays within LINE_WIDTH characters.
        int perLine = Math.max(1, (LINE_WIDTH - indent) / (style.width + 2));
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < parts.size(); i += perLine) {
            lines.add(String.join(", ", parts.subList(i, Math.min(parts.size(), i + perLine))));
        }
        return "[" + String.join(",\n" + " ".repeat(indent + 1), lines) + "]";
    }

    /** How every shown value of one tensor is written: one mode and one width for all. */
    private static final class Style {
        private final boolean integer;
        private boolean wholeNumbers = true;
        private boolean scientific;
        final int width;

        Style(double[] values, DType dtype) {
            integer = !dtype.isFloating();
            if (!integer) {
                double min = Double.POSITIVE_INFINITY;
                double max = 0;
                for (double v : values) {
                    if (!Double.isFinite(v)) continue;
                    if (v != Math.rint(v)) wholeNumbers = false;
                    double a = Math.abs(v);
                    if (a != 0) {
                        min = Math.min(min, a);
                        max = Math.max(max, a);
                    }
                }
                boolean any = max > 0;
                scientific = any && (wholeNumbers ? max > 1e8 : max / min > 1000 || max > 1e8 || min < 1e-4);
            }
            int w = 1;
            for (double v : values) w = Math.max(w, text(v).length());
            width = w;
        }

        String text(double v) {
            if (integer) return Long.toString((long) v);
            if (Double.isNaN(v)) return "nan";
            if (Double.isInfinite(v)) return v > 0 ? "inf" : "-inf";
            if (scientific) return String.format(Locale.ROOT, "%.4e", v);
            if (wholeNumbers) return String.format(Locale.ROOT, "%.0f", v) + ".";
            return String.format(Locale.ROOT, "%.4f", v);
        }

        String padded(double v) {
            String s = text(v);
            return s.length() >= width ? s : " ".repeat(width - s.length()) + s;
        }
    }
}
