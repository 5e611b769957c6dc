package dev.soma.cuda;

import dev.soma.backend.Backend;
import dev.soma.backend.Backends;
import dev.soma.backend.Transfers;
import dev.soma.memory.Scope;
import dev.soma.ops.Embeddings;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.SplittableRandom;

import static dev.soma.cuda.GpuTesting.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The CUDA embedding kernels (cuda-kernels/rnn.cu) against the CPU kernels: the gather copies bits, and the
 * scatter-add is deterministic and adds in the CPU's order, so both must equal the CPU exactly (f32, f64),
 * with repeated ids, ids spanning several scan tiles, rows wider than a block, vocabularies smaller and larger
 * than the grid. Then the op on cuda:0 through autograd. The sequence kernels are not on CUDA yet: they say so.
 */
@Tag("gpu")
@ExtendWith(NoLeaks.class)
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
    void sequenceKernelsAreNotOnCudaYetAndThereIsNoLibraryLstm() {
        Backend gpu = gpu();
        assertFalse(gpu.recurrent().hasLibraryLstm());
        assertThrows(UnsupportedOperationException.class,
                () -> gpu.recurrent().sequenceForward(null, null, null, null, null, null, null, null, null, null));
    }
}
