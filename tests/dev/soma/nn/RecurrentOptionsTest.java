package dev.soma.nn;

import dev.soma.autograd.Gradcheck;
import dev.soma.memory.Scope;
import dev.soma.model.Sequential;
import dev.soma.ops.Recurrent;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Supplier;

import static dev.soma.nn.RecurrentLayersTest.gaussian;
import static org.junit.jupiter.api.Assertions.*;

/**
 * recurrent_dropout (training only, one mask per sequence, rate 0 unchanged) and GRU reset_after=False as layers:
 * gradients, shapes, configs and checkpoints. The op-level equations are in dev.soma.ops.Recurrent*Test.
 */
@ExtendWith(NoLeaks.class)
class RecurrentOptionsTest {
    static final int N = 2, T = 4, F = 3, U = 3;

    static final Map<String, Supplier<RecurrentLayer<?>>> KINDS = Map.of(
            "simple_rnn", () -> new SimpleRNN(U), "lstm", () -> new LSTM(U), "gru", () -> new GRU(U),
            "gru_reset_before", () -> new GRU(U).resetAfter(false));

    @Test
    void recurrentDropoutActsInTrainingOnlyWithOneMaskPerSequence() {
        for (var kind : KINDS.entrySet()) {
            try (RecurrentLayer<?> plain = kind.getValue().get(); RecurrentLayer<?> dropped = kind.getValue().get();
                 RecurrentLayer<?> zero = kind.getValue().get()) {
                dropped.recurrentDropout(0.5).returnSequences(true);
                plain.returnSequences(true);
                zero.recurrentDropout(0.0).returnSequences(true);
                for (RecurrentLayer<?> l : new RecurrentLayer<?>[] {plain, dropped, zero}) {
                    l.build(new long[] {T, F}, DType.F64, new SplittableRandom(8));
                }
                String k = kind.getKey();
                try (Scope s = Scope.open()) {
                    Tensor x = gaussian(6, N, T, F);
                    double[] inference = plain.apply(x, false).toDoubleArray();
                    assertArrayEquals(inference, dropped.apply(x, false).toDoubleArray(), 0, k + ": inference ignores it");
                    assertArrayEquals(plain.apply(x, true).toDoubleArray(), zero.apply(x, true).toDoubleArray(), 0,
                            k + ": rate 0 is bit-identical");
                    double[] trained = dropped.apply(x, true).toDoubleArray();
                    assertFalse(java.util.Arrays.equals(inference, trained), k + ": training drops recurrent units");
                    // The layer's first training call used mask number 1: the op with that mask gives the same.
                    Tensor mask = dropped.recurrentKeepMask(x, 1);
                    assertArrayEquals(new long[] {N, U}, mask.shape());
                    for (double v : mask.toDoubleArray()) assertTrue(v == 0 || v == 2, k + ": multiplier " + v);
                    double[] viaOp = Recurrent.run(dropped.cell(), "tanh", "sigmoid", false, false, x, dropped.kernel,
                            dropped.recurrentKernel, dropped.bias, null, null, null, mask).toDoubleArray();
                    assertArrayEquals(viaOp, trained, 0, k);
                    assertFalse(java.util.Arrays.equals(trained, dropped.apply(x, true).toDoubleArray()),
                            k + ": a new mask every call");
                }
            }
        }
    }

    @Test
    void gruResetBeforeHasOneBiasAndGradients() {
        for (boolean seq : new boolean[] {false, true}) {
            try (GRU layer = new GRU(U).resetAfter(false)) {
                layer.returnSequences(seq);
                layer.build(new long[] {T, F}, DType.F64, new SplittableRandom(7));
                assertArrayEquals(new long[] {3 * U}, layer.bias.shape());
                assertEquals(3L * U * (F + U + 1), layer.paramCount());
                assertThrows(IllegalStateException.class, () -> layer.resetAfter(true));
                try (Scope s = Scope.open()) {
                    Tensor x = gaussian(1, N, T, F);
                    Tensor[] inputs = new Tensor[1 + layer.params().size()];
                    inputs[0] = x;
                    for (int i = 0; i < layer.params().size(); i++) inputs[i + 1] = layer.params().get(i).value();
                    Gradcheck.assertGradients("gru reset_before seq=" + seq, in -> layer.apply(in[0], true), inputs);
                }
            }
        }
    }

    @Test
    void configsRoundTrip() {
        try (GRU g = new GRU(U).resetAfter(false); LSTM l = new LSTM(U)) {
            g.recurrentDropout(0.25);
            l.recurrentDropout(0.1).returnSequences(true);
            GRU g2 = (GRU) LayerRegistry.create("gru", g.config());
            LSTM l2 = (LSTM) LayerRegistry.create("lstm", l.config());
            assertFalse(g2.isResetAfter());
            assertEquals(0.25, g2.recurrentDropout);
            assertEquals(0.1, l2.recurrentDropout);
            assertEquals(g.config(), g2.config());
            assertEquals(l.config(), l2.config());
            // Configs written before these options existed still load (reset_after=True, no recurrent dropout).
            Map<String, Object> old = new java.util.LinkedHashMap<>(g.config());
            old.remove("reset_after");
            old.remove("recurrent_dropout");
            GRU g3 = (GRU) LayerRegistry.create("gru", old);
            assertTrue(g3.isResetAfter());
            assertEquals(0.0, g3.recurrentDropout);
        }
    }

    @Test
    void checkpointsRestoreResetBeforeAndRecurrentDropout(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        java.util.List<Supplier<Layer>> kinds = java.util.List.of(() -> new GRU(3).resetAfter(false).recurrentDropout(0.2),
                () -> new Bidirectional(new GRU(3).resetAfter(false), new GRU(3).resetAfter(false)),
                () -> new LSTM(3).recurrentDropout(0.3));
        for (int i = 0; i < kinds.size(); i++) {
            java.nio.file.Path file = dir.resolve("m" + i + ".safetensors");
            try (Sequential m = new Sequential(new Embedding(10, 4, true), kinds.get(i).get(), new Dense(1, "sigmoid"))) {
                m.seed(5).compile(new dev.soma.optim.Adam(1e-3), "binary_crossentropy");
                m.build(6);
                m.save(file);
                try (Sequential back = Sequential.load(file); Scope s = Scope.open()) {
                    assertEquals(m.layers().get(1).config(), back.layers().get(1).config());
                    Tensor ids = Tensor.of(RecurrentLayersTest.padded(2, 1), 1, 6);
                    assertArrayEquals(m.call(ids).toFloatArray(), back.call(ids).toFloatArray(), "layer " + i);
                }
            }
        }
    }
}
