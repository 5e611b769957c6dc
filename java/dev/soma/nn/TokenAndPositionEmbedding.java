package dev.soma.nn;

import dev.soma.autograd.GradMode;
import dev.soma.errors.ShapeException;
import dev.soma.ops.Embeddings;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Token ids {@code [B, T]} (int32, or float holding whole numbers) to {@code [B, T, dim]}: a learned token
 * embedding plus a position embedding for positions 0..T-1 (T <= maxLength), either learned (as keras-hub's
 * TokenAndPositionEmbedding) or the fixed sinusoidal table of "Attention is all you need"
 * ({@code PE[p, 2i] = sin(p / 10000^(2i/dim))}, {@code PE[p, 2i+1] = cos(...)}; stored as a non-trainable weight).
 * Built by a Sequential with the model's float dtype; when used alone, build it with a float dtype first.
 * With {@code maskZero} (Keras' {@code mask_zero}), id 0 is padding: the layer emits a {@code [B, T]} mask
 * (1 where id != 0) that the encoder blocks use as a key padding mask and the pooling uses for its mean.
 * Positions stay absolute (as keras-hub): padding at the end leaves the real steps' positions unchanged.
 */
public final class TokenAndPositionEmbedding extends Layer {
    private final int vocabulary;
    private final int maxLength;
    private final int dim;
    private final boolean sinusoidal;
    private final boolean maskZero;
    private Tensor tokens;
    private Tensor positions;

    /** Learned positions. */
    public TokenAndPositionEmbedding(int vocabulary, int maxLength, int dim) {
        this(vocabulary, maxLength, dim, false);
    }

    public TokenAndPositionEmbedding(int vocabulary, int maxLength, int dim, boolean sinusoidal) {
        this(vocabulary, maxLength, dim, sinusoidal, false);
    }

    public TokenAndPositionEmbedding(int vocabulary, int maxLength, int dim, boolean sinusoidal, boolean maskZero) {
        if (vocabulary <= 0 || maxLength <= 0 || dim <= 0) {
            throw new IllegalArgumentException("TokenAndPositionEmbedding: vocabulary, maxLength and dim must be > 0");
        }
        this.vocabulary = vocabulary;
        this.maxLength = maxLength;
        this.dim = dim;
        this.sinusoidal = sinusoidal;
        this.maskZero = maskZero;
    }

    @Override
    public String typeName() {
        return "token_and_position_embedding";
    }

    @Override
    public long[] computeOutputShape(long[] in) {
        if (in.length != 1 || in[0] > maxLength) {
            throw new ShapeException(name() + ": expected ids [batch, steps] with steps <= " + maxLength + ", got [batch, "
                    + join(in) + "]");
        }
        return new long[] {in[0], dim};
    }

    @Override
    protected void createParams(long[] in, SplittableRandom rng) {
        if (!dtype().isFloating()) {
            throw new ShapeException(name() + ": build with a float dtype (the ids' dtype is not the weights' dtype)");
        }
        // Keras' Embedding default: uniform(-0.05, 0.05).
        tokens = addParam("token_embedding", new long[] {vocabulary, dim}, Initializer.randomUniform(-0.05, 0.05), null,
                true, vocabulary, dim, rng);
        if (sinusoidal) {
            positions = addParam("position_encoding", new long[] {maxLength, dim}, (out, fi, fo, r) -> sinusoid(out),
                    null, false, maxLength, dim, rng);
        } else {
            positions = addParam("position_embedding", new long[] {maxLength, dim}, Initializer.randomUniform(-0.05, 0.05),
                    null, true, maxLength, dim, rng);
        }
    }

    private void sinusoid(double[] out) {
        for (int p = 0; p < maxLength; p++) {
            for (int i = 0; i < dim; i++) {
                double angle = p / Math.pow(10000, (2 * (i / 2)) / (double) dim);
                out[p * dim + i] = i % 2 == 0 ? Math.sin(angle) : Math.cos(angle);
            }
        }
    }

    @Override
    protected Tensor call(Tensor x, boolean training) {
        long steps = x.size(1);
        if (steps > maxLength) {
            throw new ShapeException(name() + ": " + steps + " steps in " + x.describe() + " exceed the " + maxLength
                    + " positions it was built for");
        }
        Tensor tok = Embeddings.embedding(ids(x), tokens);
        Tensor pos = positions.slice(0, 0, steps, 1);
        return tok.add(pos);
    }

    /** With maskZero: 1 where the id is not 0, in the weights' dtype, {@code [B, T]}; else null. */
    @Override
    public Tensor computeMask(Tensor x, Tensor mask) {
        if (!maskZero) return null;
        try (GradMode.Guard off = GradMode.disable()) {
            Tensor ids = ids(x);
            try (Tensor zero = Tensor.zeros(DType.I32, ids.device()); Tensor nonZero = ids.ne(zero)) {
                return nonZero.to(dtype());
            } finally {
                if (ids != x) ids.close();
            }
        }
    }

    private static Tensor ids(Tensor x) {
        if (x.dtype() == DType.I32) return x;
        try (GradMode.Guard off = GradMode.disable()) {
            return x.to(DType.I32);
        }
    }

    public boolean maskZero() {
        return maskZero;
    }

    public Tensor tokenEmbedding() {
        return tokens;
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("vocabulary", vocabulary);
        c.put("max_length", maxLength);
        c.put("dim", dim);
        c.put("sinusoidal", sinusoidal);
        c.put("mask_zero", maskZero);
        return c;
    }
}
