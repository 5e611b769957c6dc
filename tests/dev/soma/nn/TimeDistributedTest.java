package dev.soma.nn;

import dev.soma.autograd.Gradcheck;
import dev.soma.errors.ShapeException;
import dev.soma.memory.Scope;
import dev.soma.model.Sequential;
import dev.soma.ops.Shapes;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.SplittableRandom;

import static dev.soma.nn.RecurrentLayersTest.gaussian;
import static org.junit.jupiter.api.Assertions.*;

/**
 * TimeDistributed: equals the inner layer applied step by step (Dense on [B, T, F], Conv2D on [B, T, H, W, C]),
 * gradients of inputs and the inner weights in f64, masks pass through, configs and checkpoints, bad input.
 */
@ExtendWith(NoLeaks.class)
class TimeDistributedTest {
    static final int B = 2, T = 3;

    /** The inner layer on each step x[:, t] alone, stacked along axis 1. */
    private static double[] stepByStep(Layer inner, Tensor x) {
        Tensor[] steps = new Tensor[(int) x.size(1)];
        for (int t = 0; t < steps.length; t++) steps[t] = inner.apply(x.select(1, t).contiguous(), false);
        return Shapes.stack(1, steps).toDoubleArray();
    }

    private static void checkAgainstSteps(Layer inner, long[] perExample, long[] expectedOut) {
        try (TimeDistributed td = new TimeDistributed(inner)) {
            td.build(perExample, DType.F64, new SplittableRandom(4));
            assertArrayEquals(expectedOut, td.outputShape());
            assertEquals(inner.params(), td.params());
            assertEquals(2, td.params().size());
            assertEquals(inner.paramCount(), td.paramCount());
            try (Scope s = Scope.open()) {
                long[] full = new long[perExample.length + 1];
                full[0] = B;
                System.arraycopy(perExample, 0, full, 1, perExample.length);
                Tensor x = gaussian(1, full);
                Tensor y = td.apply(x, false);
                long[] outFull = new long[expectedOut.length + 1];
                outFull[0] = B;
                System.arraycopy(expectedOut, 0, outFull, 1, expectedOut.length);
                assertArrayEquals(outFull, y.shape());
                assertArrayEquals(stepByStep(inner, x), y.toDoubleArray(), 1e-12);
                Tensor[] inputs = new Tensor[1 + td.params().size()];
                inputs[0] = x;
                for (int i = 0; i < td.params().size(); i++) inputs[i + 1] = td.params().get(i).value();
                Gradcheck.assertGradients(td.name() + " of " + inner.typeName(), in -> td.apply(in[0], true), inputs);
            }
        }
    }

    @Test
    void denseOnEveryStep() {
        checkAgainstSteps(new Dense(4, "tanh"), new long[] {T, 5}, new long[] {T, 4});
    }

    @Test
    void conv2dOnEveryFrame() {
        checkAgainstSteps(new Conv2D(2, 3, "relu"), new long[] {T, 5, 5, 2}, new long[] {T, 3, 3, 2});
    }

    @Test
    void inputsOfRankBelowThreeNameTheLayerAndShape() {
        try (TimeDistributed td = new TimeDistributed(new Dense(2)); Scope s = Scope.open()) {
            ShapeException e = assertThrows(ShapeException.class, () -> td.apply(Tensor.zeros(B, 4), false));
            assertTrue(e.getMessage().contains(td.name()) && e.getMessage().contains("[4]"), e.getMessage());
            assertFalse(td.isBuilt());
        }
        assertThrows(IllegalArgumentException.class, () -> new TimeDistributed(null));
    }

    @Test
    void masksPassThroughToTheRecurrentLayer() {
        // Same seed, same weights: one model for 3 steps, one for 6 with padding in several places.
        try (Sequential m = new Sequential(new Embedding(10, 4, true), new TimeDistributed(new Dense(5, "tanh")),
                new LSTM(3), new Dense(1));
             Sequential m3 = new Sequential(new Embedding(10, 4, true), new TimeDistributed(new Dense(5, "tanh")),
                     new LSTM(3), new Dense(1))) {
            m.seed(3).build(6);
            m3.seed(3).build(3);
            try (Scope s = Scope.open()) {
                Tensor ids = Tensor.of(RecurrentLayersTest.padded(0, 0), 1, 3);
                Tensor mask = m.layers().get(0).computeMask(ids, null);
                assertSame(mask, m.layers().get(1).computeMask(ids, mask));
                float[] reference = m3.call(ids).toFloatArray();
                for (int[] pad : new int[][] {{3, 0}, {0, 3}, {1, 2}}) {
                    float[] out = m.call(Tensor.of(RecurrentLayersTest.padded(pad[0], pad[1]), 1, 6)).toFloatArray();
                    assertArrayEquals(reference, out, 1e-6f, "padding " + pad[0] + "+" + pad[1]);
                }
            }
        }
    }

    @Test
    void configAndCheckpointRoundTrip(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        try (TimeDistributed td = new TimeDistributed(new Conv2D(3, 2, "relu"))) {
            Layer back = LayerRegistry.create("time_distributed", td.config());
            assertInstanceOf(Conv2D.class, ((TimeDistributed) back).inner());
            assertEquals(td.config(), back.config());
            back.close();
        }
        java.nio.file.Path file = dir.resolve("td.safetensors");
        try (Sequential m = new Sequential(new TimeDistributed(new Dense(4, "relu")), new LSTM(3), new Dense(1))) {
            m.seed(9).compile(new dev.soma.optim.Adam(1e-3), "mse");
            m.build(T, 5);
            m.save(file);
            try (Sequential loaded = Sequential.load(file); Scope s = Scope.open()) {
                Tensor x = gaussian(2, B, T, 5).to(DType.F32);
                assertEquals(m.layers().get(0).config(), loaded.layers().get(0).config());
                assertArrayEquals(m.call(x).toFloatArray(), loaded.call(x).toFloatArray());
            }
        }
    }
}
