package dev.soma.ops;

import dev.soma.autograd.Gradcheck;
import dev.soma.backend.ElementwiseKernels;
import dev.soma.errors.DTypeException;
import dev.soma.errors.ShapeException;
import dev.soma.errors.SomaException;
import dev.soma.memory.Scope;
import dev.soma.nn.Activations;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.SplittableRandom;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The fused {@code act(y + bias)} op on the CPU: float64 gradients against finite differences, and bit-identity
 * with the unfused composition {@code act(y.add(bias))} forward and backward. Bit-identity is the right bar: the
 * fused kernel runs the same add and the same activation routines (the f32 GELU's 8-lane path included, on the
 * same elements), only without the trip through memory in between.
 */
@ExtendWith(NoLeaks.class)
class BiasActivationTest {
    private static final double ALPHA = Activations.LEAKY_RELU_ALPHA;
    private final SplittableRandom random = new SplittableRandom();

    static Tensor fused(Tensor y, Tensor bias, ElementwiseKernels.BiasActivation act) {
        return BiasActivation.apply(y, bias, act, ALPHA);
    }

    /** The unfused reference: add, then the layer's activation by its Keras name. */
    static Tensor composed(Tensor y, Tensor bias, ElementwiseKernels.BiasActivation act) {
        Tensor z = y.add(bias);
        return switch (act) {
            case LINEAR -> z;
            case RELU -> z.relu();
            case LEAKY_RELU -> z.leakyRelu(ALPHA);
            case SIGMOID -> z.sigmoid();
            case TANH -> z.tanh();
            case GELU -> z.gelu();
        };
    }

    /**
     * y and bias in float64 with {@code |y + bias| >= 0.3} for relu and leaky relu (away from the kink, where
     * finite differences are meaningless).
     */
    private Tensor[] inputs(ElementwiseKernels.BiasActivation act, long rows, long cols) {
        double[] b = new double[(int) cols];
        double[] y = new double[(int) (rows * cols)];
        for (int i = 0; i < b.length; i++) b[i] = random.nextGaussian();
        boolean kink = act == ElementwiseKernels.BiasActivation.RELU
                || act == ElementwiseKernels.BiasActivation.LEAKY_RELU;
        for (int i = 0; i < y.length; i++) {
            double z = random.nextGaussian();
            if (kink) z = Math.copySign(0.3 + Math.abs(z), z);
            y[i] = z - b[(int) (i % cols)];
        }
        return new Tensor[] {Tensor.of(y, rows, cols), Tensor.of(b, cols)};
    }

    @ParameterizedTest
    @EnumSource(ElementwiseKernels.BiasActivation.class)
    void gradientsMatchFiniteDifferences(ElementwiseKernels.BiasActivation act) {
        try (Scope s = Scope.open()) {
            Tensor[] in = inputs(act, 6, 5);
            Gradcheck.assertGradients("biasActivation " + act, xs -> fused(xs[0], xs[1], act), in[0], in[1]);
            // [B, T, F] input: the bias runs along the last axis, its gradient sums over B and T.
            Gradcheck.assertGradients("biasActivation rank 3 " + act,
                    xs -> fused(xs[0].reshape(2, 3, 5), xs[1], act), in[0], in[1]);
            // A strided (transposed) y: the op copies it once for the kernel.
            Tensor[] t = inputs(act, 4, 3);
            Tensor yt = t[0].transpose(0, 1).contiguous();   // [3, 4], viewed back as [4, 3] below
            Gradcheck.assertGradients("biasActivation transposed " + act,
                    xs -> fused(xs[0].transpose(0, 1), xs[1], act), yt, t[1]);
            // One side only, and a 1-D y (the bias gradient then has y's shape).
            Gradcheck.assertGradients("biasActivation y only " + act, xs -> fused(xs[0], in[1], act), in[0]);
            Gradcheck.assertGradients("biasActivation bias only " + act, xs -> fused(in[0], xs[0], act), in[1]);
            Tensor[] v = inputs(act, 1, 7);
            Gradcheck.assertGradients("biasActivation 1-D " + act,
                    xs -> fused(xs[0].reshape(7), xs[1], act), v[0], v[1]);
        }
    }

    /** Shapes: tiny, odd, one row, and big enough to split over threads with a ragged last chunk (37000). */
    private static final long[][] SHAPES = {{1, 1}, {3, 5}, {7, 13}, {1, 33}, {2, 3, 17}, {1000, 37}, {257, 64}};

    @ParameterizedTest
    @EnumSource(ElementwiseKernels.BiasActivation.class)
    void bitIdenticalToTheUnfusedComposition(ElementwiseKernels.BiasActivation act) {
        for (DType dtype : new DType[] {DType.F32, DType.F64}) {
            for (long[] shape : SHAPES) {
                try (Scope s = Scope.open()) {
                    long cols = shape[shape.length - 1];
                    Tensor y = Tensor.randn(random.nextLong(), shape).mul(2.0).to(dtype);
                    Tensor bias = Tensor.randn(random.nextLong(), cols).to(dtype);
                    Tensor w = Tensor.randn(random.nextLong(), shape).to(dtype);   // the upstream gradient
                    Function<Function<Tensor[], Tensor>, double[][]> run = f -> {
                        Tensor yy = y.detach().setRequiresGrad(true);
                        Tensor bb = bias.detach().setRequiresGrad(true);
                        Tensor out = f.apply(new Tensor[] {yy, bb});
                        out.backward(w);
                        return new double[][] {out.toDoubleArray(), yy.grad().toDoubleArray(), bb.grad().toDoubleArray()};
                    };
                    double[][] f = run.apply(xs -> fused(xs[0], xs[1], act));
                    double[][] c = run.apply(xs -> composed(xs[0], xs[1], act));
                    String what = act + " " + dtype + " " + java.util.Arrays.toString(shape);
                    assertArrayEquals(c[0], f[0], 0.0, what + " forward");
                    assertArrayEquals(c[1], f[1], 0.0, what + " dy");
                    assertArrayEquals(c[2], f[2], 0.0, what + " dbias");
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(ElementwiseKernels.BiasActivation.class)
    void nanPropagates(ElementwiseKernels.BiasActivation act) {
        try (Scope s = Scope.open()) {
            for (DType dtype : new DType[] {DType.F32, DType.F64}) {
                Tensor y = Tensor.of(new double[] {Double.NaN, 1, -1, 2, Double.NaN, -3}, 2, 3).to(dtype);
                Tensor bias = Tensor.of(new double[] {0.5, Double.NaN, 0.25}).to(dtype);
                double[] out = fused(y, bias, act).toDoubleArray();
                double[] ref = composed(y, bias, act).toDoubleArray();
                for (int i : new int[] {0, 1, 4}) assertTrue(Double.isNaN(out[i]), act + " " + dtype + " at " + i);
                assertArrayEquals(ref, out, 0.0, act + " " + dtype);
            }
        }
    }

    @Test
    void zeroRowsGiveAnEmptyResult() {
        try (Scope s = Scope.open()) {
            Tensor y = Tensor.zeros(DType.F32, dev.soma.tensor.Device.cpu(), 0, 4);
            Tensor out = fused(y, Tensor.zeros(DType.F32, dev.soma.tensor.Device.cpu(), 4),
                    ElementwiseKernels.BiasActivation.GELU);
            assertArrayEquals(new long[] {0, 4}, out.shape());
        }
    }

    @Test
    void badInputIsRejectedInJavaWithAClearMessage() {
        try (Scope s = Scope.open()) {
            Tensor y = Tensor.randn(1, 2, 4);
            ShapeException shape = assertThrows(ShapeException.class,
                    () -> fused(y, Tensor.randn(2, 3), ElementwiseKernels.BiasActivation.RELU));
            assertMessage(shape, "biasActivation", "[3]", "[2, 4]", "[4]", "float32", "cpu");
            ShapeException rank = assertThrows(ShapeException.class,
                    () -> fused(y, Tensor.randn(2, 1, 4), ElementwiseKernels.BiasActivation.RELU));
            assertMessage(rank, "biasActivation", "[1, 4]", "[2, 4]", "expected a bias of shape [4]");
            ShapeException scalar = assertThrows(ShapeException.class,
                    () -> fused(Tensor.randn(3, 4).sum(), Tensor.randn(2, 1), ElementwiseKernels.BiasActivation.TANH));
            assertMessage(scalar, "biasActivation", "scalar");
            DTypeException dtype = assertThrows(DTypeException.class,
                    () -> fused(y, Tensor.randn(2, 4).to(DType.F64), ElementwiseKernels.BiasActivation.SIGMOID));
            assertMessage(dtype, "biasActivation", "float32[2, 4]", "float64[4]");
            DTypeException integer = assertThrows(DTypeException.class, () -> fused(y.to(DType.I32),
                    Tensor.randn(2, 4).to(DType.I32), ElementwiseKernels.BiasActivation.RELU));
            assertMessage(integer, "biasActivation", "int32", "expected float32 or float64");
            SomaException alpha = assertThrows(SomaException.class, () -> BiasActivation.apply(y,
                    Tensor.randn(2, 4), ElementwiseKernels.BiasActivation.LEAKY_RELU, Double.NaN));
            assertMessage(alpha, "biasActivation", "alpha", "NaN");
            assertThrows(NullPointerException.class, () -> BiasActivation.apply(y, Tensor.randn(2, 4), null, 0));
            Tensor closed = Tensor.randn(3, 4);
            closed.close();
            assertThrows(SomaException.class, () -> fused(y, closed, ElementwiseKernels.BiasActivation.GELU));
        }
    }

    static void assertMessage(Exception e, String... parts) {
        for (String p : parts) assertTrue(e.getMessage().contains(p), () -> "'" + p + "' missing in: " + e.getMessage());
    }
}
