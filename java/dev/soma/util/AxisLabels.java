package dev.soma.util;

import java.math.BigDecimal;
import java.math.MathContext;
import java.util.function.Function;

/**
 * Tick labels XChart does not make by itself: its logarithmic axes label only powers of ten (a sweep inside one
 * decade showed no label at all), and a one-epoch history got ticks at fractional epochs. Charts that use these
 * plot {@code log2(size)} or {@code log10(value)} on a linear axis and label each tick with the value it stands for.
 */
public final class AxisLabels {
    private AxisLabels() {}

    /** Labels an axis of {@code log2(size)}: 65536 as "64Ki", 1048576 as "1Mi", other sizes as plain integers. */
    public static Function<Double, String> log2Sizes() {
        return v -> size(Math.pow(2, v));
    }

    /** Labels an axis of {@code log10(value)} with the value to three significant digits. */
    public static Function<Double, String> log10Values() {
        return v -> significant(Math.pow(10, v));
    }

    /** Labels whole epochs only (an axis of epochs has no epoch 1.5). */
    public static Function<Double, String> wholeNumbers() {
        return v -> Math.abs(v - Math.rint(v)) < 1e-9 ? Long.toString(Math.round(v)) : "";
    }

    static String size(double s) {
        long n = Math.round(s);
        if (Math.abs(s - n) > 1e-6 * Math.max(1, s)) return significant(s);
        if (n >= 1L << 30 && n % (1L << 30) == 0) return (n >> 30) + "Gi";
        if (n >= 1L << 20 && n % (1L << 20) == 0) return (n >> 20) + "Mi";
        if (n >= 1L << 10 && n % (1L << 10) == 0) return (n >> 10) + "Ki";
        return Long.toString(n);
    }

    /** Three significant digits, without trailing zeros or an exponent: 63.1, 100, 0.00125. */
    static String significant(double v) {
        if (!Double.isFinite(v)) return Double.toString(v);
        return new BigDecimal(v).round(new MathContext(3)).stripTrailingZeros().toPlainString();
    }
}
