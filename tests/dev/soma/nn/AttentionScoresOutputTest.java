package dev.soma.nn;

import dev.soma.memory.Scope;
import dev.soma.model.FunctionalModel;
import dev.soma.model.Input;
import dev.soma.model.SymbolicTensor;
import dev.soma.ops.Attention;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Keras' return_attention_scores through applyAll and in a functional graph. */
@ExtendWith(NoLeaks.class)
class AttentionScoresOutputTest {
    @Test
    void applyAllReturnsTheOutputAndTheWeights() {
        try (MultiHeadAttention mha = new MultiHeadAttention(2, 4).returnAttentionScores(true); Scope s = Scope.open()) {
            Tensor x = Tensor.randn(1, 3, 5, 6);
            List<Tensor> out = mha.applyAll(x, false);
            assertEquals(2, out.size());
            assertArrayEquals(new long[] {3, 5, 6}, out.get(0).shape());
            assertArrayEquals(new long[] {3, 2, 5, 5}, out.get(1).shape());
            List<long[]> shapes = mha.computeOutputShapes(new long[] {5, 6});
            assertArrayEquals(new long[] {5, 6}, shapes.get(0));
            assertArrayEquals(new long[] {2, 5, 5}, shapes.get(1));
            Attention.Result direct = mha.callWithScores(x, null, false);
            assertArrayEquals(direct.output().toFloatArray(), out.get(0).toFloatArray());
            assertArrayEquals(direct.weights().toFloatArray(), out.get(1).toFloatArray());
            float[] w = out.get(1).toFloatArray();
            for (int row = 0; row < w.length / 5; row++) {
                double sum = 0;
                for (int j = 0; j < 5; j++) sum += w[row * 5 + j];
                assertEquals(1.0, sum, 1e-5, "weights of query row " + row);
            }
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> mha.apply(x, false));
            assertTrue(e.getMessage().contains("applyAll"), e.getMessage());
        }
    }

    @Test
    void aFunctionalGraphCanOutputTheScoresAndTheSettingIsSaved() {
        Input in = Input.of(4, 8);
        List<SymbolicTensor> att = in.thenAll(new MultiHeadAttention(2, 4).returnAttentionScores(true));
        SymbolicTensor pooled = att.get(0).then(new GlobalAveragePooling1D()).then(new Dense(2, "softmax"));
        try (FunctionalModel m = new FunctionalModel(List.of(in), List.of(pooled, att.get(1)));
             Scope s = Scope.open()) {
            m.seed(1);
            List<Tensor> outs = m.call(List.of(Tensor.randn(2, 3, 4, 8)));
            assertArrayEquals(new long[] {3, 2, 4, 4}, outs.get(1).shape());
            MultiHeadAttention copy = MultiHeadAttention.fromConfig(((MultiHeadAttention) m.nodes().get(0).layer()).config());
            assertEquals(2, copy.outputCount());
        }
    }
}
