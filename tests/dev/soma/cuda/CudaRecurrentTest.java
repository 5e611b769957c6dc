package dev.soma.cuda;

import dev.soma.backend.Backend;
import dev.soma.backend.RecurrentKernels.Cell;
import dev.soma.backend.Backends;
import dev.soma.backend.Transfers;
import dev.soma.memory.Scope;
import dev.soma.ops.Embeddings;
import dev.soma.ops.Recurrent;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.Reference;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static dev.soma.cuda.GpuTesting.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CUDA embedding kernels (cuda-kernels/rnn.cu) against the CPU kernels: the gather copies bits, and the
 * scatter-add is deterministic and adds in the CPU's order, so both must equal the CPU exactly (f32, f64),
 * with repeated ids, ids spanning several scan tiles, rows wider than a block, vocabularies smaller and larger
 * than the grid. Then the op on cuda:0 through autograd. Recurrent layers (every cell; go_backwards, masks,
 * initial states, the final cell state, relu / hard_sigmoid, recurrent dropout) through dev.soma.ops.Recurrent on
 * cuda:0 against the CPU's fused kernels, forward and every gradient, f32 (1e-4) and f64 (1e-11).
 */
@Tag("gpu")
@ExtendWith({NoLeaks.class, GpuSeeds.class})
class CudaRecurrentTest {
    /** vocab, dim, number of ids. */
    private static final int[][] CASES = {{1, 1, 1}, {10, 5, 50}, {7, 300, 33}, {1000, 3, 700}, {40, 33, 600}};

    @Test
    void embeddingGatherAndScatterAddEqualTheCpuExactly() {
        Backend gpu = gpu();
        Backend cpu = Backends.cpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        for (DType dtype : new DType[] {DType.F32, DType.F64, DType.I32}) {
            for (int[] c : CASES) {
                int vocab = c[0], dim = c[1], n = c[2];
                String what = dtype + " vocab " + vocab + " dim " + dim + " ids " + n;
                try (Scope s = Scope.open()) {
                    int[] ids = new int[n];
                    // Few distinct ids (many repeats), some ids unused.
                    int distinct = Math.max(1, vocab / 3);
                    for (int i = 0; i < n; i++) ids[i] = r.nextInt(distinct) * (vocab / distinct);
                    double[] tv = new double[vocab * dim];
                    for (int i = 0; i < tv.length; i++) tv[i] = dtype == DType.I32 ? r.nextInt(-50, 50) : r.nextGaussian();
                    Tensor idsC = Tensor.ofInts(ids, n);
                    Tensor idsG = Transfers.to(idsC, GPU);
                    Tensor tableC = Tensor.of(tv, vocab, dim).to(dtype);
                    Tensor tableG = Transfers.to(tableC, GPU);
                    Tensor outC = Tensor.empty(dtype, Device.cpu(), n, dim);
                    cpu.recurrent().embeddingForward(idsC, tableC, outC);
                    Tensor outG = poisoned(dtype == DType.I32 ? DType.F32 : dtype, n, dim);
                    if (dtype == DType.I32) outG = Tensor.empty(DType.I32, GPU, n, dim);
                    gpu.recurrent().embeddingForward(idsG, tableG, outG);
                    assertArrayEquals(outC.toDoubleArray(), outG.toDoubleArray(), what + " forward");
                    if (dtype == DType.I32) continue;

                    double[] gv = new double[n * dim];
                    for (int i = 0; i < gv.length; i++) gv[i] = r.nextGaussian();
                    Tensor goC = Tensor.of(gv, n, dim).to(dtype);
                    Tensor goG = Transfers.to(goC, GPU);
                    Tensor gtC = Tensor.empty(dtype, Device.cpu(), vocab, dim);
                    cpu.recurrent().embeddingBackward(idsC, goC, gtC);
                    Tensor gtG = poisoned(dtype, vocab, dim);
                    gpu.recurrent().embeddingBackward(idsG, goG, gtG);
                    double[] first = gtG.toDoubleArray();
                    assertArrayEquals(gtC.toDoubleArray(), first, what + " backward (the CPU's sums exactly)");
                    Tensor again = poisoned(dtype, vocab, dim);
                    gpu.recurrent().embeddingBackward(idsG, goG, again);
                    assertArrayEquals(first, again.toDoubleArray(), what + " backward is deterministic");
                }
            }
        }
        assertNoGpuLeak(before);
    }

    @Test
    void embeddingOpTrainsOnTheDevice() {
        gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        for (DType dtype : new DType[] {DType.F32, DType.F64}) {
            try (Scope s = Scope.open()) {
                int vocab = 12, dim = 7;
                int[] ids = new int[3 * 5];
                for (int i = 0; i < ids.length; i++) ids[i] = r.nextInt(4);  // many repeats
                double[] tv = new double[vocab * dim], gv = new double[ids.length * dim];
                for (int i = 0; i < tv.length; i++) tv[i] = r.nextGaussian();
                for (int i = 0; i < gv.length; i++) gv[i] = r.nextGaussian();
                double[][] results = new double[2][];
                double[][] grads = new double[2][];
                Device[] devices = {Device.cpu(), GPU};
                for (int k = 0; k < 2; k++) {
                    Device dev = devices[k];
                    Tensor idsT = Tensor.ofInts(ids, 3, 5);
                    Tensor table = Tensor.of(tv, vocab, dim).to(dtype);
                    Tensor go = Tensor.of(gv, 3, 5, dim).to(dtype);
                    if (!dev.isCpu()) {
                        idsT = Transfers.to(idsT, dev);
                        table = Transfers.to(table, dev);
                        go = Transfers.to(go, dev);
                    }
                    table.setRequiresGrad(true);
                    Tensor out = Embeddings.embedding(idsT, table);
                    out.backward(go);
                    results[k] = out.toDoubleArray();
                    grads[k] = table.grad().toDoubleArray();
                }
                assertArrayEquals(results[0], results[1], dtype + " op forward");
                assertArrayEquals(grads[0], grads[1], dtype + " op table gradient");
            }
        }
        assertNoGpuLeak(before);
    }

    @Test
    void thereIsNoLibraryLstmOnCuda() {
        assertFalse(gpu().recurrent().hasLibraryLstm());
    }

    /** One recurrent configuration: the layer through dev.soma.ops.Recurrent on the CPU and on cuda:0. */
    private record Run(Cell cell, String act, String ract, boolean back, boolean masked, boolean initial,
                       boolean finalCell, boolean drop) {}

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

    private static void compareSequence(Run run, DType dtype, SplittableRandom r) {
        compareSequence(run, dtype, r, 3, 6, 5, 7);
    }

    private static void compareSequence(Run run, DType dtype, SplittableRandom r, long n, long t, long f, long h) {
        int g = run.cell.gates;
        boolean lstm = run.cell == Cell.LSTM;
        double[] x = gauss(r, n * t * f, 1), w = gauss(r, f * g * h, 0.5), u = gauss(r, h * g * h, 0.5);
        long[] biasShape = run.cell == Cell.GRU ? new long[] {2, g * h} : new long[] {g * h};
        double[] b = gauss(r, numel(biasShape), 0.3), h0 = gauss(r, n * h, 0.5), c0 = gauss(r, n * h, 0.5);
        double[] m = new double[(int) (n * t)];
        for (int i = 0; i < m.length; i++) m[i] = (i % 4 == 2) ? 0 : 1;
        double[] drop = new double[(int) (n * h)];
        for (int i = 0; i < drop.length; i++) drop[i] = r.nextInt(4) == 0 ? 0 : 1 / 0.75;
        long steps = t + (run.finalCell ? 1 : 0);
        double[] gy = gauss(r, n * steps * h, 1);
        String what = run + " " + dtype;
        double[][] outs = new double[2][];
        List<double[]>[] grads = new List[] {new ArrayList<double[]>(), new ArrayList<double[]>()};
        Device[] devices = {Device.cpu(), GPU};
        for (int k = 0; k < 2; k++) {
            Device dev = devices[k];
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
            }
        }
        double bound = dtype == DType.F32 ? 1e-4 : 1e-11;
        double e = Reference.relativeError(outs[1], outs[0]);
        assertTrue(e <= bound, what + " forward: relative error " + e);
        String[] names = {"dx", "dw", "du", "db", "dh0", "dc0"};
        for (int i = 0; i < grads[0].size(); i++) {
            double ge = Reference.relativeError(grads[1].get(i), grads[0].get(i));
            assertTrue(ge <= bound, what + " " + names[i] + ": relative error " + ge);
        }
    }

    /** Products over several 64 x 64 output tiles and 16-deep k slices of the GEMM (T*N = 150, 4H = 164, F = 70). */
    @Test
    void largerLstmCrossesGemmTiles() {
        gpu();
        long before = gpuLiveBytes();
        boolean was = Recurrent.usesLibraryLstm();
        Recurrent.useLibraryLstm(false);
        try {
            SplittableRandom r = random();
            for (DType dtype : new DType[] {DType.F32, DType.F64}) {
                compareSequence(new Run(Cell.LSTM, "tanh", "sigmoid", false, true, true, true, false), dtype, r, 5, 30, 70, 41);
            }
        } finally {
            Recurrent.useLibraryLstm(was);
        }
        assertNoGpuLeak(before);
    }

    @ParameterizedTest
    @EnumSource(Cell.class)
    void sequencesMatchTheCpuForwardAndBackward(Cell cell) {
        gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        boolean lstm = cell == Cell.LSTM;
        boolean was = Recurrent.usesLibraryLstm();
        Recurrent.useLibraryLstm(false);  // the CPU reference runs our fused kernels too
        try {
            for (DType dtype : new DType[] {DType.F32, DType.F64}) {
                compareSequence(new Run(cell, "tanh", "sigmoid", false, false, false, false, false), dtype, r);
                compareSequence(new Run(cell, "tanh", "sigmoid", true, true, true, lstm, false), dtype, r);
                compareSequence(new Run(cell, "relu", "hard_sigmoid", false, true, true, false, true), dtype, r);
            }
        } finally {
            Recurrent.useLibraryLstm(was);
        }
        assertNoGpuLeak(before);
    }
}
