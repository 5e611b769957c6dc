package dev.soma.cuda;

import dev.soma.backend.Backend;
import dev.soma.backend.Backends;
import dev.soma.backend.ConvKernels.Geometry;
import dev.soma.backend.ConvKernels.PoolKind;
import dev.soma.backend.CudaProbe;
import dev.soma.backend.Transfers;
import dev.soma.backend.cuda.VendorPaths;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.Reference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.SplittableRandom;

import static dev.soma.cuda.GpuTesting.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Which path each CUDA op family takes (cuBLAS / cuDNN or our kernels), as the describe strings say and as the
 * backend recorded for the call that actually ran ({@link VendorPaths#lastPath}, also the "CUDA path:" log
 * line): on the emulated device and with the vendor switch off every family names and runs ours; on a real
 * device the run agrees with the description whatever it is, and matches the CPU. Prints "PATH family:
 * description" lines that bench/gpu/check.sh collects.
 */
@Tag("gpu")
@ExtendWith({NoLeaks.class, GpuSeeds.class})
class CudaVendorPathTest {
    /** A random size per test: fresh shapes every run. Described after the run, which caches vendor refusals. */
    private final int fresh = 3 + new SplittableRandom().nextInt(40);

    @AfterEach
    void restore() {
        VendorPaths.setVendorEnabled(null);
    }

    private static boolean vendorPossible() {
        return !CudaProbe.result().emulated() && VendorPaths.vendorEnabled();
    }

    /** The path the latest call of this family ran, as the backend recorded it (and logged it once). */
    private static String ranPath(String family) {
        String path = VendorPaths.lastPath(family);
        assertNotNull(path, () -> "no call of " + family + " was recorded");
        return path;
    }

    private static String library(String description) {
        return description.startsWith("cuBLAS") ? "cuBLAS" : description.startsWith("cuDNN") ? "cuDNN" : "soma";
    }

    private static Tensor onGpu(double[] v, long... shape) {
        return Transfers.to(Tensor.of(v, shape).to(DType.F32), GPU);
    }

    /** A plain f32 product [fresh, 24] @ [24, 17]: describe, run, log and CPU agree. */
    private String matmulRuns(Backend gpu, SplittableRandom r) {
        long m = fresh, k = 24, n = 17;
        double[] a = widen(gaussian(r, (int) (m * k)));
        double[] b = widen(gaussian(r, (int) (k * n)));
        try (Scope s = Scope.open()) {
            Tensor ga = onGpu(a, m, k), gb = onGpu(b, k, n);
            Tensor out = poisoned(DType.F32, m, n);
            gpu.linalg().matmul(ga, gb, out);
            String described = gpu.linalg().matmulImplementation(ga, gb, out);
            Tensor expected = Tensor.empty(DType.F64, Device.cpu(), m, n);
            Backends.cpu().linalg().matmul(Tensor.of(a, m, k), Tensor.of(b, k, n), expected);
            double err = Reference.relativeError(out.toDoubleArray(), expected.toDoubleArray());
            assertTrue(err <= Reference.REDUCTION_F32, () -> described + ": relative error " + err);
            assertEquals(library(described), library(ranPath("matmul")), described);
            System.out.println("PATH matmul f32: " + described);
            return described;
        }
    }

    /** A 3x3 "same" f32 convolution with bias and ReLU, forward and both backward passes. */
    private String[] convRuns(Backend gpu, SplittableRandom r) {
        Geometry g = new Geometry(2, fresh, 9, 3, fresh, 9, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1);
        long[] xs = {g.n(), g.h(), g.w(), g.c()}, ys = {g.n(), g.oh(), g.ow(), g.oc()}, ks = {3, 3, g.c(), g.oc()};
        double[] x = widen(gaussian(r, (int) numel(xs))), k = widen(gaussian(r, (int) numel(ks)));
        double[] b = widen(gaussian(r, (int) g.oc())), dy = widen(gaussian(r, (int) numel(ys)));
        try (Scope s = Scope.open()) {
            var cpu = Backends.cpu().conv();
            Tensor out = poisoned(DType.F32, ys);
            gpu.conv().conv2d(g, onGpu(x, xs), onGpu(k, ks), onGpu(b, g.oc()), true, out);
            Tensor ey = Tensor.empty(DType.F64, Device.cpu(), ys);
            cpu.conv2d(g, Tensor.of(x, xs), Tensor.of(k, ks), Tensor.of(b, g.oc()), true, ey);
            Tensor dx = poisoned(DType.F32, xs);
            gpu.conv().conv2dBackwardData(g, onGpu(dy, ys), onGpu(k, ks), dx);
            Tensor edx = Tensor.empty(DType.F64, Device.cpu(), xs);
            cpu.conv2dBackwardData(g, Tensor.of(dy, ys), Tensor.of(k, ks), edx);
            Tensor dk = poisoned(DType.F32, ks), db = poisoned(DType.F32, g.oc());
            gpu.conv().conv2dBackwardWeights(g, onGpu(x, xs), onGpu(dy, ys), dk, db);
            Tensor edk = Tensor.empty(DType.F64, Device.cpu(), ks), edb = Tensor.empty(DType.F64, Device.cpu(), g.oc());
            cpu.conv2dBackwardWeights(g, Tensor.of(x, xs), Tensor.of(dy, ys), edk, edb);
            String[] described = gpu.conv().conv2dImplementations(g, DType.F32, true);
            check(described[0], out, ey);
            check(described[1], dx, edx);
            check(described[2], dk, edk);
            check(described[2] + " (bias)", db, edb);
            String[] passes = {"forward", "backward data", "backward weights"};
            for (int i = 0; i < 3; i++) {
                assertEquals(library(described[i]), library(ranPath("conv2d " + passes[i])), described[i]);
                System.out.println("PATH conv2d " + passes[i] + ": " + described[i]);
            }
            return described;
        }
    }

    /** Inference max and average pooling, 2x2 stride 2 "valid". */
    private String[] poolRuns(Backend gpu, SplittableRandom r) {
        long h = 2L * fresh;
        Geometry g = new Geometry(2, h, 8, 3, fresh, 4, 3, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0);
        long[] xs = {g.n(), g.h(), g.w(), g.c()}, ys = {g.n(), g.oh(), g.ow(), g.oc()};
        double[] x = widen(gaussian(r, (int) numel(xs)));
        String[] forwards = new String[2];
        try (Scope s = Scope.open()) {
            for (PoolKind kind : PoolKind.values()) {
                Tensor out = poisoned(DType.F32, ys);
                gpu.conv().pool2d(kind, g, onGpu(x, xs), out, 0);
                String described = gpu.conv().pool2dImplementations(kind, g, DType.F32)[0];
                Tensor expected = Tensor.empty(DType.F64, Device.cpu(), ys);
                Backends.cpu().conv().pool2d(kind, g, Tensor.of(x, xs), expected, 0);
                check(described, out, expected);
                String family = (kind == PoolKind.MAX ? "max" : "average") + " pool2d forward";
                assertEquals(library(described), library(ranPath(family)), described);
                System.out.println("PATH " + family + ": " + described);
                forwards[kind.ordinal()] = described;
            }
        }
        return forwards;
    }

    private static void check(String what, Tensor got, Tensor expected) {
        double err = Reference.relativeError(got.toDoubleArray(), expected.toDoubleArray());
        assertTrue(err <= Reference.REDUCTION_F32, () -> what + ": relative error " + err);
    }

    private static void assertOurs(String description, String why) {
        assertTrue(description.startsWith("soma"), description);
        assertTrue(description.contains(why), () -> description + " should say why: " + why);
    }

    @Test
    void eachFamilyRunsThePathItDescribes() {
        Backend gpu = gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        String mm = matmulRuns(gpu, r);
        String[] conv = convRuns(gpu, r);
        String[] pool = poolRuns(gpu, r);
        if (!vendorPossible()) {
            String why = CudaProbe.result().emulated() ? "emulated device" : "switched off";
            assertOurs(mm, why);
            for (String c : conv) assertOurs(c, why);
            for (String p : pool) assertOurs(p, why);
        }
        assertNoGpuLeak(before);
    }

    @Test
    void theVendorSwitchKeepsEveryFamilyOnOurKernels() {
        Backend gpu = gpu();
        long before = gpuLiveBytes();
        VendorPaths.setVendorEnabled(false);
        SplittableRandom r = random();
        String why = CudaProbe.result().emulated() ? "emulated device" : "switched off";
        assertOurs(matmulRuns(gpu, r), why);
        assertTrue(ranPath("matmul").startsWith("soma tiled GEMM"), ranPath("matmul"));
        for (String c : convRuns(gpu, r)) assertOurs(c, why);
        for (String p : poolRuns(gpu, r)) assertOurs(p, why);
        assertNoGpuLeak(before);
    }

    /**
     * With the vendor path on: the emulated device never loads a vendor library and says so; a real device uses
     * cuBLAS and cuDNN for these plain f32 shapes, or names why not (not loaded, or refused).
     */
    @Test
    void vendorLibrariesRunOnlyOnARealDevice() {
        Backend gpu = gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        VendorPaths.setVendorEnabled(true);
        String mm = matmulRuns(gpu, r);
        String[] conv = convRuns(gpu, r);
        if (CudaProbe.result().emulated()) {
            assertOurs(mm, "not cuBLAS: emulated device: no cuBLAS");
            for (String c : conv) assertOurs(c, "not cuDNN: emulated device: no cuDNN");
            assertTrue(CudaProbe.cudnnVersion().contains("emulated"), CudaProbe.cudnnVersion());
        } else {
            assertTrue(mm.startsWith("cuBLAS") || mm.contains("cuBLAS not loaded") || mm.contains("cuBLAS refused"), mm);
            for (String c : conv) {
                assertTrue(c.startsWith("cuDNN") || c.contains("cuDNN not loaded") || c.contains("cuDNN refused"), c);
            }
        }
        // Recurrence: plain f32 LSTMs and GRUs run cuDNN's RNN on a real device (CudnnRnnTest compares them with
        // the CPU); the op's library-LSTM hook stays a CPU (oneDNN) path.
        assertFalse(gpu.recurrent().hasLibraryLstm());
        for (String cell : new String[] {"lstm", "gru"}) {
            rnnRun(cell, r);
            String forward = ranPath(cell + " forward"), backward = ranPath(cell + " backward");
            if (CudaProbe.result().emulated()) {
                assertOurs(forward, "not cuDNN: emulated device: no cuDNN");
            } else {
                assertTrue(forward.startsWith("cuDNN") || forward.contains("cuDNN not loaded")
                        || forward.contains("cuDNN refused"), forward);
            }
            assertEquals(forward.startsWith("cuDNN"), backward.startsWith("cuDNN"), forward + " / " + backward);
            System.out.println("PATH " + cell + " forward: " + forward);
            System.out.println("PATH " + cell + " backward: " + backward);
        }
        assertNoGpuLeak(before);
    }

    /** One small training step of a plain f32 LSTM or GRU (reset_after=True) on cuda:0 (finite, recorded). */
    private static void rnnRun(String cell, SplittableRandom r) {
        dev.soma.backend.RecurrentKernels.Cell c = cell.equals("lstm") ? dev.soma.backend.RecurrentKernels.Cell.LSTM
                : dev.soma.backend.RecurrentKernels.Cell.GRU;
        long n = 4, t = 6, f = 5, h = 8, gh = c.gates * h;
        long[] biasShape = c == dev.soma.backend.RecurrentKernels.Cell.GRU ? new long[] {2, gh} : new long[] {gh};
        try (Scope s = Scope.open()) {
            Tensor x = onGpu(widen(gaussian(r, (int) (n * t * f))), n, t, f).setRequiresGrad(true);
            Tensor w = onGpu(widen(gaussian(r, (int) (f * gh))), f, gh).setRequiresGrad(true);
            Tensor u = onGpu(widen(gaussian(r, (int) (h * gh))), h, gh).setRequiresGrad(true);
            Tensor b = onGpu(widen(gaussian(r, (int) numel(biasShape))), biasShape).setRequiresGrad(true);
            Tensor y = dev.soma.ops.Recurrent.run(c, "tanh", "sigmoid", false, false, x, w, u, b, null, null, null);
            y.backward(onGpu(widen(gaussian(r, (int) (n * t * h))), n, t, h));
            for (double v : u.grad().toDoubleArray()) assertTrue(Double.isFinite(v), cell + " recurrent kernel gradient");
        }
    }
}
