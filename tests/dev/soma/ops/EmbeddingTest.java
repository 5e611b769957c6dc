package dev.soma.ops;

import dev.soma.autograd.Gradcheck;
import dev.soma.errors.DTypeException;
import dev.soma.errors.ShapeException;
import dev.soma.memory.Scope;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** Embedding gather and its scatter-add backward: plain Java reference, finite differences, bad ids. */
@ExtendWith(NoLeaks.class)
class EmbeddingTest {
    @Test
    void gathersRowsAndScatterAddsGradients() {
        int vocab = 7, dim = 5;
        int[] ids = {3, 0, 3, 6, 1, 3, 0, 2};
        SplittableRandom r = new SplittableRandom(1);
        float[] table = new float[vocab * dim];
        for (int i = 0; i < table.length; i++) table[i] = (float) r.nextGaussian();
        float[] g = new float[ids.length * dim];
        for (int i = 0; i < g.length; i++) g[i] = (float) r.nextGaussian();
        try (Scope s = Scope.open()) {
            Tensor tt = Tensor.of(table, vocab, dim).setRequiresGrad(true);
            Tensor out = Embeddings.embedding(Tensor.ofInts(ids, 2, 4), tt);
            assertArrayEquals(new long[] {2, 4, dim}, out.shape());
            float[] o = out.toFloatArray();
            for (int i = 0; i < ids.length; i++)
                for (int d = 0; d < dim; d++) assertEquals(table[ids[i] * dim + d], o[i * dim + d]);
            out.backward(Tensor.of(g, 2, 4, dim));
            float[] grad = tt.grad().toFloatArray();
            double[] ref = new double[vocab * dim];
            for (int i = 0; i < ids.length; i++) for (int d = 0; d < dim; d++) ref[ids[i] * dim + d] += g[i * dim + d];
            for (int i = 0; i < ref.length; i++) assertEquals(ref[i], grad[i], 1e-5, "element " + i);
            tt.zeroGrad();
        }
    }

    @Test
    void backwardIsDeterministicForManyRepeatedIds() {
        int vocab = 50, dim = 64, n = 40000;
        int[] ids = new int[n];
        SplittableRandom r = new SplittableRandom(2);
        for (int i = 0; i < n; i++) ids[i] = r.nextInt(vocab);
        try (Scope s = Scope.open()) {
            Tensor table = Tensor.randn(3, vocab, dim).setRequiresGrad(true);
            Tensor g = Tensor.randn(4, n, dim);
            float[] first = null;
            for (int rep = 0; rep < 3; rep++) {
                Embeddings.embedding(Tensor.ofInts(ids), table).backward(g);
                float[] now = table.grad().toFloatArray();
                table.zeroGrad();
                if (first == null) first = now;
                else assertArrayEquals(first, now);
            }
        }
    }

    @Test
    void gradientMatchesFiniteDifferences() {
        try (Scope s = Scope.open()) {
            Tensor ids = Tensor.ofInts(new int[] {1, 2, 1, 0, 4, 4}, 3, 2);
            Tensor table = Creation.randn(5, dev.soma.tensor.DType.F64, dev.soma.tensor.Device.cpu(), 5, 3);
            Gradcheck.assertGradients("embedding", in -> Embeddings.embedding(in[0], in[1]), ids, table);
        }
    }

    @Test
    void badInputsAreRejected() {
        try (Scope s = Scope.open()) {
            Tensor table = Tensor.zeros(4, 3);
            ShapeException e = assertThrows(ShapeException.class,
                    () -> Embeddings.embedding(Tensor.ofInts(new int[] {0, 4}), table));
            assertTrue(e.getMessage().contains("embedding") && e.getMessage().contains("id 4"), e.getMessage());
            assertThrows(ShapeException.class, () -> Embeddings.embedding(Tensor.ofInts(new int[] {-1}), table));
            assertThrows(DTypeException.class, () -> Embeddings.embedding(Tensor.of(new float[] {0, 1}), table));
            assertThrows(DTypeException.class, () -> Embeddings.embedding(Tensor.ofInts(new int[] {0}),
                    Tensor.ofInts(new int[] {1, 2}, 1, 2)));
            assertThrows(ShapeException.class, () -> Embeddings.embedding(Tensor.ofInts(new int[] {0}), Tensor.zeros(4)));
        }
    }
}
