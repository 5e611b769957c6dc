package dev.soma.nn;

import dev.soma.memory.Scope;
import dev.soma.model.FunctionalModel;
import dev.soma.model.Input;
import dev.soma.model.Sequential;
import dev.soma.model.SymbolicTensor;
import dev.soma.ops.Shapes;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.List;
import java.util.SplittableRandom;

import static dev.soma.nn.RecurrentLayersTest.gaussian;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Keras' return_state through the ordinary entry points: {@code applyAll} gives {@code [output, h]} (LSTM
 * {@code [output, h, c]}), functional graphs take the states as separate tensors, {@code apply} and Sequential
 * refuse a layer with several outputs, and building needs no random generator.
 */
@ExtendWith(NoLeaks.class)
class ReturnStateTest {
    static final int N = 2, T = 5, F = 3, U = 4;

    @Test
    void applyAllReturnsOutputAndFinalStates() {
        try (LSTM lstm = new LSTM(U).returnSequences(true).returnState(true);
             GRU gru = new GRU(U).returnState(true);
             SimpleRNN rnn = new SimpleRNN(U).returnState(true).returnSequences(true);
             Scope s = Scope.open()) {
            Tensor x = gaussian(3, N, T, F);
            List<Tensor> l = lstm.applyAll(x, false);   // builds the layer on first use, as apply does
            assertEquals(3, l.size());
            assertArrayEquals(new long[] {N, T, U}, l.get(0).shape());
            assertArrayEquals(new long[] {N, U}, l.get(1).shape());
            assertArrayEquals(new long[] {N, U}, l.get(2).shape());
            // h is the last step of the sequence; c is what callWithState reports.
            assertArrayEquals(Shapes.select(l.get(0), 1, T - 1).toDoubleArray(), l.get(1).toDoubleArray(), 0);
            Tensor[] viaState = lstm.callWithState(x, null, null, false);
            assertArrayEquals(viaState[2].toDoubleArray(), l.get(2).toDoubleArray(), 0);
            List<long[]> shapes = lstm.computeOutputShapes(new long[] {T, F});
            assertEquals(3, shapes.size());
            assertArrayEquals(new long[] {T, U}, shapes.get(0));
            assertArrayEquals(new long[] {U}, shapes.get(2));

            List<Tensor> g = gru.applyAll(x, false);
            assertEquals(2, g.size());
            assertArrayEquals(g.get(0).toDoubleArray(), g.get(1).toDoubleArray(), 0, "last output == h");
            List<Tensor> r = rnn.applyAll(x, false);
            assertEquals(2, r.size());
            assertArrayEquals(new long[] {N, T, U}, r.get(0).shape());

            // apply cannot return three tensors: it says so instead of dropping the states.
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> lstm.apply(x, false));
            assertTrue(e.getMessage().contains("applyAll"), e.getMessage());
        }
    }

    @Test
    void withoutReturnStateApplyAllIsTheSingleOutput() {
        try (LSTM lstm = new LSTM(U); Scope s = Scope.open()) {
            Tensor x = gaussian(4, N, T, F);
            assertEquals(1, lstm.outputCount());
            List<Tensor> all = lstm.applyAll(x, false);
            assertEquals(1, all.size());
            assertArrayEquals(lstm.apply(x, false).toDoubleArray(), all.get(0).toDoubleArray(), 0);
        }
    }

    @Test
    void callWithStateBuildsAnUnbuiltLayerAndChecksTheShape() {
        try (LSTM lstm = new LSTM(U).returnState(true); Scope s = Scope.open()) {
            assertFalse(lstm.isBuilt());
            Tensor[] out = lstm.callWithState(gaussian(5, N, T, F), null, null, false);
            assertTrue(lstm.isBuilt());
            assertArrayEquals(new long[] {T, F}, lstm.inputShape());
            assertEquals(3, out.length);
            assertThrows(dev.soma.errors.ShapeException.class,
                    () -> lstm.callWithState(gaussian(5, N, T, F + 1), null, null, false));
        }
    }

    @Test
    void buildNeedsNoRandomGenerator() {
        try (GRU gru = new GRU(U); Dense dense = new Dense(3); LSTM seeded1 = new LSTM(U); LSTM seeded2 = new LSTM(U)) {
            gru.build(T, F);
            assertTrue(gru.isBuilt());
            assertEquals(DType.F32, gru.params().get(0).value().dtype());
            dense.build(new long[] {7}, DType.F64);
            assertEquals(DType.F64, dense.kernel().dtype());
            // The seeded form is still there and reproducible.
            seeded1.build(new long[] {T, F}, DType.F32, new SplittableRandom(9));
            seeded2.build(new long[] {T, F}, DType.F32, new SplittableRandom(9));
            assertArrayEquals(seeded1.kernel.toDoubleArray(), seeded2.kernel.toDoubleArray(), 0);
            assertThrows(dev.soma.errors.DTypeException.class, () -> new Dense(2).build(new long[] {3}, DType.I32));
        }
    }

    @Test
    void functionalGraphsTakeTheStatesAsTensors() {
        LSTM encoder = new LSTM(U).returnState(true);
        Input in = Input.of(T, F);
        List<SymbolicTensor> outs = in.thenAll(encoder);
        assertEquals(3, outs.size());
        assertArrayEquals(new long[] {U}, outs.get(2).shape());
        Dense head = new Dense(2);
        SymbolicTensor joined = SymbolicTensor.apply(new Concatenate(), outs.get(1), outs.get(2)).then(head);
        try (FunctionalModel model = new FunctionalModel(List.of(in), List.of(joined, outs.get(0)))) {
            model.seed(1);
            String summary = model.summary();
            assertTrue(summary.contains("[(None, 4), (None, 4), (None, 4)]"), summary);
            assertTrue(summary.contains(encoder.name() + "[0][2]"), summary);
            try (Scope s = Scope.open()) {
                Tensor x = gaussian(6, N, T, F).to(DType.F32);
                List<Tensor> y = model.call(List.of(x));
                List<Tensor> direct = encoder.applyAll(x, false);
                Tensor expected = Shapes.concat(-1, direct.get(1), direct.get(2)).matmul(head.kernel()).add(head.bias());
                assertArrayEquals(expected.toFloatArray(), y.get(0).toFloatArray(), 1e-6f);
                assertArrayEquals(direct.get(0).toFloatArray(), y.get(1).toFloatArray(), 0f);
            }
        }
        // The single-output form refuses a layer with several outputs, naming the way that works.
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Input.of(T, F).then(new LSTM(U).returnState(true)));
        assertTrue(e.getMessage().contains("thenAll"), e.getMessage());
    }

    @Test
    void sequentialRefusesALayerWithSeveralOutputs() {
        try (LSTM lstm = new LSTM(U).returnState(true)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Sequential(lstm));
            assertTrue(e.getMessage().contains("FunctionalModel"), e.getMessage());
        }
    }
}
