package dev.soma.nn;

import dev.soma.errors.ShapeException;
import dev.soma.ops.Attention;
import dev.soma.ops.Linalg;
import dev.soma.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Multi-head attention as Keras' MultiHeadAttention: query, key and value projections to {@code numHeads}
 * heads of {@code keyDim} (values: {@code valueDim}, default keyDim), the fused
 * {@link Attention#scaledDotProduct} per head (scale 1 / sqrt(keyDim), dropout on the weights), and an output
 * projection back to the query's features (or {@code outputDim}). Inputs are {@code [B, T, F]}.
 *
 * <p>As a plain layer ({@link #apply}, e.g. inside a Sequential) it is self-attention: query = value = key =
 * the input, with the causal mask when {@link #useCausalMask} is set; an incoming Keras mask {@code [B, T]} (from
 * {@code mask_zero}) hides the padded steps as keys (padded queries still attend to the real keys; their outputs
 * are left for the layers downstream to ignore) and is passed on unchanged. {@link #call(Tensor, Tensor, Tensor, Tensor,
 * boolean, boolean)} takes separate query, value and key tensors and an attention mask ({@code [B, S]} key mask
 * or Keras' {@code [B, T, S]}; non-zero = attend). Projection weights are stored as 2-d matrices
 * ({@code [F, heads * dim]}), not Keras' 3-d einsum kernels. Deviation from Keras: a query whose mask hides every
 * key gets a zero output instead of a uniform average. {@link #useOutputProjection(boolean)} (not in Keras)
 * drops the output projection, for models that have none.
 */
public final class MultiHeadAttention extends Layer {
    private final int numHeads;
    private final int keyDim;
    private final int valueDim;
    private boolean useBias = true;
    private boolean outputProjection = true;
    private int outputDim;
    private double dropout;
    private boolean causal;
    private boolean returnScores;
    private long keyFeatures = -1;
    private long valueFeatures = -1;
    private long seed;
    private long calls;
    private Tensor wq, bq, wk, bk, wv, bv, wo, bo;

    public MultiHeadAttention(int numHeads, int keyDim) {
        this(numHeads, keyDim, keyDim);
    }

    public MultiHeadAttention(int numHeads, int keyDim, int valueDim) {
        if (numHeads <= 0 || keyDim <= 0 || valueDim <= 0) {
            throw new IllegalArgumentException("MultiHeadAttention: numHeads, keyDim and valueDim must be > 0, got "
                    + numHeads + ", " + keyDim + ", " + valueDim);
        }
        this.numHeads = numHeads;
        this.keyDim = keyDim;
        this.valueDim = valueDim;
    }

    public MultiHeadAttention useBias(boolean on) {
        this.useBias = on;
        return this;
    }

    /** Dropout rate on the attention weights in training (Keras' {@code dropout}). */
    public MultiHeadAttention dropout(double rate) {
        if (!(rate >= 0 && rate < 1)) throw new IllegalArgumentException("MultiHeadAttention: dropout must be in [0, 1)");
        this.dropout = rate;
        return this;
    }

    /** Features of the output projection (Keras' {@code output_shape}); default: the query's features. */
    public MultiHeadAttention outputDim(int dim) {
        if (dim <= 0) throw new IllegalArgumentException("MultiHeadAttention: outputDim must be > 0");
        this.outputDim = dim;
        return this;
    }

    /** With false, the concatenated heads are returned without the output projection. */
    public MultiHeadAttention useOutputProjection(boolean on) {
        this.outputProjection = on;
        return this;
    }

    /** Causal self-attention when used as a plain layer (Keras' {@code use_causal_mask} of call). */
    public MultiHeadAttention useCausalMask(boolean on) {
        this.causal = on;
        return this;
    }

    /**
     * Keras' {@code return_attention_scores=True} as a layer setting: {@link #applyAll} (and
     * {@code SymbolicTensor.applyAll} in a functional model) returns {@code [output, scores]}, the scores being the
     * attention weights {@code [batch, heads, steps, steps]}; plain {@code apply} then refuses, as it can return one
     * tensor only. Gradients flow through the scores as through the output (a loss may use them): when they are
     * needed, the layer takes the matmul-softmax path instead of the fused kernel (memory quadratic in the steps,
     * as the scores themselves).
     */
    public MultiHeadAttention returnAttentionScores(boolean on) {
        this.returnScores = on;
        return this;
    }

    @Override
    public String typeName() {
        return "multi_head_attention";
    }

    @Override
    public int outputCount() {
        return returnScores ? 2 : 1;
    }

    @Override
    public List<long[]> computeOutputShapes(long[] in) {
        List<long[]> shapes = new ArrayList<>();
        shapes.add(computeOutputShape(in));
        if (returnScores) shapes.add(new long[] {numHeads, in[0], in[0]});
        return shapes;
    }

    @Override
    protected List<Tensor> callAll(Tensor x, Tensor mask, boolean training) {
        if (!returnScores) return List.of(call(x, mask, training));
        Attention.Result r = attend(x, x, x, mask, causal, training, true);
        return List.of(r.output(), r.weights());
    }

    @Override
    public long[] computeOutputShape(long[] in) {
        if (in.length != 2) {
            throw new ShapeException(name() + ": expected query [batch, steps, features], got [batch, " + join(in) + "]");
        }
        long out = outputProjection ? (outputDim > 0 ? outputDim : in[1]) : (long) numHeads * valueDim;
        return new long[] {in[0], out};
    }

    @Override
    protected void createParams(long[] in, SplittableRandom rng) {
        long f = in[1];
        long fk = keyFeatures > 0 ? keyFeatures : (valueFeatures > 0 ? valueFeatures : f);
        long fv = valueFeatures > 0 ? valueFeatures : f;
        long hk = (long) numHeads * keyDim;
        long hv = (long) numHeads * valueDim;
        Initializer glorot = Initializer.glorotUniform();
        Initializer zeros = Initializer.zeros();
        // Keras' fans for the einsum kernels: fan_in = features, fan_out = heads * dim.
        wq = addParam("query/kernel", new long[] {f, hk}, glorot, null, true, f, hk, rng);
        if (useBias) bq = addParam("query/bias", new long[] {hk}, zeros, null, true, f, hk, rng);
        wk = addParam("key/kernel", new long[] {fk, hk}, glorot, null, true, fk, hk, rng);
        if (useBias) bk = addParam("key/bias", new long[] {hk}, zeros, null, true, fk, hk, rng);
        wv = addParam("value/kernel", new long[] {fv, hv}, glorot, null, true, fv, hv, rng);
        if (useBias) bv = addParam("value/bias", new long[] {hv}, zeros, null, true, fv, hv, rng);
        if (outputProjection) {
            long o = outputDim > 0 ? outputDim : f;
            wo = addParam("attention_output/kernel", new long[] {hv, o}, glorot, null, true, hv, o, rng);
            if (useBias) bo = addParam("attention_output/bias", new long[] {o}, zeros, null, true, hv, o, rng);
        }
        seed = rng.nextLong();
    }

    @Override
    protected Tensor call(Tensor x, boolean training) {
        return attend(x, x, x, null, causal, training, false).output();
    }

    /** Self-attention with the input's padding mask {@code [B, T]} as key mask (combined with the causal one). */
    @Override
    protected Tensor call(Tensor x, Tensor mask, boolean training) {
        return attend(x, x, x, mask, causal, training, false).output();
    }

    /** Self-attention keeps the steps: the output has the input's [B, T] mask. */
    @Override
    public Tensor computeMask(Tensor x, Tensor mask) {
        return mask != null && mask.ndim() == 2 ? mask : null;
    }

    /**
     * Keras' {@code call(query, value, key, attention_mask, use_causal_mask, training)}: key may be null (then the
     * value is used), attentionMask may be null. Builds the layer on first use.
     */
    public Tensor call(Tensor query, Tensor value, Tensor key, Tensor attentionMask, boolean useCausalMask,
                       boolean training) {
        return attend(query, value, key, attentionMask, useCausalMask, training, false).output();
    }

    /** As {@link #call(Tensor, Tensor, Tensor, Tensor, boolean, boolean)}, also returning the weights [B, H, T, S]. */
    public Attention.Result callWithScores(Tensor query, Tensor value, Tensor key, Tensor attentionMask,
                                           boolean useCausalMask, boolean training) {
        return attend(query, value, key, attentionMask, useCausalMask, training, true);
    }

    /**
     * Self-attention as {@link #apply} computes it (query = value = key = x, the layer's causal setting, the
     * padding mask {@code [B, T]} or null), also returning the weights {@code [B, H, T, T]}: Keras'
     * {@code return_attention_scores=True}.
     */
    public Attention.Result callWithScores(Tensor x, Tensor mask, boolean training) {
        return attend(x, x, x, mask, causal, training, true);
    }

    private Attention.Result attend(Tensor query, Tensor value, Tensor key, Tensor mask, boolean useCausal,
                                    boolean training, boolean scores) {
        if (key == null) key = value;
        for (Tensor t : new Tensor[] {query, value, key}) {
            t.checkOpen(name());
            if (t.ndim() != 3) throw new ShapeException(name() + ": expected [batch, steps, features] inputs, got " + t.describe());
        }
        if (query.size(0) != value.size(0) || key.size(0) != value.size(0) || key.size(1) != value.size(1)) {
            throw new ShapeException(name() + ": query " + query.describe() + ", value " + value.describe() + " and key "
                    + key.describe() + " must share the batch, and key and value the steps");
        }
        if (!isBuilt()) {
            valueFeatures = value.size(2);
            keyFeatures = key.size(2);
            build(new long[] {query.size(1), query.size(2)}, query.dtype(), new SplittableRandom());
        }
        if (query.size(2) != wq.size(0) || key.size(2) != wk.size(0) || value.size(2) != wv.size(0)) {
            throw new ShapeException(name() + ": built for query/key/value features " + wq.size(0) + "/" + wk.size(0)
                    + "/" + wv.size(0) + ", got " + query.describe() + ", " + key.describe() + ", " + value.describe());
        }
        Tensor q = heads(project(query, wq, bq), keyDim);
        Tensor k = heads(project(key, wk, bk), keyDim);
        Tensor v = heads(project(value, wv, bv), valueDim);
        Attention.Options o = new Attention.Options().causal(useCausal).scale(1.0 / Math.sqrt(keyDim));
        if (mask != null) o.mask(mask);
        if (training && dropout > 0) o.dropout(dropout, seed, ++calls);
        Attention.Result r;
        if (!scores) {
            r = new Attention.Result(Attention.scaledDotProduct(q, k, v, o), null);
        } else if (dev.soma.autograd.GradMode.isEnabled() && (q.requiresGrad() || k.requiresGrad() || v.requiresGrad())) {
            // The fused kernel's weights carry no gradient; returned scores are an output like any other (a loss may
            // use them, as in Keras and PyTorch), so they come from the matmul-softmax path, whose weights do.
            r = Attention.plain(q, k, v, o);
        } else {
            r = Attention.withWeights(q, k, v, o);
        }
        // [B, H, T, Dv] (laid out time-major) -> [B, T, H * Dv]
        Tensor merged = r.output().permute(0, 2, 1, 3).reshape(query.size(0), query.size(1), (long) numHeads * valueDim);
        Tensor out = outputProjection ? project(merged, wo, bo) : merged;
        return new Attention.Result(out, r.weights());
    }

    private static Tensor project(Tensor x, Tensor w, Tensor b) {
        // The bias inside the product where the backend can (no pass of its own over the projection).
        return b == null ? x.matmul(w) : Linalg.matmulBias(x, w, b);
    }

    /** [B, T, H * dim] -> a [B, H, T, dim] view (no copy). */
    private Tensor heads(Tensor x, int dim) {
        return x.reshape(x.size(0), x.size(1), numHeads, dim).permute(0, 2, 1, 3);
    }

    @Override
    public Map<String, Long> randomState() {
        return RandomStates.of("seed", seed, "calls", calls);
    }

    @Override
    public void restoreRandomState(Map<String, Long> state) {
        RandomStates.check(this, state, "seed", "calls");
        seed = state.get("seed");
        calls = state.get("calls");
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("num_heads", numHeads);
        c.put("key_dim", keyDim);
        c.put("value_dim", valueDim);
        c.put("use_bias", useBias);
        c.put("dropout", dropout);
        c.put("output_dim", outputDim);
        c.put("output_projection", outputProjection);
        c.put("use_causal_mask", causal);
        c.put("return_attention_scores", returnScores);
        c.put("key_features", keyFeatures);
        c.put("value_features", valueFeatures);
        return c;
    }

    /** Rebuilds from {@link #config()} (checkpoints). */
    static MultiHeadAttention fromConfig(Map<String, Object> c) {
        MultiHeadAttention m = new MultiHeadAttention(LayerRegistry.intOf(c, "num_heads"), LayerRegistry.intOf(c, "key_dim"),
                LayerRegistry.intOf(c, "value_dim"))
                .useBias(LayerRegistry.boolOf(c, "use_bias"))
                .dropout(LayerRegistry.numOf(c, "dropout"))
                .useOutputProjection(LayerRegistry.boolOf(c, "output_projection"))
                .useCausalMask(LayerRegistry.boolOf(c, "use_causal_mask"));
        int od = LayerRegistry.intOf(c, "output_dim");
        if (od > 0) m.outputDim(od);
        if (c.containsKey("return_attention_scores")) m.returnAttentionScores(LayerRegistry.boolOf(c, "return_attention_scores"));
        m.keyFeatures = LayerRegistry.longOf(c, "key_features");
        m.valueFeatures = LayerRegistry.longOf(c, "value_features");
        return m;
    }

    @Override
    public String toString() {
        return name() + " " + Arrays.toString(outputShape());
    }
}
