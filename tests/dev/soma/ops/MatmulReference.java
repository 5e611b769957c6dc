package dev.soma.ops;

import java.util.Arrays;

/** A plain triple loop for batched matmul with broadcast batch dimensions, in double: the tests' reference. */
final class MatmulReference {
    private MatmulReference() {}

    /** Row-major a[aShape] @ b[bShape] (both rank >= 2), batch dims broadcast like NumPy. Returns values; shape via {@link #shape}. */
    static double[] matmul(double[] a, long[] aShape, double[] b, long[] bShape) {
        long[] out = shape(aShape, bShape);
        int r = out.length;
        int m = (int) aShape[aShape.length - 2], k = (int) aShape[aShape.length - 1], n = (int) bShape[bShape.length - 1];
        int batches = 1;
        for (int i = 0; i < r - 2; i++) batches *= (int) out[i];
        double[] c = new double[batches * m * n];
        int[] idx = new int[r - 2];
        for (int bi = 0; bi < batches; bi++) {
            int rem = bi;
            for (int d = r - 3; d >= 0; d--) {
                idx[d] = rem % (int) out[d];
                rem /= (int) out[d];
            }
            int aOff = batchOffset(idx, aShape, m * k);
            int bOff = batchOffset(idx, bShape, k * n);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int p = 0; p < k; p++) s += a[aOff + i * k + p] * b[bOff + p * n + j];
                    c[(bi * m + i) * n + j] = s;
                }
        }
        return c;
    }

    static long[] shape(long[] aShape, long[] bShape) {
        long[] ab = Arrays.copyOf(aShape, aShape.length - 2);
        long[] bb = Arrays.copyOf(bShape, bShape.length - 2);
        int nb = Math.max(ab.length, bb.length);
        long[] out = new long[nb + 2];
        for (int i = 0; i < nb; i++) {
            long x = i < nb - ab.length ? 1 : ab[i - (nb - ab.length)];
            long y = i < nb - bb.length ? 1 : bb[i - (nb - bb.length)];
            out[i] = Math.max(x, y);
        }
        out[nb] = aShape[aShape.length - 2];
        out[nb + 1] = bShape[bShape.length - 1];
        return out;
    }

    /** Offset of the matrix at broadcast batch index idx in a contiguous operand of the given shape. */
    private static int batchOffset(int[] idx, long[] shape, int matrix) {
        int nb = shape.length - 2;
        int lead = idx.length - nb;
        int off = 0;
        int stride = matrix;
        for (int d = nb - 1; d >= 0; d--) {
            int size = (int) shape[d];
            int i = size == 1 ? 0 : idx[d + lead];
            off += i * stride;
            stride *= size;
        }
        return off;
    }
}
