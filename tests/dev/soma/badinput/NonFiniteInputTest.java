package dev.soma.badinput;

import dev.soma.autograd.Anomaly;
import dev.soma.errors.AnomalyException;
import dev.soma.memory.Scope;
import dev.soma.model.Sequential;
import dev.soma.nn.Conv2D;
import dev.soma.nn.Dense;
import dev.soma.nn.Flatten;
import dev.soma.nn.MaxPooling2D;
import dev.soma.ops.Convolution;
import dev.soma.ops.Losses;
import dev.soma.ops.Pooling;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import static dev.soma.badinput.Expect.thrown;
import static org.junit.jupiter.api.Assertions.*;

/**
 * NaN and Inf inputs have defined behaviour: without anomaly mode they propagate as IEEE 754 says (documented in
 * {@link Anomaly}); with it, the first op whose output holds one throws naming itself and its inputs.
 */
@ExtendWith(NoLeaks.class)
class NonFiniteInputTest {
    private static final float NAN = Float.NaN;
    private static final float INF = Float.POSITIVE_INFINITY;

    @Test
    void arithmeticPropagatesNaNAndInf() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(new float[] {1, NAN, INF, -INF});
            float[] y = x.add(1).toFloatArray();
            assertEquals(2f, y[0]);
            assertTrue(Float.isNaN(y[1]));
            assertEquals(INF, y[2]);
            assertEquals(-INF, y[3]);
            assertTrue(Float.isNaN(x.sub(x).toFloatArray()[2]), "Inf - Inf is NaN");
            assertEquals(INF, Tensor.ones(1).div(Tensor.zeros(1)).toFloatArray()[0]);
            assertEquals(-INF, Tensor.zeros(1).log().toFloatArray()[0]);
            assertTrue(Float.isNaN(Tensor.full(-1, 1).sqrt().toFloatArray()[0]));
        }
    }

    @Test
    void recurrentLayersPropagateNaNForEveryCellAndActivation() {
        dev.soma.testing.RecurrentNaN.checkPropagation(Device.cpu());
    }

    @Test
    void reductionsMatmulAndLossesPropagateNaN() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(new float[] {1, 2, NAN, 4}, 2, 2);
            assertTrue(Double.isNaN(x.sum().item()));
            assertTrue(Float.isNaN(x.max(new int[] {1}, false).toFloatArray()[1]), "max propagates NaN");
            assertEquals(0, x.argmax(1, false).toIntArray()[1], "NaN counts as the maximum");
            float[] p = x.matmul(Tensor.ones(2, 1)).toFloatArray();
            assertEquals(3f, p[0]);
            assertTrue(Float.isNaN(p[1]));
            assertTrue(Double.isNaN(Losses.sparseCategoricalCrossEntropy(x, Tensor.ofInts(new int[] {0, 1})).item()));
        }
    }

    @Test
    void softmaxOfLargeFiniteLogitsStaysFinite() {
        try (Scope s = Scope.open()) {
            float[] p = Tensor.of(new float[] {3e38f, 0, -3e38f}).softmax(0).toFloatArray();
            assertArrayEquals(new float[] {1, 0, 0}, p);
        }
    }

    @Test
    void anomalyModeNamesTheOpThatMetANaNInput() {
        try (Anomaly.Guard g = Anomaly.enable(); Scope s = Scope.open()) {
            Tensor x = Tensor.of(new float[] {1, NAN}, 1, 2);
            AnomalyException e = thrown(AnomalyException.class, () -> x.matmul(Tensor.ones(2, 3)), "matmul",
                    "NaN", "float32[1, 2]", "float32[2, 3]", "holds NaN/Inf");
            assertEquals("matmul", e.op());
        }
    }

    @Test
    void anomalyModeNamesTheOpThatMadeAnInf() {
        try (Anomaly.Guard g = Anomaly.enable(); Scope s = Scope.open()) {
            Tensor x = Tensor.of(new float[] {1, 100});
            AnomalyException e = thrown(AnomalyException.class, () -> x.mul(2).exp().log(), "exp", "+Inf",
                    "element 1", "float32[2] on cpu (finite)");
            assertEquals("exp", e.op());
        }
    }

    // ------------------------------------------------------------------ NaN through every op, as PyTorch

    /** A 1x4x4x1 image of ones with one NaN at (1, 1), in {@code dtype}. */
    private static Tensor imageWithNaN(DType dtype) {
        double[] v = new double[16];
        java.util.Arrays.fill(v, 1);
        v[5] = Double.NaN;
        return Tensor.of(v, 1, 4, 4, 1).to(dtype);
    }

    @Test
    void reluKeepsNaNInEveryPath() {
        for (DType dt : new DType[] {DType.F32, DType.F64}) {
            try (Scope s = Scope.open()) {
                Tensor x = imageWithNaN(dt);
                Tensor k = Tensor.ones(dt, Device.cpu(), 1, 1, 1, 1);
                assertTrue(Double.isNaN(x.relu().toDoubleArray()[5]), "relu " + dt);
                double[] fused = Convolution.conv2dRelu(x, k, null, new int[] {1, 1}, "valid", new int[] {1, 1})
                        .toDoubleArray();
                assertTrue(Double.isNaN(fused[5]), "conv2dRelu " + dt + " turned NaN into " + fused[5]);
                assertEquals(1.0, fused[0], "conv2dRelu " + dt);
                assertTrue(Double.isNaN(x.leakyRelu(0.1).toDoubleArray()[5]), "leakyRelu " + dt);
                assertTrue(Double.isNaN(x.clamp(0, 0.5).toDoubleArray()[5]), "clamp " + dt);
            }
        }
    }

    @Test
    void maxPoolingLetsNaNWin() {
        for (DType dt : new DType[] {DType.F32, DType.F64}) {
            try (Scope s = Scope.open()) {
                Tensor x = imageWithNaN(dt);
                double[] y = Pooling.maxPool2d(x, new int[] {2, 2}, null, "valid").toDoubleArray();
                assertTrue(Double.isNaN(y[0]), "maxPool2d " + dt + ": the window holding NaN gave " + y[0]);
                assertEquals(1.0, y[1], "maxPool2d " + dt);
                assertEquals(1.0, y[3], "maxPool2d " + dt);
                double[] same = Pooling.maxPool2d(x, new int[] {3, 3}, new int[] {1, 1}, "same").toDoubleArray();
                for (int i = 0; i < same.length; i++) {
                    boolean windowHoldsNaN = i / 4 <= 2 && i % 4 <= 2;
                    assertEquals(windowHoldsNaN, Double.isNaN(same[i]), "maxPool2d same " + dt + " output " + i);
                }
                assertTrue(Double.isNaN(Pooling.avgPool2d(x, new int[] {2, 2}, null, "valid").toDoubleArray()[0]));
            }
        }
    }

    @Test
    void maxPoolingGradientOfANaNWindowGoesToTheNaN() {
        try (Scope s = Scope.open()) {
            Tensor x = imageWithNaN(DType.F64).setRequiresGrad(true);
            Pooling.maxPool2d(x, new int[] {2, 2}, null, "valid").sum().backward();
            double[] g = x.grad().toDoubleArray();
            assertEquals(1.0, g[5], "the NaN at (1, 1) is its window's maximum");
            assertEquals(0.0, g[0]);
        }
    }

    @Test
    void layersWithReluKeepNaN() {
        for (String layer : new String[] {"dense", "conv"}) {
            try (Sequential m = layer.equals("dense") ? new Sequential(new Flatten(), new Dense(3, "relu"))
                    : new Sequential(new Conv2D(3, 2, "relu"), new MaxPooling2D(2)); Scope s = Scope.open()) {
                m.seed(1).build(4, 4, 1);
                float[] y = m.call(imageWithNaN(DType.F32)).toFloatArray();
                boolean anyNaN = false;
                for (float v : y) anyNaN |= Float.isNaN(v);
                assertTrue(anyNaN, layer + " with relu turned a NaN image into " + java.util.Arrays.toString(y));
            }
        }
    }

    @Test
    void aNaNImageGivesNaNProbabilitiesAndAnomalyModeNamesTheConvolution() {
        try (Sequential m = new Sequential(new Conv2D(4, 3, "relu"), new MaxPooling2D(2), new Flatten(),
                new Dense(3, "softmax"))) {
            m.seed(1).build(4, 4, 1);
            try (Scope s = Scope.open()) {
                float[] p = m.call(imageWithNaN(DType.F32)).toFloatArray();
                for (float v : p) assertTrue(Float.isNaN(v), "plausible probabilities from a NaN image: " + java.util.Arrays.toString(p));
            }
            try (Scope s = Scope.open()) {
                Tensor image = imageWithNaN(DType.F32);
                AnomalyException e;
                try (Anomaly.Guard g = Anomaly.enable()) {
                    e = thrown(AnomalyException.class, () -> m.call(image), "conv2dRelu",
                            "NaN", "holds NaN/Inf");
                }
                // A Sequential runs Conv2D(relu) + MaxPooling2D as one op (ops.ConvolutionPooling): it is the first.
                assertEquals("conv2dReluMaxPool", e.op());
            }
        }
    }
}
