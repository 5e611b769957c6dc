package dev.soma.cuda;

import dev.soma.backend.CudaProbe;
import dev.soma.backend.RecurrentKernels.Cell;
import dev.soma.backend.Transfers;
import dev.soma.backend.cuda.VendorPaths;
import dev.soma.memory.Scope;
import dev.soma.ops.Recurrent;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.Reference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static dev.soma.cuda.GpuTesting.*;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The cuDNN RNN path of LSTM and GRU (reset_after=True) on cuda:0: forward outputs (with the LSTM's final cell
 * state) and every gradient (input, initial states, kernel, recurrent kernel, bias) in f32 against the CPU in
 * f64, within the f32 product bound (1e-4), over batch 1 and 7, sequence 1 and 13, units 5 and 64, features 3
 * and 33, with and without initial states and go_backwards; the backend must record that cuDNN ran both passes.
 * These need cuDNN (a real device with the library loaded and soma.cuda.vendor on) and are skipped with the
 * reason otherwise. The fallback tests run everywhere: the forms cuDNN cannot express (reset_after=False,
 * masks, recurrent dropout, other activations, f64) and, on the emulated device or with the vendor switch off,
 * every layer run our kernels and the recorded path says why.
 */
@Tag("gpu")
@ExtendWith({NoLeaks.class, GpuSeeds.class})
class CudnnRnnTest {
    @AfterEach
    void resetSwitch() {
        VendorPaths.setVendorEnabled(null);
    }

    private static void assumeCudnn() {
        assumeTrue(!CudaProbe.result().emulated(), "emulated device: no cuDNN, the cuDNN RNN path cannot run here");
        assumeTrue(VendorPaths.vendorEnabled(), "vendor libraries switched off (soma.cuda.vendor=false)");
        String v = CudaProbe.cudnnVersion();
        assumeTrue(!v.isEmpty() && Character.isDigit(v.charAt(0)), () -> "cuDNN not loaded: " + v);
    }

    /** One configuration through dev.soma.ops.Recurrent: the layer's options and sizes. */
    private record Run(Cell cell, String act, String ract, boolean back, boolean initial, boolean finalCell,
                       boolean masked, boolean drop, long n, long t, long f, long h) {}

    private static double[] gauss(SplittableRandom r, long n, double scale) {
        double[] v = new double[(int) n];
        for (int i = 0; i < v.length; i++) v[i] = r.nextGaussian() * scale;
        return v;
    }

    private static Tensor on(double[] v, DType dtype, Device dev, boolean grad, long... shape) {
        Tensor t = Tensor.of(v, shape).to(dtype);
        if (!dev.isCpu()) t = Transfers.to(t, dev);
        return grad ? t.setRequiresGrad(true) : t;
    }

    /**
     * Runs the layer forward and backward on the CPU in f64 (the reference) and on cuda:0 in f32, compares the
     * output and every gradient; returns the paths the GPU's forward and backward recorded.
     */
    private static String[] compare(Run run, SplittableRandom r) {
        long n = run.n, t = run.t, f = run.f, h = run.h;
        int g = run.cell.gates;
        boolean lstm = run.cell == Cell.LSTM;
        // Weights scaled so the gates stay out of saturation over 64 units.
        double ws = 1.0 / Math.sqrt(Math.max(f, h));
        double[] x = gauss(r, n * t * f, 1), w = gauss(r, f * g * h, ws), u = gauss(r, h * g * h, ws);
        long[] biasShape = run.cell == Cell.GRU ? new long[] {2, g * h} : new long[] {g * h};
        double[] b = gauss(r, numel(biasShape), 0.3), h0 = gauss(r, n * h, 0.5), c0 = gauss(r, n * h, 0.5);
        double[] m = new double[(int) (n * t)];
        for (int i = 0; i < m.length; i++) m[i] = (i % 4 == 2) ? 0 : 1;
        double[] drop = new double[(int) (n * h)];
        for (int i = 0; i < drop.length; i++) drop[i] = r.nextInt(4) == 0 ? 0 : 1 / 0.75;
        long steps = t + (run.finalCell ? 1 : 0);
        double[] gy = gauss(r, n * steps * h, 1);
        double[][] outs = new double[2][];
        List<double[]>[] grads = new List[] {new ArrayList<double[]>(), new ArrayList<double[]>()};
        Device[] devices = {Device.cpu(), GPU};
        DType[] dtypes = {DType.F64, DType.F32};
        String[] paths = new String[2];
        for (int k = 0; k < 2; k++) {
            Device dev = devices[k];
            DType dtype = dtypes[k];
            try (Scope s = Scope.open()) {
                Tensor xt = on(x, dtype, dev, true, n, t, f), wt = on(w, dtype, dev, true, f, g * h);
                Tensor ut = on(u, dtype, dev, true, h, g * h), bt = on(b, dtype, dev, true, biasShape);
                Tensor h0t = run.initial ? on(h0, dtype, dev, true, n, h) : null;
                Tensor c0t = run.initial && lstm ? on(c0, dtype, dev, true, n, h) : null;
                Tensor mt = run.masked ? on(m, dtype, dev, false, n, t) : null;
                Tensor dt = run.drop ? on(drop, dtype, dev, false, n, h) : null;
                Tensor y = Recurrent.run(run.cell, run.act, run.ract, run.back, run.finalCell, xt, wt, ut, bt, h0t, c0t,
                        mt, dt);
                y.backward(on(gy, dtype, dev, false, n, steps, h));
                outs[k] = y.toDoubleArray();
                for (Tensor p : new Tensor[] {xt, wt, ut, bt, h0t, c0t}) if (p != null) grads[k].add(p.grad().toDoubleArray());
                if (k == 1) {
                    String family = run.cell.name().toLowerCase(java.util.Locale.ROOT);
                    paths[0] = VendorPaths.lastPath(family + " forward");
                    paths[1] = VendorPaths.lastPath(family + " backward");
                }
            }
        }
        double bound = Reference.REDUCTION_F32;
        double e = Reference.relativeError(outs[1], outs[0]);
        assertTrue(e <= bound, run + " forward: relative error " + e + " (path " + paths[0] + ")");
        String[] names = {"dx", "dw", "du", "db", "dh0", "dc0"};
        for (int i = 0; i < grads[0].size(); i++) {
            double ge = Reference.relativeError(grads[1].get(i), grads[0].get(i));
            assertTrue(ge <= bound, run + " " + names[i] + ": relative error " + ge + " (path " + paths[1] + ")");
        }
        assertNotNull(paths[0], run + ": no forward path recorded");
        assertNotNull(paths[1], run + ": no backward path recorded");
        return paths;
    }

    @Test
    void cudnnLstmAndGruMatchTheCpuForwardAndEveryGradient() {
        assumeCudnn();
        gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        boolean was = Recurrent.usesLibraryLstm();
        Recurrent.useLibraryLstm(false); // the f64 CPU reference runs our fused kernels (oneDNN's is f32 only)
        try {
            int i = 0;
            for (Cell cell : new Cell[] {Cell.LSTM, Cell.GRU}) {
                for (long n : new long[] {1, 7}) {
                    for (long t : new long[] {1, 13}) {
                        for (long h : new long[] {5, 64}) {
                            for (long f : new long[] {3, 33}) {
                                boolean initial = i % 2 == 0, back = i % 3 == 0;
                                boolean finalCell = cell == Cell.LSTM && i % 4 < 2;
                                i++;
                                Run run = new Run(cell, "tanh", "sigmoid", back, initial, finalCell, false, false, n, t, f, h);
                                String[] paths = compare(run, r);
                                assertTrue(paths[0].startsWith("cuDNN"), run + " forward ran " + paths[0]);
                                assertTrue(paths[1].startsWith("cuDNN"), run + " backward ran " + paths[1]);
                                if (i == 1) {
                                    System.out.println("PATH lstm forward: " + paths[0]);
                                    System.out.println("PATH lstm backward: " + paths[1]);
                                }
                            }
                        }
                    }
                }
            }
        } finally {
            Recurrent.useLibraryLstm(was);
        }
        assertNoGpuLeak(before);
    }

    /** The forms cuDNN cannot express run ours on every device, and the recorded path names the reason. */
    @Test
    void formsCudnnCannotExpressRunOurKernelsAndSayWhy() {
        gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        boolean was = Recurrent.usesLibraryLstm();
        Recurrent.useLibraryLstm(false);
        try {
            Object[][] cases = {
                    {new Run(Cell.GRU_RESET_BEFORE, "tanh", "sigmoid", false, true, false, false, false, 3, 5, 4, 6),
                            "reset_after=False"},
                    {new Run(Cell.LSTM, "tanh", "sigmoid", false, false, false, true, false, 3, 5, 4, 6), "mask"},
                    {new Run(Cell.GRU, "tanh", "sigmoid", true, false, false, false, true, 3, 5, 4, 6), "recurrent dropout"},
                    {new Run(Cell.LSTM, "relu", "hard_sigmoid", false, true, true, false, false, 3, 5, 4, 6),
                            "tanh and sigmoid"},
            };
            boolean emulated = CudaProbe.result().emulated();
            for (Object[] c : cases) {
                Run run = (Run) c[0];
                String[] paths = compare(run, r);
                // On the emulated device, or with the vendor switch off, the library refusal comes first and names
                // that instead.
                String why = emulated ? "emulated device: no cuDNN"
                        : !dev.soma.backend.cuda.VendorPaths.vendorEnabled() ? "cuDNN switched off" : (String) c[1];
                assertTrue(paths[0].startsWith("soma rnn.cu kernels (not cuDNN: ") && paths[0].contains(why),
                        run + " forward ran " + paths[0] + ", expected ours because of " + why);
                assertTrue(paths[1].startsWith("soma rnn.cu kernels"), run + " backward ran " + paths[1]);
                System.out.println("PATH " + run.cell.name().toLowerCase(java.util.Locale.ROOT) + " fallback: " + paths[0]);
            }
        } finally {
            Recurrent.useLibraryLstm(was);
        }
        assertNoGpuLeak(before);
    }

    /** With the vendor switch off (and on the emulated device) plain LSTMs and GRUs run ours and match the CPU. */
    @Test
    void theVendorSwitchKeepsPlainLayersOnOurKernels() {
        gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        VendorPaths.setVendorEnabled(false);
        boolean was = Recurrent.usesLibraryLstm();
        Recurrent.useLibraryLstm(false);
        try {
            String why = CudaProbe.result().emulated() ? "emulated device: no cuDNN" : "cuDNN switched off";
            for (Cell cell : new Cell[] {Cell.LSTM, Cell.GRU}) {
                Run run = new Run(cell, "tanh", "sigmoid", false, true, cell == Cell.LSTM, false, false, 7, 13, 33, 5);
                String[] paths = compare(run, r);
                assertTrue(paths[0].startsWith("soma rnn.cu kernels (not cuDNN: ") && paths[0].contains(why),
                        run + " forward ran " + paths[0]);
                assertTrue(paths[1].startsWith("soma rnn.cu kernels"), run + " backward ran " + paths[1]);
            }
        } finally {
            Recurrent.useLibraryLstm(was);
        }
        assertNoGpuLeak(before);
    }

    /** An inference forward (no gradient wanted) through cuDNN keeps nothing and matches the training forward. */
    @Test
    void inferenceForwardMatchesAndKeepsNothing() {
        assumeCudnn();
        gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        for (Cell cell : new Cell[] {Cell.LSTM, Cell.GRU}) {
            long n = 7, t = 13, f = 33, h = 64;
            int g = cell.gates;
            long[] biasShape = cell == Cell.GRU ? new long[] {2, g * h} : new long[] {g * h};
            double[] x = gauss(r, n * t * f, 1), w = gauss(r, f * g * h, 0.15), u = gauss(r, h * g * h, 0.15);
            double[] b = gauss(r, numel(biasShape), 0.3);
            double[][] outs = new double[2][];
            for (int k = 0; k < 2; k++) {
                try (Scope s = Scope.open()) {
                    boolean grad = k == 1;
                    Tensor y = Recurrent.run(cell, "tanh", "sigmoid", false, false, on(x, DType.F32, GPU, grad, n, t, f),
                            on(w, DType.F32, GPU, grad, f, g * h), on(u, DType.F32, GPU, grad, h, g * h),
                            on(b, DType.F32, GPU, grad, biasShape), null, null, null);
                    outs[k] = y.toDoubleArray();
                    String path = VendorPaths.lastPath(cell.name().toLowerCase(java.util.Locale.ROOT) + " forward");
                    assertTrue(path.startsWith("cuDNN") && path.contains(grad ? "training" : "inference"), path);
                }
            }
            double e = Reference.relativeError(outs[0], outs[1]);
            assertTrue(e <= 1e-6, cell + " inference vs training forward: relative error " + e);
        }
        assertNoGpuLeak(before);
    }
}
