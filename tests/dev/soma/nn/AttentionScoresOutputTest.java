package dev.soma.nn;

import dev.soma.autograd.GradMode;
import dev.soma.autograd.Gradcheck;
import dev.soma.memory.Scope;
import dev.soma.model.FunctionalModel;
import dev.soma.model.Input;
import dev.soma.model.SymbolicTensor;
import dev.soma.ops.Attention;
import dev.soma.tensor.DType;
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

    /**
     * A loss on the returned scores reaches the input and the query and key weights (finite differences in float64),
     * with a key mask and the causal mask; the output is the fused kernel's. Before, the scores carried no gradient,
     * so a loss using them (attention supervision, an entropy penalty) silently left them out (found by the layer
     * fuzzer's finite differences).
     */
    @Test
    void gradientsFlowThroughTheReturnedScores() {
        try (MultiHeadAttention mha = new MultiHeadAttention(2, 3).returnAttentionScores(true).useCausalMask(true);
             Scope s = Scope.open()) {
            mha.build(new long[] {4, 5}, DType.F64, new java.util.SplittableRandom(2));
            Tensor x = Tensor.randn(3, 2, 4, 5).to(DType.F64);
            Tensor mask = Tensor.of(new double[] {1, 1, 0, 1, 1, 1, 1, 0}, 2, 4).to(DType.F64);
            Tensor weights = Tensor.randn(4, 2, 2, 4, 4).to(DType.F64);
            List<Tensor> params = mha.params().stream().map(Param::value).toList();
            Tensor[] inputs = new Tensor[1 + params.size()];
            inputs[0] = x;
            for (int i = 0; i < params.size(); i++) inputs[i + 1] = params.get(i);
            Gradcheck.assertGradients("scores of multi_head_attention", in -> mha.applyAll(in[0], mask, false).get(1)
                    .mul(weights).sum(), inputs);
            // Without gradients the fused kernel's weights are returned: the same values.
            List<Tensor> viaOps = mha.applyAll(x.setRequiresGrad(true), mask, false);
            List<Tensor> fused;
            try (GradMode.Guard off = GradMode.disable()) {
                fused = mha.applyAll(x, mask, false);
            }
            assertTrue(viaOps.get(1).requiresGrad());
            assertArrayEquals(fused.get(1).toDoubleArray(), viaOps.get(1).toDoubleArray(), 1e-12);
            assertArrayEquals(fused.get(0).toDoubleArray(), viaOps.get(0).toDoubleArray(), 1e-12);
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
