package dev.soma.nn;

import dev.soma.errors.ShapeException;
import dev.soma.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A pre-norm Transformer block on {@code [B, T, F]}:
 * {@code h = x + Dropout(MHA(LN(x)))}, {@code y = h + Dropout(Dense_F(Dropout(gelu(Dense_ff(LN(h))))))}.
 * Heads of size {@code F / numHeads}. With {@link #causal} it is a decoder block (each step sees itself and
 * the past). Its mask ({@code [B, T]} key padding mask, e.g. from {@code mask_zero}, or {@code [B, T, T]};
 * non-zero = attend; combined with the causal mask) comes from the layer before in a Sequential or through
 * {@link #call(Tensor, Tensor, boolean)}; a {@code [B, T]} mask is passed on to the layers after.
 */
public final class TransformerEncoder extends CompositeLayer {
    private final int numHeads;
    private final int ffDim;
    private final double dropout;
    private final boolean causal;
    private LayerNormalization norm1;
    private LayerNormalization norm2;
    private MultiHeadAttention attention;
    private Dense ff1;
    private Dense ff2;
    private Dropout drop1;
    private Dropout drop2;
    private Dropout drop3;

    public TransformerEncoder(int numHeads, int ffDim, double dropout) {
        this(numHeads, ffDim, dropout, false);
    }

    public TransformerEncoder(int numHeads, int ffDim, double dropout, boolean causal) {
        if (numHeads <= 0 || ffDim <= 0) throw new IllegalArgumentException("TransformerEncoder: numHeads and ffDim must be > 0");
        if (!(dropout >= 0 && dropout < 1)) throw new IllegalArgumentException("TransformerEncoder: dropout must be in [0, 1)");
        this.numHeads = numHeads;
        this.ffDim = ffDim;
        this.dropout = dropout;
        this.causal = causal;
    }

    @Override
    public String typeName() {
        return "transformer_encoder";
    }

    @Override
    public long[] computeOutputShape(long[] in) {
        if (in.length != 2) {
            throw new ShapeException(name() + ": expected input [batch, steps, features], got [batch, " + join(in) + "]");
        }
        if (in[1] % numHeads != 0) {
            throw new ShapeException(name() + ": features " + in[1] + " are not divisible by " + numHeads + " heads");
        }
        return in;
    }

    @Override
    protected void createParams(long[] in, SplittableRandom rng) {
        int f = Math.toIntExact(in[1]);
        norm1 = child("norm1", new LayerNormalization(), in, rng);
        attention = child("attention", new MultiHeadAttention(numHeads, f / numHeads).dropout(dropout).useCausalMask(causal),
                in, rng);
        norm2 = child("norm2", new LayerNormalization(), in, rng);
        ff1 = child("ff1", new Dense(ffDim, "gelu"), in, rng);
        ff2 = child("ff2", new Dense(f), new long[] {in[0], ffDim}, rng);
        drop1 = child("dropout1", new Dropout(dropout), in, rng);
        drop2 = child("dropout2", new Dropout(dropout), new long[] {in[0], ffDim}, rng);
        drop3 = child("dropout3", new Dropout(dropout), in, rng);
    }

    @Override
    protected Tensor call(Tensor x, boolean training) {
        return block(x, null, training);
    }

    /** The block with a padding / attention mask (null for none). */
    public Tensor call(Tensor x, Tensor mask, boolean training) {
        x.checkOpen(name());
        if (x.ndim() != 3) throw new ShapeException(name() + ": expected [batch, steps, features], got " + x.describe());
        long[] perExample = {x.size(1), x.size(2)};
        if (!isBuilt()) build(perExample, x.dtype(), new SplittableRandom());
        if (!fitsBuiltShape(perExample)) {
            throw new ShapeException(name() + ": built for [batch, " + join(inputShape()) + "], got " + x.describe());
        }
        return block(x, mask, training);
    }

    /**
     * The block's attention weights {@code [B, heads, T, T]} for x (inference mode), as Keras'
     * {@code return_attention_scores}: what {@link #call} attends with, without the rest of the block.
     */
    public Tensor attentionScores(Tensor x, Tensor mask) {
        x.checkOpen(name());
        if (!isBuilt()) throw new IllegalStateException(name() + ": build the layer before asking for its attention scores");
        Tensor n1 = norm1.apply(x, false);
        return attention.callWithScores(n1, n1, n1, mask, causal, false).weights();
    }

    /** Steps are kept: a [B, T] padding mask is passed on (a [B, T, T] attention mask is not a step mask). */
    @Override
    public Tensor computeMask(Tensor x, Tensor mask) {
        return mask != null && mask.ndim() == 2 ? mask : null;
    }

    private Tensor block(Tensor x, Tensor mask, boolean training) {
        Tensor n1 = norm1.apply(x, training);
        Tensor a = attention.call(n1, n1, n1, mask, causal, training);
        Tensor h = x.add(drop1.apply(a, training));
        Tensor n2 = norm2.apply(h, training);
        Tensor f = ff2.apply(drop2.apply(ff1.apply(n2, training), training), training);
        return h.add(drop3.apply(f, training));
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("num_heads", numHeads);
        c.put("ff_dim", ffDim);
        c.put("dropout", dropout);
        c.put("causal", causal);
        return c;
    }
}
