package dev.soma.nn;

import dev.soma.errors.DTypeException;
import dev.soma.errors.ShapeException;
import dev.soma.ops.Embeddings;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Turns integer ids {@code [batch, ...]} into vectors {@code [batch, ..., outputDim]}, as Keras' Embedding. Ids
 * may come as int32 or as whole-number floats (how {@link dev.soma.data.Batch} carries features). With
 * {@code maskZero}, id 0 is padding: the layer emits a mask (1 where id != 0) that recurrent layers downstream
 * honour, so padded steps change neither their state nor the loss.
 */
public final class Embedding extends Layer {
    private final int inputDim;
    private final int outputDim;
    private final boolean maskZero;
    private Initializer initializer = Initializer.randomUniform(-0.05, 0.05);
    private Tensor embeddings;

    public Embedding(int inputDim, int outputDim) {
        this(inputDim, outputDim, false);
    }

    public Embedding(int inputDim, int outputDim, boolean maskZero) {
        if (inputDim <= 0 || outputDim <= 0) {
            throw new IllegalArgumentException("Embedding: input_dim and output_dim must be > 0, got " + inputDim + ", " + outputDim);
        }
        this.inputDim = inputDim;
        this.outputDim = outputDim;
        this.maskZero = maskZero;
    }

    public Embedding embeddingsInitializer(Initializer init) {
        this.initializer = init;
        return this;
    }

    @Override
    public String typeName() {
        return "embedding";
    }

    @Override
    public long[] computeOutputShape(long[] in) {
        long[] out = java.util.Arrays.copyOf(in, in.length + 1);
        out[in.length] = outputDim;
        return out;
    }

    @Override
    protected void createParams(long[] in, SplittableRandom rng) {
        embeddings = addParam("embeddings", new long[] {inputDim, outputDim}, initializer, null, true, inputDim, outputDim, rng);
    }

    @Override
    protected Tensor call(Tensor x, boolean training) {
        dev.soma.privacy.GhostTape tape = dev.soma.privacy.GhostTape.active();
        if (tape != null && training) return tape.embedding(ids(x), embeddings); // DP-SGD ghost norms
        return Embeddings.embedding(ids(x), embeddings);
    }

    @Override
    public Tensor computeMask(Tensor x, Tensor mask) {
        if (!maskZero) return null;
        Tensor ids = ids(x);
        Tensor nonZero = ids.ne(Tensor.zeros(DType.I32, ids.device()));
        return nonZero.to(dtype());
    }

    /** The ids as int32 (a cast of float ids, which must be whole numbers). */
    private Tensor ids(Tensor x) {
        if (x.dtype() == DType.I32) return x;
        if (!x.dtype().isFloating()) throw new ShapeException(name() + ": ids " + x.describe() + " must be int32 or float");
        // The cast would truncate 2.7 to 2 and turn NaN into 0: refuse instead (the op reads the ids back anyway
        // for its range check, so this costs one more host read of float ids only).
        double[] v = x.toDoubleArray();
        for (int i = 0; i < v.length; i++) {
            if (v[i] != Math.rint(v[i])) {
                throw new DTypeException(name() + ": id " + v[i] + " at flat index " + i + " of " + x.describe()
                        + " is not a whole number; ids are int32, or floats such as 2.0");
            }
        }
        return x.to(DType.I32);
    }

    public Tensor embeddings() {
        return embeddings;
    }

    public boolean maskZero() {
        return maskZero;
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("input_dim", inputDim);
        c.put("output_dim", outputDim);
        c.put("mask_zero", maskZero);
        return c;
    }
}
