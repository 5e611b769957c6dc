package dev.soma.cuda;

import dev.soma.backend.Backend;
import dev.soma.backend.Backends;
import dev.soma.backend.Transfers;
import dev.soma.memory.Scope;
import dev.soma.ops.Normalization;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.Reference;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.List;
import java.util.SplittableRandom;

import static dev.soma.cuda.GpuTesting.*;
import static dev.soma.cuda.NormalizationTesting.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Layer normalisation on CUDA (cuda-kernels/layernorm.cu) against the CPU backend in the same dtype: forward
 * (y, mean, rstd) and backward (gradX, gradGamma, gradBeta) for 1 x 1, 3 x 1000, 257 x 64, a row wider than the
 * warp-per-row path (block per row), no rows at all, and with gamma / beta absent; outputs poisoned with NaN first.
 * Then the op through autograd on cuda:0 (a 3-d and a transposed input) against the same on the CPU.
 */
@Tag("gpu")
@ExtendWith({NoLeaks.class, GpuSeeds.class})
class CudaNormalizationTest {
    private static final List<DType> DTYPES = List.of(DType.F32, DType.F64);
    private static final long[][] SHAPES = {{1, 1}, {3, 1000}, {257, 64}, {5, 33}, {2, 1500}, {70, 7}, {0, 5}};

    /**
     * gradX against the CPU, relative to the larger of ‖ref‖ and ‖rstd · gamma · gradY‖: gradX is a difference of
     * terms of that size, which cancel exactly for one column (the CPU then returns rounding noise of ~1e-6).
     */
    private static void compareGradX(String what, DType dtype, Tensor out, Tensor ref, double[] rstd, double[] gamma,
                                     double[] gy, long cols) {
        double[] o = out.toDoubleArray(), r = ref.toDoubleArray();
        double d = 0, n = 0, scale = 0;
        for (int i = 0; i < r.length; i++) {
            assertTrue(!Double.isNaN(o[i]), what + ": an element was not written (NaN)");
            d += (o[i] - r[i]) * (o[i] - r[i]);
            n += r[i] * r[i];
            double t = rstd[(int) (i / cols)] * (gamma == null ? 1 : gamma[(int) (i % cols)]) * gy[i];
            scale += t * t;
        }
        if (r.length == 0) return;
        double err = Math.sqrt(d / Math.max(n, scale));
        double bound = dtype == DType.F32 ? Reference.REDUCTION_F32 : 1e-12;
        assertTrue(err <= bound, what + ": relative error " + err + " exceeds " + bound);
    }

    @Test
    void forwardAndBackwardMatchTheCpu() {
        Backend gpu = gpu();
        Backend cpu = Backends.cpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        for (DType dtype : DTYPES) {
            for (long[] shape : SHAPES) {
                for (int affine = 0; affine < 3; affine++) {  // gamma and beta, neither, beta only
                    try (Scope s = Scope.open()) {
                        long rows = shape[0], cols = shape[1];
                        int n = (int) (rows * cols);
                        double[] xv = widen(gaussian(r, n));
                        for (int i = 0; i < n; i++) xv[i] = xv[i] * 3 + 2;  // a mean and a scale to remove
                        double[] gv = widen(uniform(r, (int) cols, 0.5, 1.5));
                        double[] bv = widen(gaussian(r, (int) cols));
                        double[] gyv = widen(gaussian(r, n));
                        boolean withGamma = affine == 0, withBeta = affine != 1;
                        double eps = 1e-5;
                        String what = dtype + " " + rows + " x " + cols + (withGamma ? " gamma" : "")
                                + (withBeta ? " beta" : "");

                        Tensor xc = on(xv, dtype, Device.cpu(), rows, cols);
                        Tensor gc = withGamma ? on(gv, dtype, Device.cpu(), cols) : null;
                        Tensor bc = withBeta ? on(bv, dtype, Device.cpu(), cols) : null;
                        Tensor yc = Tensor.empty(dtype, Device.cpu(), rows, cols);
                        Tensor mc = Tensor.empty(dtype, Device.cpu(), rows);
                        Tensor rc = Tensor.empty(dtype, Device.cpu(), rows);
                        cpu.normalization().layerNorm(xc, gc, bc, eps, rows, cols, yc, mc, rc);

                        Tensor x = on(xv, dtype, GPU, rows, cols);
                        Tensor g = withGamma ? on(gv, dtype, GPU, cols) : null;
                        Tensor b = withBeta ? on(bv, dtype, GPU, cols) : null;
                        Tensor y = poisoned(dtype, rows, cols);
                        Tensor m = poisoned(dtype, rows);
                        Tensor rs = poisoned(dtype, rows);
                        gpu.normalization().layerNorm(x, g, b, eps, rows, cols, y, m, rs);
                        compare(what + " y", dtype, y, yc, Reference.ELEMENTWISE_F32);
                        compare(what + " mean", dtype, m, mc, Reference.REDUCTION_F32);
                        compare(what + " rstd", dtype, rs, rc, Reference.REDUCTION_F32);

                        // The backward from the same saved statistics on both sides.
                        Tensor gyc = on(gyv, dtype, Device.cpu(), rows, cols);
                        Tensor gxc = Tensor.empty(dtype, Device.cpu(), rows, cols);
                        Tensor ggc = withGamma ? Tensor.empty(dtype, Device.cpu(), cols) : null;
                        Tensor gbc = withBeta ? Tensor.empty(dtype, Device.cpu(), cols) : null;
                        cpu.normalization().layerNormBackward(xc, gc, mc, rc, gyc, rows, cols, gxc, ggc, gbc);
                        Tensor mg = on(mc.toDoubleArray(), dtype, GPU, rows);
                        Tensor rg = on(rc.toDoubleArray(), dtype, GPU, rows);
                        Tensor gy = on(gyv, dtype, GPU, rows, cols);
                        Tensor gx = poisoned(dtype, rows, cols);
                        Tensor gg = withGamma ? poisoned(dtype, cols) : null;
                        Tensor gb = withBeta ? poisoned(dtype, cols) : null;
                        gpu.normalization().layerNormBackward(x, g, mg, rg, gy, rows, cols, gx, gg, gb);
                        compareGradX(what + " gradX", dtype, gx, gxc, rc.toDoubleArray(), withGamma ? gv : null, gyv,
                                cols);
                        if (withGamma) compare(what + " gradGamma", dtype, gg, ggc, Reference.REDUCTION_F32);
                        if (withBeta) compare(what + " gradBeta", dtype, gb, gbc, Reference.REDUCTION_F32);
                        if (rows == 0 && withBeta) {
                            assertArrayEquals(new double[(int) cols], gb.toDoubleArray(), what + ": no rows, zero sums");
                        }
                    }
                }
            }
        }
        assertNoGpuLeak(before);
    }

    @Test
    void columnSumsAreDeterministic() {
        Backend gpu = gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        long rows = 3000, cols = 40;  // many row bands
        try (Scope s = Scope.open()) {
            int n = (int) (rows * cols);
            Tensor x = on(widen(gaussian(r, n)), DType.F32, GPU, rows, cols);
            Tensor gy = on(widen(gaussian(r, n)), DType.F32, GPU, rows, cols);
            Tensor m = Tensor.empty(DType.F32, GPU, rows), rs = Tensor.empty(DType.F32, GPU, rows);
            Tensor y = Tensor.empty(DType.F32, GPU, rows, cols);
            gpu.normalization().layerNorm(x, null, null, 1e-3, rows, cols, y, m, rs);
            double[][] runs = new double[2][];
            for (int k = 0; k < 2; k++) {
                Tensor gx = Tensor.empty(DType.F32, GPU, rows, cols);
                Tensor gg = poisoned(DType.F32, cols);
                Tensor gb = poisoned(DType.F32, cols);
                gpu.normalization().layerNormBackward(x, null, m, rs, gy, rows, cols, gx, gg, gb);
                runs[k] = gg.toDoubleArray();
            }
            assertArrayEquals(runs[0], runs[1], "gradGamma bit for bit the same on every run");
        }
        assertNoGpuLeak(before);
    }

    /** The op through autograd: y, x.grad, gamma.grad and beta.grad on cuda:0 equal the CPU's. */
    @Test
    void layerNormOpForwardAndBackwardOnCuda() {
        gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        for (DType dtype : DTYPES) {
            for (boolean transposed : new boolean[] {false, true}) {
                long[] shape = {4, 5, 37};
                int n = 4 * 5 * 37;
                double[] xv = widen(gaussian(r, n));
                double[] gv = widen(uniform(r, 37, 0.5, 1.5));
                double[] bv = widen(gaussian(r, 37));
                double[] seed = widen(gaussian(r, n));
                double[][] results = new double[2][];
                double[][] grads = new double[2][];
                for (int side = 0; side < 2; side++) {
                    Device device = side == 0 ? Device.cpu() : GPU;
                    Tensor x, g, b;
                    try (Scope s = Scope.open()) {
                        // transposed: x^T is the leaf (37 x 20), the op gets its transpose, a non-contiguous view
                        // (the op copies it dense first, and the gradient flows back through the transpose).
                        x = leaf(transposed ? on(transpose(xv, 20, 37), dtype, device, 37, 20) : on(xv, dtype, device, shape));
                        g = leaf(on(gv, dtype, device, 37));
                        b = leaf(on(bv, dtype, device, 37));
                    }
                    try (Scope s = Scope.open()) {
                        Tensor y = Normalization.layerNorm(transposed ? x.transpose(0, 1) : x, g, b, 1e-3);
                        results[side] = y.toDoubleArray();
                        y.backward(on(seed, dtype, device, y.shape()));
                        grads[side] = concat(x.grad().toDoubleArray(), g.grad().toDoubleArray(),
                                b.grad().toDoubleArray());
                    } finally {
                        for (Tensor t : new Tensor[] {x, g, b}) {
                            t.zeroGrad();
                            t.close();
                        }
                    }
                }
                String what = "layerNorm op " + dtype + (transposed ? " transposed" : "");
                double f32 = dtype == DType.F32 ? 1 : 0;
                double errY = Reference.relativeError(results[1], results[0]);
                double errG = Reference.relativeError(grads[1], grads[0]);
                assertTrue(errY <= (f32 > 0 ? Reference.ELEMENTWISE_F32 : 1e-12), what + " y: " + errY);
                assertTrue(errG <= (f32 > 0 ? Reference.REDUCTION_F32 : 1e-12), what + " grads: " + errG);
            }
        }
        assertNoGpuLeak(before);
    }

    @Test
    void noGammaGradientWithoutGamma() {
        // The op asks for no gradGamma / gradBeta when the layer has neither: the kernel then needs no workspace.
        Backend gpu = gpu();
        long before = gpuLiveBytes();
        try (Scope s = Scope.open()) {
            Tensor x = on(widen(gaussian(random(), 12)), DType.F64, GPU, 3, 4).setRequiresGrad(true);
            Tensor y = Normalization.layerNorm(x, null, null, 1e-3);
            y.backward(Tensor.full(1.0, DType.F64, GPU, 3, 4));
            double[] gx = x.grad().toDoubleArray();
            for (double d : gx) assertTrue(Math.abs(d) < 1e-9, "d(sum of a normalised row)/dx is 0, got " + d);
            x.zeroGrad();
        }
        assertNoGpuLeak(before);
    }
}
