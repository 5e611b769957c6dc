package dev.soma.nn;

import dev.soma.autograd.Gradcheck;
import dev.soma.memory.Scope;
import dev.soma.model.Sequential;
import dev.soma.ops.Losses;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.SplittableRandom;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.*;

/**
 * SimpleRNN, LSTM, GRU, Bidirectional and Embedding as layers: gradients of inputs and every weight in f64,
 * shapes and options (return_sequences, return_state, initial state), Keras initialisation, and masks from
 * Embedding(mask_zero) that make padding invisible to the state and the loss.
 */
@ExtendWith(NoLeaks.class)
class RecurrentLayersTest {
    static final int N = 2, T = 4, F = 3, U = 3;

    static Tensor gaussian(long seed, long... shape) {
        SplittableRandom r = new SplittableRandom(seed);
        int n = (int) dev.soma.ops.Shapes.numel(shape);
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = r.nextGaussian();
        return Tensor.of(v, shape);
    }

    private void checkLayer(Supplier<RecurrentLayer<?>> make) {
        for (boolean seq : new boolean[] {false, true}) {
            try (RecurrentLayer<?> layer = make.get()) {
                layer.returnSequences(seq);
                layer.build(new long[] {T, F}, DType.F64, new SplittableRandom(7));
                try (Scope s = Scope.open()) {
                    Tensor x = gaussian(1, N, T, F);
                    Tensor[] inputs = new Tensor[1 + layer.params().size()];
                    inputs[0] = x;
                    for (int i = 0; i < layer.params().size(); i++) inputs[i + 1] = layer.params().get(i).value();
                    Gradcheck.assertGradients(layer.typeName() + " seq=" + seq, in -> layer.apply(in[0], true), inputs);
                }
            }
        }
    }

    @Test
    void simpleRnnGradients() {
        checkLayer(() -> new SimpleRNN(U));
    }

    @Test
    void lstmGradients() {
        checkLayer(() -> new LSTM(U));
    }

    @Test
    void gruGradients() {
        checkLayer(() -> new GRU(U));
    }

    @Test
    void bidirectionalGradientsAndShapes() {
        for (boolean seq : new boolean[] {false, true}) {
            try (Bidirectional layer = new Bidirectional(new LSTM(U).returnSequences(seq), new LSTM(U).returnSequences(seq))) {
                layer.build(new long[] {T, F}, DType.F64, new SplittableRandom(3));
                assertArrayEquals(seq ? new long[] {T, 2 * U} : new long[] {2 * U}, layer.outputShape());
                try (Scope s = Scope.open()) {
                    Tensor x = gaussian(2, N, T, F);
                    Tensor[] inputs = new Tensor[1 + layer.params().size()];
                    inputs[0] = x;
                    for (int i = 0; i < layer.params().size(); i++) inputs[i + 1] = layer.params().get(i).value();
                    Gradcheck.assertGradients("bidirectional seq=" + seq, in -> layer.apply(in[0], true), inputs);
                }
            }
        }
    }

    @Test
    void returnStateAndInitialState() {
        try (LSTM layer = new LSTM(U)) {
            layer.returnSequences(true).returnState(true);
            layer.build(new long[] {T, F}, DType.F64, new SplittableRandom(5));
            try (Scope s = Scope.open()) {
                Tensor x = gaussian(3, N, T, F);
                Tensor h0 = gaussian(4, N, U);
                Tensor c0 = gaussian(5, N, U);
                Tensor[] out = layer.callWithState(x, null, new Tensor[] {h0, c0}, false);
                assertEquals(3, out.length);
                assertArrayEquals(new long[] {N, T, U}, out[0].shape());
                assertArrayEquals(new long[] {N, U}, out[1].shape());
                assertArrayEquals(new long[] {N, U}, out[2].shape());
                // Running the first half, then the second from the returned states, equals one run.
                Tensor[] first = layer.callWithState(dev.soma.ops.Shapes.slice(x, 1, 0, 2, 1).contiguous(), null,
                        new Tensor[] {h0, c0}, false);
                Tensor[] second = layer.callWithState(dev.soma.ops.Shapes.slice(x, 1, 2, T, 1).contiguous(), null,
                        new Tensor[] {first[1], first[2]}, false);
                assertArrayEquals(out[1].toDoubleArray(), second[1].toDoubleArray(), 1e-12);
                assertArrayEquals(out[2].toDoubleArray(), second[2].toDoubleArray(), 1e-12);
                Gradcheck.assertGradients("lstm initial state", in -> {
                    Tensor[] o = layer.callWithState(in[0], null, new Tensor[] {in[1], in[2]}, true);
                    return o[1].add(o[2].mul(0.5));
                }, x, h0, c0);
            }
        }
    }

    @Test
    void lstmStartsWithForgetBiasOneAndOrthogonalRecurrentKernel() {
        try (LSTM layer = new LSTM(4)) {
            layer.build(new long[] {T, F}, DType.F64, new SplittableRandom(9));
            double[] b = layer.bias.toDoubleArray();
            for (int i = 0; i < 16; i++) assertEquals(i >= 4 && i < 8 ? 1.0 : 0.0, b[i]);
            double[] u = layer.recurrentKernel.toDoubleArray();   // [4, 16]: rows orthonormal
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++) {
                    double dot = 0;
                    for (int k = 0; k < 16; k++) dot += u[i * 16 + k] * u[j * 16 + k];
                    assertEquals(i == j ? 1.0 : 0.0, dot, 1e-12);
                }
        }
    }

    /** Ids with a left (pre) and right (post) padding of zeros around the same three real ids. */
    static float[] padded(int pre, int post) {
        float[] v = new float[pre + 3 + post];
        v[pre] = 5;
        v[pre + 1] = 3;
        v[pre + 2] = 7;
        return v;
    }

    @Test
    void paddingChangesNeitherOutputsNorLoss() {
        for (String kind : new String[] {"lstm", "gru", "simple_rnn", "bidirectional"}) {
            // Same seed, same weights (no weight depends on the sequence length): one model for 3 steps, one for 6.
            try (Sequential m = new Sequential(new Embedding(10, 4, true), layer(kind), new Dense(1));
                 Sequential m3 = new Sequential(new Embedding(10, 4, true), layer(kind), new Dense(1))) {
                m.seed(3).build(6);
                m3.seed(3).build(3);
                try (Scope s = Scope.open()) {
                    float[] reference = m3.call(Tensor.of(padded(0, 0), 1, 3)).toFloatArray();
                    for (int[] pad : new int[][] {{3, 0}, {0, 3}, {1, 2}}) {
                        float[] out = m.call(Tensor.of(padded(pad[0], pad[1]), 1, 6)).toFloatArray();
                        assertArrayEquals(reference, out, 1e-6f, kind + " padding " + pad[0] + "+" + pad[1]);
                    }
                    // The loss does not depend on the padding id's vector: its gradient is exactly zero.
                    Tensor table = ((Embedding) m.layers().get(0)).embeddings();
                    Tensor loss = Losses.meanSquaredError(m.call(Tensor.of(padded(2, 1), 1, 6)), Tensor.ones(1, 1));
                    loss.backward();
                    float[] g = table.grad().toFloatArray();
                    for (int d = 0; d < 4; d++) assertEquals(0f, g[d], kind + ": padding row gradient");
                    assertNotEquals(0f, g[5 * 4], kind + ": a real id's row gets a gradient");
                    for (var p : m.params()) p.value().zeroGrad();
                }
            }
        }
    }

    static Layer layer(String kind) {
        return switch (kind) {
            case "lstm" -> new LSTM(3);
            case "gru" -> new GRU(3);
            case "simple_rnn" -> new SimpleRNN(3);
            default -> new Bidirectional(new LSTM(3), new LSTM(3));
        };
    }

    @Test
    void embeddingTakesFloatOrIntIdsAndRejectsBadOnes() {
        try (Embedding e = new Embedding(5, 2)) {
            e.build(new long[] {3}, DType.F32, new SplittableRandom(1));
            try (Scope s = Scope.open()) {
                float[] a = e.apply(Tensor.of(new float[] {1, 4, 0}, 1, 3), false).toFloatArray();
                float[] b = e.apply(Tensor.ofInts(new int[] {1, 4, 0}, 1, 3), false).toFloatArray();
                assertArrayEquals(a, b);
                assertThrows(dev.soma.errors.ShapeException.class, () -> e.apply(Tensor.ofInts(new int[] {1, 5, 0}, 1, 3), false));
                assertThrows(dev.soma.errors.ShapeException.class, () -> e.apply(Tensor.ofInts(new int[] {1, 2}, 1, 2), false));
            }
        }
    }

    @Test
    void checkpointsRestoreRecurrentModels(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        for (String kind : new String[] {"lstm", "gru", "simple_rnn", "bidirectional"}) {
            java.nio.file.Path file = dir.resolve(kind + ".safetensors");
            try (Sequential m = new Sequential(new Embedding(10, 4, true), layer(kind), new Dense(1, "sigmoid"))) {
                m.seed(5).compile(new dev.soma.optim.Adam(1e-3), "binary_crossentropy");
                m.build(6);
                m.save(file);
                try (Sequential back = Sequential.load(file); Scope s = Scope.open()) {
                    Tensor ids = Tensor.of(padded(2, 1), 1, 6);
                    assertArrayEquals(m.call(ids).toFloatArray(), back.call(ids).toFloatArray(), kind);
                }
            }
        }
    }

    @Test
    void inputDropoutActsInTrainingOnly() {
        try (LSTM plain = new LSTM(U); LSTM dropped = new LSTM(U)) {
            dropped.dropout(0.5);
            plain.build(new long[] {T, F}, DType.F64, new SplittableRandom(8));
            dropped.build(new long[] {T, F}, DType.F64, new SplittableRandom(8));
            try (Scope s = Scope.open()) {
                Tensor x = gaussian(6, N, T, F);
                double[] reference = plain.apply(x, false).toDoubleArray();
                assertArrayEquals(reference, dropped.apply(x, false).toDoubleArray(), 0, "inference ignores dropout");
                double[] a = dropped.apply(x, true).toDoubleArray();
                double[] b = dropped.apply(x, true).toDoubleArray();
                assertFalse(java.util.Arrays.equals(reference, a), "training drops inputs");
                assertFalse(java.util.Arrays.equals(a, b), "a new mask every call");
            }
        }
    }

    @Test
    void unsupportedOptionsSaySo() {
        assertThrows(IllegalArgumentException.class, () -> new LSTM(2).recurrentDropout(1.0));
        assertThrows(IllegalArgumentException.class, () -> new GRU(2).recurrentDropout(-0.1));
        assertThrows(IllegalArgumentException.class, () -> new LSTM(2).activation("softmax"));
        assertThrows(IllegalArgumentException.class, () -> new LSTM(0));
    }
}
