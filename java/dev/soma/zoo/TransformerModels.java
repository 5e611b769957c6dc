package dev.soma.zoo;

import dev.soma.model.Sequential;
import dev.soma.nn.Dense;
import dev.soma.nn.GlobalAveragePooling1D;
import dev.soma.nn.LayerNormalization;
import dev.soma.nn.MultiHeadAttention;
import dev.soma.nn.TokenAndPositionEmbedding;
import dev.soma.nn.TransformerEncoder;

/** Transformer architectures: an encoder classifier, a decoder-only language model, the bench's attn model. */
public final class TransformerModels {
    private TransformerModels() {}

    /** {@link #encoderClassifier(int, int, int, int, int, int, double, int, boolean)} without padding masks. */
    public static Sequential encoderClassifier(int vocabulary, int maxLength, int dim, int heads, int ffDim, int layers,
                                               double dropout, int classes) {
        return encoderClassifier(vocabulary, maxLength, dim, heads, ffDim, layers, dropout, classes, false);
    }

    /**
     * ids [B, T] -> token + position embedding -> {@code layers} pre-norm encoder blocks -> final LayerNorm ->
     * mean over time -> Dense(classes, softmax). With {@code maskZero}, id 0 is padding: the blocks do not attend
     * to it and the mean covers the real steps only, so padding at the end does not change the output.
     */
    public static Sequential encoderClassifier(int vocabulary, int maxLength, int dim, int heads, int ffDim, int layers,
                                               double dropout, int classes, boolean maskZero) {
        Sequential m = new Sequential(new TokenAndPositionEmbedding(vocabulary, maxLength, dim, false, maskZero));
        for (int i = 0; i < layers; i++) m.add(new TransformerEncoder(heads, ffDim, dropout));
        return m.add(new LayerNormalization()).add(new GlobalAveragePooling1D()).add(new Dense(classes, "softmax"));
    }

    /**
     * A decoder-only (GPT-style) language model: ids [B, T] -> token + position embedding -> {@code layers}
     * causal pre-norm blocks -> final LayerNorm -> Dense(vocabulary) logits [B, T, vocabulary] (train with a
     * from-logits sparse cross-entropy over every step).
     */
    public static Sequential decoderLanguageModel(int vocabulary, int maxLength, int dim, int heads, int ffDim,
                                                  int layers, double dropout, boolean sinusoidalPositions) {
        Sequential m = new Sequential(new TokenAndPositionEmbedding(vocabulary, maxLength, dim, sinusoidalPositions));
        for (int i = 0; i < layers; i++) m.add(new TransformerEncoder(heads, ffDim, dropout, true));
        return m.add(new LayerNormalization()).add(new Dense(vocabulary));
    }

    /**
     * The peers' "attn" benchmark model on x [B, 100, 64]: Q, K, V = Dense 64 (with bias) -> softmax(QK^T / 8) V
     * (one head, fused, no output projection) -> mean over time -> Dense(10, softmax).
     */
    public static Sequential attnBench() {
        return attnBench(1, 64);
    }

    /**
     * The same on x [B, T, dim] with {@code heads} heads of dim / heads (Q, K and V each dim -> dim, the heads'
     * outputs concatenated back to dim, no output projection).
     */
    public static Sequential attnBench(int heads, int dim) {
        if (heads <= 0 || dim % heads != 0) {
            throw new IllegalArgumentException("attnBench: dim " + dim + " must be a positive multiple of heads " + heads);
        }
        return new Sequential(new MultiHeadAttention(heads, dim / heads).useOutputProjection(false),
                new GlobalAveragePooling1D(), new Dense(10, "softmax"));
    }
}
