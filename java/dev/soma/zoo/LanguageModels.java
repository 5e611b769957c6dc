package dev.soma.zoo;

import dev.soma.model.Sequential;
import dev.soma.nn.Dense;
import dev.soma.nn.Embedding;
import dev.soma.nn.LSTM;
import dev.soma.nn.LayerNormalization;
import dev.soma.nn.TokenAndPositionEmbedding;
import dev.soma.nn.TransformerEncoder;

import java.util.List;

/**
 * Character-level language models for {@code soma train charlm}: ids [B, T] in, next-character probabilities
 * [B, T, characters] out (the final softmax is folded into the cross-entropy during training).
 */
public final class LanguageModels {
    private LanguageModels() {}

    public static List<String> charNames() {
        return List.of("lstm", "transformer");
    }

    public static Sequential character(String arch, int characters, int context) {
        return switch (arch) {
            case "lstm" -> charLstm(characters, 64, 256);
            // No dropout: an epoch or two over 4 M characters does not overfit, and dropout slows learning.
            case "transformer" -> charTransformer(characters, context, 128, 4, 512, 4, 0.0);
            default -> throw new IllegalArgumentException("charlm: unknown --arch '" + arch + "': expected one of " + charNames());
        };
    }

    /** Embedding(characters, embed) -> LSTM(units, return_sequences) -> Dense(characters, softmax) at every step. */
    public static Sequential charLstm(int characters, int embed, int units) {
        return new Sequential(new Embedding(characters, embed), new LSTM(units).returnSequences(true),
                new Dense(characters, "softmax"));
    }

    /**
     * A decoder-only (GPT-style) model: token + learned position embedding -> {@code layers} causal pre-norm blocks
     * (gelu feed-forward) -> LayerNorm -> Dense(characters, softmax).
     */
    public static Sequential charTransformer(int characters, int context, int dim, int heads, int ffDim, int layers,
                                             double dropout) {
        Sequential m = new Sequential(new TokenAndPositionEmbedding(characters, context, dim));
        for (int i = 0; i < layers; i++) m.add(new TransformerEncoder(heads, ffDim, dropout, true));
        return m.add(new LayerNormalization()).add(new Dense(characters, "softmax"));
    }
}
