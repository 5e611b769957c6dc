package dev.soma.ops;

import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.Reference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** conv2d forward against plain loops: strides, same/valid, dilation, odd and even kernels, bias, fused ReLU. */
@ExtendWith(NoLeaks.class)
class ConvForwardTest {
    /** N, H, W, C, KH, KW, OC, SH, SW, DH, DW, same (1/0), bias (1/0). */
    static final int[][] CASES = {
        {2, 5, 5, 3, 3, 3, 4, 1, 1, 1, 1, 0, 1},      // plain valid
        {2, 7, 6, 3, 3, 3, 5, 1, 1, 1, 1, 1, 1},      // same, stride 1
        {1, 7, 7, 2, 3, 3, 4, 2, 2, 1, 1, 1, 0},      // same, stride 2 (odd size), no bias
        {2, 8, 9, 3, 2, 4, 4, 2, 3, 1, 1, 1, 1},      // even kernels: padding odd pixel at the bottom/right
        {2, 9, 9, 2, 3, 3, 3, 1, 1, 2, 2, 0, 1},      // dilation, valid
        {1, 10, 11, 3, 3, 2, 2, 1, 1, 2, 3, 1, 1},    // dilation, same
        {3, 6, 6, 1, 1, 1, 7, 1, 1, 1, 1, 0, 1},      // 1x1 kernel, one input channel
        {1, 5, 5, 3, 5, 5, 2, 1, 1, 1, 1, 0, 1},      // kernel as large as the input
        {2, 13, 11, 5, 3, 3, 6, 3, 2, 1, 1, 0, 1},    // stride larger than one, valid, odd sizes
        {2, 12, 12, 16, 3, 3, 32, 1, 1, 1, 1, 1, 1},  // wide enough for the blocked kernels
    };

    static double[] random(SplittableRandom r, int n) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = r.nextGaussian();
        return v;
    }

    static Tensor tensor(double[] v, DType dt, long... shape) {
        Tensor t = Tensor.of(v, shape);
        return dt == DType.F64 ? t : t.to(dt);
    }

    /** Keras/TF "same" padding before (index 1) and output size (index 0) along one axis; valid gives pad 0. */
    static int[] outAndPad(int size, int k, int s, int d, boolean same) {
        int eff = (k - 1) * d + 1;
        if (!same) return new int[] {(size - eff) / s + 1, 0};
        int out = (size + s - 1) / s;
        int total = Math.max((out - 1) * s + eff - size, 0);
        return new int[] {out, total / 2};
    }

    /** Direct convolution: NHWC input, HWIO kernel, bias may be null; returns [N, OH, OW, OC] row-major. */
    static double[] conv(double[] x, int n, int h, int w, int c, double[] k, int kh, int kw, int oc, double[] b,
                         int sh, int sw, int dh, int dw, boolean same) {
        int[] ry = outAndPad(h, kh, sh, dh, same);
        int[] rx = outAndPad(w, kw, sw, dw, same);
        int oh = ry[0], ow = rx[0];
        double[] out = new double[n * oh * ow * oc];
        for (int bi = 0; bi < n; bi++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                    for (int co = 0; co < oc; co++) {
                        double s = b == null ? 0 : b[co];
                        for (int i = 0; i < kh; i++)
                            for (int j = 0; j < kw; j++) {
                                int iy = oy * sh - ry[1] + i * dh;
                                int ix = ox * sw - rx[1] + j * dw;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                for (int ci = 0; ci < c; ci++) {
                                    s += x[((bi * h + iy) * w + ix) * c + ci] * k[((i * kw + j) * c + ci) * oc + co];
                                }
                            }
                        out[((bi * oh + oy) * ow + ox) * oc + co] = s;
                    }
        return out;
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"F32", "F64"})
    void matchesDirectLoops(DType dt) {
        SplittableRandom r = new SplittableRandom(3);
        for (int[] cs : CASES) {
            int n = cs[0], h = cs[1], w = cs[2], c = cs[3], kh = cs[4], kw = cs[5], oc = cs[6];
            int sh = cs[7], sw = cs[8], dh = cs[9], dw = cs[10];
            boolean same = cs[11] == 1, hasBias = cs[12] == 1;
            double[] xv = random(r, n * h * w * c);
            double[] kv = random(r, kh * kw * c * oc);
            double[] bv = hasBias ? random(r, oc) : null;
            String label = java.util.Arrays.toString(cs) + " " + dt;
            try (Scope s = Scope.open()) {
                Tensor x = tensor(xv, dt, n, h, w, c);
                Tensor k = tensor(kv, dt, kh, kw, c, oc);
                Tensor b = hasBias ? tensor(bv, dt, oc) : null;
                int[] st = {sh, sw};
                int[] dl = {dh, dw};
                String pad = same ? "same" : "valid";
                Tensor y = Convolution.conv2d(x, k, b, st, pad, dl);
                double[] ref = conv(xv, n, h, w, c, kv, kh, kw, oc, bv, sh, sw, dh, dw, same);
                long oh = outAndPad(h, kh, sh, dh, same)[0];
                long ow = outAndPad(w, kw, sw, dw, same)[0];
                assertArrayEquals(new long[] {n, oh, ow, oc}, y.shape(), label);
                assertEquals(dt, y.dtype());
                double bound = dt == DType.F32 ? Reference.REDUCTION_F32 : 1e-12;
                assertTrue(Reference.relativeError(y.toDoubleArray(), ref) <= bound,
                        label + ": relative error " + Reference.relativeError(y.toDoubleArray(), ref));

                Tensor yr = Convolution.conv2dRelu(x, k, b, st, pad, dl);
                double[] refRelu = ref.clone();
                for (int i = 0; i < refRelu.length; i++) refRelu[i] = Math.max(refRelu[i], 0);
                assertTrue(Reference.relativeError(yr.toDoubleArray(), refRelu) <= bound, label + " relu");
            }
        }
    }

    @Test
    void outputSizesFollowKeras() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.zeros(1, 7, 8, 2);
            Tensor k3 = Tensor.zeros(3, 3, 2, 4);
            assertArrayEquals(new long[] {1, 5, 6, 4}, Convolution.conv2d(x, k3, null, "valid").shape());
            assertArrayEquals(new long[] {1, 7, 8, 4}, Convolution.conv2d(x, k3, null, "same").shape());
            assertArrayEquals(new long[] {1, 4, 4, 4},
                    Convolution.conv2d(x, k3, null, new int[] {2, 2}, "same", new int[] {1, 1}).shape());
            assertArrayEquals(new long[] {1, 3, 3, 4},
                    Convolution.conv2d(x, k3, null, new int[] {2, 2}, "valid", new int[] {1, 1}).shape());
            assertArrayEquals(new long[] {1, 3, 4, 4},
                    Convolution.conv2d(x, k3, null, new int[] {1, 1}, "valid", new int[] {2, 2}).shape());
            // An empty batch gives an empty output.
            assertArrayEquals(new long[] {0, 7, 8, 4}, Convolution.conv2d(Tensor.zeros(0, 7, 8, 2), k3, null, "same").shape());
        }
    }

    @Test
    void stridedInputViewIsReadCorrectly() {
        SplittableRandom r = new SplittableRandom(11);
        double[] xv = random(r, 2 * 6 * 5 * 3);
        double[] kv = random(r, 3 * 3 * 3 * 4);
        try (Scope s = Scope.open()) {
            // x given as a permuted view [N, W, H, C] -> [N, H, W, C]: not contiguous.
            Tensor xt = Tensor.of(xv, 2, 5, 6, 3).to(DType.F32);
            Tensor x = xt.permute(0, 2, 1, 3);
            assertFalse(x.isContiguous());
            double[] xPlain = x.toDoubleArray();
            Tensor y = Convolution.conv2d(x, Tensor.of(kv, 3, 3, 3, 4).to(DType.F32), null, "same");
            double[] ref = conv(xPlain, 2, 6, 5, 3, kv, 3, 3, 4, null, 1, 1, 1, 1, true);
            Reference.assertClose(y.toDoubleArray(), ref, Reference.REDUCTION_F32);
        }
    }
}
