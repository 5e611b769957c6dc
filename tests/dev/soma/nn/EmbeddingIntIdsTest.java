package dev.soma.nn;

import dev.soma.memory.Scope;
import dev.soma.model.FunctionalModel;
import dev.soma.model.Input;
import dev.soma.model.Sequential;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Embedding takes int32 ids directly, on its own and as a model's first layer; the weights stay float. */
@ExtendWith(NoLeaks.class)
class EmbeddingIntIdsTest {
    @Test
    void anUnbuiltEmbeddingBuildsFloatWeightsFromIntIds() {
        try (Embedding emb = new Embedding(10, 4); Scope s = Scope.open()) {
            Tensor ids = Tensor.ofInts(new int[] {1, 2, 9, 0, 3, 3}, 2, 3);
            Tensor out = emb.apply(ids, false);
            assertEquals(DType.F32, emb.embeddings().dtype(), "int ids make float weights, not int ones");
            assertArrayEquals(new long[] {2, 3, 4}, out.shape());
            float[] table = emb.embeddings().toFloatArray();
            float[] got = out.toFloatArray();
            int[] want = {1, 2, 9, 0, 3, 3};
            for (int i = 0; i < want.length; i++) {
                for (int d = 0; d < 4; d++) assertEquals(table[want[i] * 4 + d], got[i * 4 + d], 0f);
            }
            // Float ids holding the same whole numbers give the same vectors.
            Tensor asFloats = Tensor.of(new float[] {1, 2, 9, 0, 3, 3}, 2, 3);
            assertArrayEquals(got, emb.apply(asFloats, false).toFloatArray(), 0f);
        }
    }

    @Test
    void modelsCalledWithIntIds() {
        try (Sequential seq = new Sequential(new Embedding(12, 3), new GlobalAveragePooling1D(), new Dense(2));
             Scope s = Scope.open()) {
            Tensor ids = Tensor.ofInts(new int[] {4, 5, 11, 0, 1, 2}, 2, 3);
            Tensor y = seq.call(ids);
            assertArrayEquals(new long[] {2, 2}, y.shape());
            assertEquals(DType.F32, y.dtype());
        }
        Input in = Input.of(3);
        Embedding emb = new Embedding(12, 3);
        try (FunctionalModel f = new FunctionalModel(List.of(in), List.of(in.then(emb).then(new Flatten())));
             Scope s = Scope.open()) {
            Tensor y = f.call(List.of(Tensor.ofInts(new int[] {4, 5, 11}, 1, 3))).get(0);
            assertArrayEquals(new long[] {1, 9}, y.shape());
            float[] table = emb.embeddings().toFloatArray();
            assertEquals(table[11 * 3 + 2], y.toFloatArray()[8], 0f);
        }
    }

    @Test
    void outOfRangeIdsAreRefusedWithoutLeaking() {
        try (Embedding emb = new Embedding(5, 2); Scope s = Scope.open()) {
            Tensor ids = Tensor.ofInts(new int[] {1, 7}, 1, 2);
            RuntimeException e = assertThrows(RuntimeException.class, () -> emb.apply(ids, false));
            assertTrue(e.getMessage().contains("7"), e.getMessage());
        }
    }

    /** Float ids must be whole numbers: 2.7 and NaN were cast to 2 and 0 without a word. */
    @Test
    void fractionalAndNaNFloatIdsAreRefusedWholeFloatsAccepted() {
        try (Embedding emb = new Embedding(5, 2); Scope s = Scope.open()) {
            Tensor whole = Tensor.of(new float[] {1, 4}, 1, 2);
            Tensor asInts = Tensor.ofInts(new int[] {1, 4}, 1, 2);
            assertArrayEquals(emb.apply(asInts, false).toFloatArray(), emb.apply(whole, false).toFloatArray());
            for (float bad : new float[] {2.7f, Float.NaN}) {
                Tensor ids = Tensor.of(new float[] {1, bad}, 1, 2);
                dev.soma.errors.DTypeException e = assertThrows(dev.soma.errors.DTypeException.class, () -> emb.apply(ids, false));
                assertTrue(e.getMessage().contains("flat index 1") && e.getMessage().contains("whole number"), e.getMessage());
            }
        }
    }
}
