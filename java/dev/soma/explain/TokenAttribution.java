package dev.soma.explain;

import dev.soma.autograd.GradMode;
import dev.soma.errors.ShapeException;
import dev.soma.memory.Scope;
import dev.soma.model.Sequential;
import dev.soma.nn.Embedding;
import dev.soma.nn.Layer;
import dev.soma.nn.TokenAndPositionEmbedding;
import dev.soma.tensor.Tensor;

import java.util.Arrays;
import java.util.List;

/**
 * Attributions for text models. Token ids are not differentiable, so the attribution is taken with respect to
 * the embedding layer's output {@code [T, D]} (as Captum's LayerIntegratedGradients on the embedding does) and
 * then summed over the embedding dimension: one value per token. The model is a Sequential whose first layer is an
 * {@link Embedding} or {@link TokenAndPositionEmbedding}; the padding mask it computes from the ids is kept fixed
 * for every perturbed embedding (IG's path, SmoothGrad's noise), as the ids themselves do not change.
 */
public final class TokenAttribution {
    private TokenAttribution() {}

    /** Per-token attributions, the full {@code [T, D]} attribution they were summed from, and the ids. */
    public record Result(int[] ids, float[] perToken, Attribution full) {}

    /**
     * Explains output unit {@code index} of {@code model} (its logit with {@code logits}) on the token ids
     * {@code ids} (one example, no batch dimension) with {@code method}.
     */
    public static Result attribute(Sequential model, int[] ids, int index, boolean logits, AttributionMethod method) {
        Layer embedding = embeddingOf(model);
        long[] idShape = {ids.length};
        if (model.layers().get(0).isBuilt() && !Arrays.equals(model.layers().get(0).inputShape(), idShape)) {
            throw new ShapeException(method.name() + ": " + ids.length + " token ids, but the model takes sequences of shape "
                    + Arrays.toString(model.layers().get(0).inputShape()));
        }
        float[] idValues = new float[ids.length];
        for (int i = 0; i < ids.length; i++) idValues[i] = ids[i];
        float[] embedded;
        long[] shape;
        try (Scope scope = Scope.open(); GradMode.Guard g = GradMode.disable()) {
            Tensor x = Tensor.of(idValues, 1, ids.length).to(model.device());
            SequentialRun.ensureBuilt(model, x);
            Tensor e = embedding.apply(x, null, false);
            embedded = e.toFloatArray();
            shape = Arrays.copyOfRange(e.shape(), 1, e.ndim());
        }
        Target target = new Target((logits ? "logit " : "output ") + index + " of a text model, from its embedding output",
                batch -> {
                    int n = (int) batch.size(0);
                    Tensor idBatch = Tensor.of(Gradients.repeat(idValues, n), n, ids.length).to(model.device());
                    Tensor mask = embedding.computeMask(idBatch, null);
                    Tensor out = SequentialRun.layers(model, 1, model.layers().size(), batch, mask, logits);
                    return Target.pick(out, index);
                }, model.params().stream().map(p -> p.value()).toList(), model.device(), shape);
        Attribution full = method.attribute(target, embedded, shape);
        return new Result(ids.clone(), full.sumOverTrailing(shape.length - 1), full);
    }

    static Layer embeddingOf(Sequential model) {
        List<Layer> ls = model.layers();
        if (ls.isEmpty() || !(ls.get(0) instanceof Embedding || ls.get(0) instanceof TokenAndPositionEmbedding)) {
            throw new IllegalArgumentException("TokenAttribution: the model's first layer must be an Embedding or "
                    + "TokenAndPositionEmbedding, got " + (ls.isEmpty() ? "no layers" : ls.get(0).typeName()));
        }
        return ls.get(0);
    }

    /** True when {@code model} takes token ids (its first layer embeds them). */
    public static boolean isTextModel(Sequential model) {
        return !model.layers().isEmpty()
                && (model.layers().get(0) instanceof Embedding || model.layers().get(0) instanceof TokenAndPositionEmbedding);
    }
}
