package dev.soma.explain;

import dev.soma.autograd.GradMode;
import dev.soma.memory.Scope;
import dev.soma.model.Sequential;
import dev.soma.nn.Layer;
import dev.soma.nn.MultiHeadAttention;
import dev.soma.nn.TransformerEncoder;
import dev.soma.tensor.Tensor;

import java.util.Arrays;

/**
 * The attention weights of one attention layer of a Sequential model for one example (Keras'
 * {@code return_attention_scores}): the layers before it run in inference mode with their masks, then the
 * {@link MultiHeadAttention} (or the attention inside a {@link TransformerEncoder}) returns its softmax weights.
 */
public final class AttentionScores {
    private AttentionScores() {}

    /** Weights {@code [heads, queries, keys]} of one example; each query's row sums to 1 (0 when fully masked). */
    public record Map(float[] weights, long[] shape) {}

    public static Map of(Sequential model, float[] example, long[] exampleShape, int layerIndex) {
        if (layerIndex < 0 || layerIndex >= model.layers().size()) {
            throw new IllegalArgumentException("AttentionScores: layer " + layerIndex + " is outside the model's "
                    + model.layers().size() + " layers");
        }
        Layer layer = model.layers().get(layerIndex);
        if (!(layer instanceof MultiHeadAttention) && !(layer instanceof TransformerEncoder)) {
            throw new IllegalArgumentException("AttentionScores: layer " + layerIndex + " (" + layer.typeName()
                    + ") is not a MultiHeadAttention or TransformerEncoder");
        }
        long[] shape = new long[exampleShape.length + 1];
        shape[0] = 1;
        System.arraycopy(exampleShape, 0, shape, 1, exampleShape.length);
        try (Scope scope = Scope.open(); GradMode.Guard g = GradMode.disable()) {
            Tensor x = Tensor.of(example, shape).to(model.device());
            SequentialRun.ensureBuilt(model, x);
            Tensor mask = SequentialRun.maskBefore(model, layerIndex, x);
            Tensor h = SequentialRun.layers(model, 0, layerIndex, x, null, false);
            Tensor w = layer instanceof MultiHeadAttention m ? m.callWithScores(h, mask, false).weights()
                    : ((TransformerEncoder) layer).attentionScores(h, mask);
            return new Map(w.toFloatArray(), Arrays.copyOfRange(w.shape(), 1, w.ndim()));
        }
    }
}
