package dev.soma.testing;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.function.LongSupplier;

/** Random shapes of matmul operands that broadcast: what the op fuzzer's recipe and MatmulRandomViewsTest draw. */
public final class MatmulShapes {
    private MatmulShapes() {}

    /**
     * Shapes {@code [a, b]} of a product {@code [..., m, k] x [..., k, n]} with up to three batch dimensions, each one
     * broadcast (size 1) in one operand now and then, and leading batch dimensions left out of one now and then.
     * Every size (m, k, n and the batch sizes) comes from {@code size}; the rest from {@code r}.
     */
    public static long[][] broadcasting(SplittableRandom r, LongSupplier size) {
        int batch = r.nextInt(0, 4);
        long m = size.getAsLong(), k = size.getAsLong(), n = size.getAsLong();
        long[] a = new long[batch + 2], b = new long[batch + 2];
        for (int i = 0; i < batch; i++) {
            long d = size.getAsLong();
            a[i] = r.nextInt(4) == 0 ? 1 : d;
            b[i] = r.nextInt(4) == 0 ? 1 : d;
        }
        a[batch] = m;
        a[batch + 1] = k;
        b[batch] = k;
        b[batch + 1] = n;
        if (r.nextInt(4) == 0) a = Arrays.copyOfRange(a, r.nextInt(0, batch + 1), batch + 2);
        if (r.nextInt(4) == 0) b = Arrays.copyOfRange(b, r.nextInt(0, batch + 1), batch + 2);
        return new long[][] {a, b};
    }
}
