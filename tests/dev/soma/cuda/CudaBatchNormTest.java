package dev.soma.cuda;

import dev.soma.backend.Backend;
import dev.soma.backend.Backends;
import dev.soma.backend.Transfers;
import dev.soma.errors.DeviceException;
import dev.soma.errors.ShapeException;
import dev.soma.memory.Scope;
import dev.soma.nn.BatchNormalization;
import dev.soma.nn.Param;
import dev.soma.ops.BatchNorm;
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
import static org.junit.jupiter.api.Assertions.*;

/**
 * Batch normalisation on CUDA (cuda-kernels/batchnorm.cu) against the CPU backend in the same dtype: forward
 * (y, mean, variance, rstd) and backward (gradX, gradGamma, gradBeta) for 1 x 1, 3 x 1000, 257 x 64, 5 x 33,
 * 2 x 1500, 70 x 7 and 3000 x 40 (many row bands), with gamma / beta absent; outputs poisoned with NaN first. Then
 * the op through autograd and the layer's training step on cuda:0 against the same on the CPU, and misuse.
 */
@Tag("gpu")
@ExtendWith({NoLeaks.class, GpuSeeds.class})
class CudaBatchNormTest {
    private static final List<DType> DTYPES = List.of(DType.F32, DType.F64);
    private static final long[][] SHAPES = {{1, 1}, {3, 1000}, {257, 64}, {5, 33}, {2, 1500}, {70, 7}, {3000, 40}};

    /**
     * gradX against the CPU, relative to the larger of ‖ref‖ and ‖rstd · gamma · gradY‖: gradX is a difference of
     * terms of that size, which cancel exactly for one row (the CPU then returns rounding noise).
     */
    private static void compareGradX(String what, DType dtype, Tensor out, Tensor ref, double[] rstd, double[] gamma,
                                     double[] gy, long cols) {
        double[] o = out.toDoubleArray(), r = ref.toDoubleArray();
        double d = 0, n = 0, scale = 0;
        for (int i = 0; i < r.length; i++) {
            assertTrue(!Double.isNaN(o[i]), what + ": an element was not written (NaN)");
            d += (o[i] - r[i]) * (o[i] - r[i]);
            n += r[i] * r[i];
            int c = (int) (i % cols);
            double t = rstd[c] * (gamma == null ? 1 : gamma[c]) * gy[i];
            scale += t * t;
        }
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
                        Tensor mc = Tensor.empty(dtype, Device.cpu(), cols);
                        Tensor vc = Tensor.empty(dtype, Device.cpu(), cols);
                        Tensor rc = Tensor.empty(dtype, Device.cpu(), cols);
                        cpu.normalization().batchNorm(xc, gc, bc, eps, rows, cols, yc, mc, vc, rc);

                        Tensor x = on(xv, dtype, GPU, rows, cols);
                        Tensor g = withGamma ? on(gv, dtype, GPU, cols) : null;
                        Tensor b = withBeta ? on(bv, dtype, GPU, cols) : null;
                        Tensor y = poisoned(dtype, rows, cols);
                        Tensor m = poisoned(dtype, cols);
                        Tensor v = poisoned(dtype, cols);
                        Tensor rs = poisoned(dtype, cols);
                        gpu.normalization().batchNorm(x, g, b, eps, rows, cols, y, m, v, rs);
                        compare(what + " y", dtype, y, yc, Reference.ELEMENTWISE_F32);
                        compare(what + " mean", dtype, m, mc, Reference.REDUCTION_F32);
                        compare(what + " variance", dtype, v, vc, Reference.REDUCTION_F32);
                        compare(what + " rstd", dtype, rs, rc, Reference.REDUCTION_F32);

                        // The backward from the same saved statistics on both sides.
                        Tensor gyc = on(gyv, dtype, Device.cpu(), rows, cols);
                        Tensor gxc = Tensor.empty(dtype, Device.cpu(), rows, cols);
                        Tensor ggc = withGamma ? Tensor.empty(dtype, Device.cpu(), cols) : null;
                        Tensor gbc = withBeta ? Tensor.empty(dtype, Device.cpu(), cols) : null;
                        cpu.normalization().batchNormBackward(xc, gc, mc, rc, gyc, rows, cols, gxc, ggc, gbc);
                        Tensor mg = on(mc.toDoubleArray(), dtype, GPU, cols);
                        Tensor rg = on(rc.toDoubleArray(), dtype, GPU, cols);
                        Tensor gy = on(gyv, dtype, GPU, rows, cols);
                        Tensor gx = poisoned(dtype, rows, cols);
                        Tensor gg = withGamma ? poisoned(dtype, cols) : null;
                        Tensor gb = withBeta ? poisoned(dtype, cols) : null;
                        gpu.normalization().batchNormBackward(x, g, mg, rg, gy, rows, cols, gx, gg, gb);
                        compareGradX(what + " gradX", dtype, gx, gxc, rc.toDoubleArray(), withGamma ? gv : null, gyv,
                                cols);
                        if (withGamma) compare(what + " gradGamma", dtype, gg, ggc, Reference.REDUCTION_F32);
                        if (withBeta) compare(what + " gradBeta", dtype, gb, gbc, Reference.REDUCTION_F32);
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
            double[][] stats = new double[2][];
            double[][] grads = new double[2][];
            for (int k = 0; k < 2; k++) {
                Tensor y = Tensor.empty(DType.F32, GPU, rows, cols);
                Tensor m = poisoned(DType.F32, cols), v = poisoned(DType.F32, cols), rs = poisoned(DType.F32, cols);
                gpu.normalization().batchNorm(x, null, null, 1e-3, rows, cols, y, m, v, rs);
                Tensor gx = Tensor.empty(DType.F32, GPU, rows, cols);
                Tensor gg = poisoned(DType.F32, cols);
                Tensor gb = poisoned(DType.F32, cols);
                gpu.normalization().batchNormBackward(x, null, m, rs, gy, rows, cols, gx, gg, gb);
                stats[k] = concat(m.toDoubleArray(), v.toDoubleArray());
                grads[k] = concat(gg.toDoubleArray(), gb.toDoubleArray(), gx.toDoubleArray());
            }
            assertArrayEquals(stats[0], stats[1], "mean and variance bit for bit the same on every run");
            assertArrayEquals(grads[0], grads[1], "gradients bit for bit the same on every run");
        }
        assertNoGpuLeak(before);
    }

    /** The op through autograd: y, mean, variance, x.grad, gamma.grad and beta.grad on cuda:0 equal the CPU's. */
    @Test
    void batchNormOpForwardAndBackwardOnCuda() {
        gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        for (DType dtype : DTYPES) {
            for (boolean transposed : new boolean[] {false, true}) {
                long[] shape = {4, 5, 3, 37};  // NHWC
                int n = 4 * 5 * 3 * 37;
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
                        // transposed: x^T is the leaf (37 x 60), the op gets its transpose, a non-contiguous view.
                        x = leaf(transposed ? on(transpose(xv, 60, 37), dtype, device, 37, 60) : on(xv, dtype, device, shape));
                        g = leaf(on(gv, dtype, device, 37));
                        b = leaf(on(bv, dtype, device, 37));
                    }
                    try (Scope s = Scope.open()) {
                        BatchNorm.Result out = BatchNorm.training(transposed ? x.transpose(0, 1) : x, g, b, 1e-3);
                        results[side] = concat(out.y().toDoubleArray(), out.mean().toDoubleArray(),
                                out.variance().toDoubleArray());
                        out.y().backward(on(seed, dtype, device, out.y().shape()));
                        grads[side] = concat(x.grad().toDoubleArray(), g.grad().toDoubleArray(),
                                b.grad().toDoubleArray());
                    } finally {
                        for (Tensor t : new Tensor[] {x, g, b}) {
                            t.zeroGrad();
                            t.close();
                        }
                    }
                }
                String what = "batchNorm op " + dtype + (transposed ? " transposed" : "");
                boolean f32 = dtype == DType.F32;
                double errY = Reference.relativeError(results[1], results[0]);
                double errG = Reference.relativeError(grads[1], grads[0]);
                assertTrue(errY <= (f32 ? Reference.ELEMENTWISE_F32 : 1e-12), what + " y: " + errY);
                assertTrue(errG <= (f32 ? Reference.REDUCTION_F32 : 1e-12), what + " grads: " + errG);
            }
        }
        assertNoGpuLeak(before);
    }

    /** BatchNormalization's training step on cuda:0: output, moving statistics and weight gradients as on the CPU. */
    @Test
    void layerTrainingStepOnCuda() {
        gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        long[] shape = {6, 4, 4, 8};
        int n = 6 * 4 * 4 * 8;
        double[] xv = widen(gaussian(r, n));
        double[] seed = widen(gaussian(r, n));
        double[][] results = new double[2][];
        for (int side = 0; side < 2; side++) {
            Device device = side == 0 ? Device.cpu() : GPU;
            try (Scope s = Scope.open(); BatchNormalization bn = new BatchNormalization(0.9, 1e-3)) {
                bn.build(new long[] {4, 4, 8}, DType.F32, new SplittableRandom(1));
                for (Param q : bn.params()) if (!device.isCpu()) q.value().moveTo(device);
                Tensor y = bn.apply(on(xv, DType.F32, device, shape), true);
                y.backward(on(seed, DType.F32, device, shape));
                List<Param> p = bn.params();
                results[side] = concat(y.toDoubleArray(), p.get(0).value().grad().toDoubleArray(),
                        p.get(1).value().grad().toDoubleArray(), p.get(2).value().toDoubleArray(),
                        p.get(3).value().toDoubleArray());
                for (Param q : p) q.value().zeroGrad();
            }
        }
        double err = Reference.relativeError(results[1], results[0]);
        assertTrue(err <= Reference.REDUCTION_F32, "BatchNormalization step on cuda:0 vs CPU: " + err);
        assertNoGpuLeak(before);
    }

    @Test
    void misuseIsRejectedBeforeTheKernel() {
        gpu();
        long before = gpuLiveBytes();
        try (Scope s = Scope.open()) {
            Tensor x = on(widen(gaussian(random(), 12)), DType.F32, GPU, 3, 4);
            DeviceException d = assertThrows(DeviceException.class,
                    () -> BatchNorm.training(x, Tensor.ones(4), null, 1e-3));
            assertTrue(d.getMessage().contains("batchNorm") && d.getMessage().contains("cuda"), d.getMessage());
            ShapeException e = assertThrows(ShapeException.class,
                    () -> BatchNorm.training(Tensor.empty(DType.F32, GPU, 0, 4), null, null, 1e-3));
            assertTrue(e.getMessage().contains("batchNorm"), e.getMessage());
        }
        assertNoGpuLeak(before);
    }
}
