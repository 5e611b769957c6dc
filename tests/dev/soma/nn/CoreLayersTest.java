package dev.soma.nn;

import dev.soma.autograd.GradMode;
import dev.soma.autograd.Gradcheck;
import dev.soma.errors.ShapeException;
import dev.soma.memory.Scope;
import dev.soma.ops.Creation;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** Gradchecks (inputs and weights, f64), shapes and bad inputs of the core layers. */
@ExtendWith(NoLeaks.class)
class CoreLayersTest {
    private static Tensor input(long seed, long... shape) {
        return Creation.normal(seed, 0, 1, DType.F64, dev.soma.tensor.Device.cpu(), shape);
    }

    /** Checks d(loss)/d(input) and d(loss)/d(every weight) of a layer built in f64. */
    private static void gradcheckLayer(Layer layer, Tensor x, boolean training) {
        long[] s = x.shape();
        layer.build(java.util.Arrays.copyOfRange(s, 1, s.length), DType.F64, new SplittableRandom(3));
        List<Tensor> inputs = new ArrayList<>();
        inputs.add(x);
        for (Param p : layer.params()) if (p.trainable()) inputs.add(p.value());
        Gradcheck.assertGradients(layer.name(), xs -> layer.apply(xs[0], training), inputs.toArray(Tensor[]::new));
        for (Param p : layer.params()) p.value().setRequiresGrad(p.trainable());
    }

    @Test
    void denseGradientsAndShapes() {
        try (Scope s = Scope.open(); Dense d = new Dense(5, "tanh"); Dense d3 = new Dense(4)) {
            gradcheckLayer(d, input(1, 3, 6), true);
            assertArrayEquals(new long[] {5}, d.outputShape());
            gradcheckLayer(d3, input(2, 2, 3, 6), true); // Dense acts on the last axis of [B, T, F]
            assertArrayEquals(new long[] {3, 4}, d3.outputShape());
            ShapeException e = assertThrows(ShapeException.class, () -> d.apply(input(3, 3, 7), true));
            assertTrue(e.getMessage().contains(d.name()) && e.getMessage().contains("[3, 7]"), e.getMessage());
        }
    }

    @Test
    void activationsAndTheirGradients() {
        for (String a : new String[] {"relu", "leaky_relu", "tanh", "sigmoid", "softmax", "gelu", "linear"}) {
            try (Scope s = Scope.open(); Activation layer = new Activation(a)) {
                // Inputs away from relu's kink at 0.
                Tensor x = input(4, 4, 5).add(0.01);
                gradcheckLayer(layer, x, true);
            }
        }
        assertThrows(IllegalArgumentException.class, () -> new Activation("swishy"));
    }

    @Test
    void batchNormalizationTrainsOnBatchStatisticsAndInfersOnMovingOnes() {
        try (Scope s = Scope.open(); BatchNormalization checked = new BatchNormalization();
             BatchNormalization inference = new BatchNormalization(); BatchNormalization bn = new BatchNormalization(0.9, 1e-3)) {
            gradcheckLayer(checked, input(5, 8, 3), true);
            gradcheckLayer(inference, input(7, 4, 2), false);
            Tensor x = input(6, 64, 3).mul(2).add(5);
            try (GradMode.Guard g = GradMode.disable()) {
                double[] y = bn.apply(x, true).toDoubleArray();
                for (int c = 0; c < 3; c++) {
                    double mean = 0;
                    for (int i = 0; i < 64; i++) mean += y[i * 3 + c];
                    assertEquals(0, mean / 64, 1e-9, "training output is centred per channel");
                }
                // The moving mean moved 10% of the way towards the batch mean (about 5).
                double[] moving = bn.params().get(2).value().toDoubleArray();
                assertTrue(moving[0] > 0.3 && moving[0] < 0.7, "moving mean " + moving[0]);
            }
        }
    }

    @Test
    void dropoutDropsAtTheRateScalesTheRestAndIsIdentityInInference() {
        try (Scope s = Scope.open(); Dropout d = new Dropout(0.3)) {
            d.build(new long[] {10000}, DType.F32, new SplittableRandom(1));
            Tensor x = Tensor.ones(2, 10000);
            float[] y = d.apply(x, true).toFloatArray();
            int zeros = 0;
            for (float v : y) {
                if (v == 0) zeros++;
                else assertEquals(1 / 0.7, v, 1e-5);
            }
            assertEquals(0.3, zeros / 20000.0, 0.015, "dropped fraction");
            assertArrayEquals(x.toFloatArray(), d.apply(x, false).toFloatArray());
            float[] again = d.apply(x, true).toFloatArray();
            assertFalse(java.util.Arrays.equals(y, again), "each call draws a new mask");
        }
        assertThrows(IllegalArgumentException.class, () -> new Dropout(1.0));
    }

    @Test
    void flattenAndReshape() {
        try (Scope s = Scope.open(); Flatten f = new Flatten(); Reshape r = new Reshape(-1, 4)) {
            gradcheckLayer(f, input(8, 2, 3, 4), true);
            assertArrayEquals(new long[] {12}, f.outputShape());
            gradcheckLayer(r, input(9, 2, 12), true);
            assertArrayEquals(new long[] {3, 4}, r.outputShape());
            try (Reshape bad = new Reshape(5, 5)) {
                ShapeException e = assertThrows(ShapeException.class,
                        () -> bad.build(new long[] {12}, DType.F32, new SplittableRandom(1)));
                assertTrue(e.getMessage().contains(bad.name()), e.getMessage());
            }
        }
    }

    @Test
    void regularizersAddTheirPenalty() {
        try (Scope s = Scope.open(); Dense d = new Dense(3).kernelRegularizer(Regularizer.l1l2(0.01, 0.1));
             Dense d2 = new Dense(2).kernelRegularizer(Regularizer.l2(0.5))) {
            d.build(new long[] {4}, DType.F64, new SplittableRandom(1));
            double[] w = d.kernel().toDoubleArray();
            double expected = 0;
            for (double v : w) expected += 0.01 * Math.abs(v) + 0.1 * v * v;
            assertEquals(expected, d.regularizationLoss().item(), 1e-12);
            gradcheckLayer(d2, input(10, 2, 3), true);
        }
    }

    @Test
    void initializersFollowKerasFormulas() {
        SplittableRandom r = new SplittableRandom(4);
        double[] w = new double[200 * 100];
        Initializer.glorotUniform().fill(w, 200, 100, r);
        double limit = Math.sqrt(6.0 / 300);
        double sq = 0;
        for (double v : w) {
            assertTrue(Math.abs(v) <= limit);
            sq += v * v;
        }
        assertEquals(limit * limit / 3, sq / w.length, limit * limit / 3 * 0.05, "glorot uniform variance");
        Initializer.heNormal().fill(w, 200, 100, r);
        sq = 0;
        for (double v : w) sq += v * v;
        assertEquals(2.0 / 200, sq / w.length, 2.0 / 200 * 0.05, "he normal variance");
        Initializer.zeros().fill(w, 1, 1, r);
        for (double v : w) assertEquals(0, v);
        assertThrows(IllegalArgumentException.class, () -> Initializer.byName("ortho"));
    }
}
