package dev.soma.custom;

import dev.soma.autograd.Gradcheck;
import dev.soma.custom.examples.FusedSilu;
import dev.soma.errors.DTypeException;
import dev.soma.errors.ShapeException;
import dev.soma.memory.Scope;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.Reference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.SplittableRandom;

import static dev.soma.custom.CustomOpTest.assertMessage;
import static org.junit.jupiter.api.Assertions.*;

@ExtendWith(NoLeaks.class)
class FusedSiluTest {
    @Test
    void forwardMatchesPlainJavaInFloat32AndTheCompositeOps() {
        SplittableRandom r = new SplittableRandom(3);
        float[] v = new float[3 * 5 * 7];
        for (int i = 0; i < v.length; i++) v[i] = (float) (r.nextGaussian() * 4);
        v[0] = -100; // exp overflow side: silu -> -0
        v[1] = 100;
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(v, 3, 5, 7);
            Tensor y = FusedSilu.silu(x);
            assertArrayEquals(x.shape(), y.shape());
            double[] ref = new double[v.length];
            for (int i = 0; i < v.length; i++) ref[i] = v[i] / (1 + Math.exp(-(double) v[i]));
            Reference.assertClose(Reference.toDouble(y.toFloatArray()), ref, Reference.ELEMENTWISE_F32);
            Reference.assertClose(Reference.toDouble(x.mul(x.sigmoid()).toFloatArray()), ref, Reference.ELEMENTWISE_F32);
        }
    }

    @Test
    void gradientInFloat64() {
        SplittableRandom r = new SplittableRandom(5);
        double[] v = new double[24];
        for (int i = 0; i < v.length; i++) v[i] = r.nextGaussian() * 3;
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(v, 4, 6);
            Gradcheck.assertGradients(FusedSilu.OP, x);
            // through a strided view and a built-in op after it
            Gradcheck.assertGradients("silu of a transpose", xs -> FusedSilu.silu(xs[0].transpose(0, 1)).exp(), x);
        }
    }

    @Test
    void backwardOpMatchesTheClosedForm() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(new float[] {-3, -0.5f, 0, 0.5f, 3}, 5);
            Tensor g = Tensor.of(new float[] {1, 2, -1, 0.5f, 1}, 5);
            float[] dx = FusedSilu.BACKWARD.apply(x, g).toFloatArray();
            float[] xv = x.toFloatArray();
            float[] gv = g.toFloatArray();
            double[] ref = new double[5];
            for (int i = 0; i < 5; i++) {
                double sg = 1 / (1 + Math.exp(-xv[i]));
                ref[i] = gv[i] * (sg + xv[i] * sg * (1 - sg)); // d/dx x*s = s + x*s*(1-s)
            }
            Reference.assertClose(Reference.toDouble(dx), ref, Reference.ELEMENTWISE_F32);
        }
    }

    @Test
    void badInputs() {
        try (Scope s = Scope.open()) {
            Tensor i = Tensor.ofInts(new int[] {1, 2}, 2);
            assertMessage(assertThrows(DTypeException.class, () -> FusedSilu.silu(i)), "silu", "int32");
            Tensor a = Tensor.of(new float[] {1, 2}, 2);
            Tensor b = Tensor.of(new float[] {1, 2, 3}, 3);
            assertMessage(assertThrows(ShapeException.class, () -> FusedSilu.BACKWARD.apply(a, b)), "silu_backward", "[2]", "[3]");
            assertMessage(assertThrows(IllegalArgumentException.class, () -> FusedSilu.OP.apply(a, a)), "silu", "1 input");
        }
    }

    @Test
    void emptyAndZeroDimensionalInputs() {
        try (Scope s = Scope.open()) {
            assertEquals(0, FusedSilu.silu(Tensor.empty(0, 3)).numel());
            assertEquals(2 / (1 + Math.exp(-2)), FusedSilu.silu(Tensor.scalar(2)).item(), 1e-6);
        }
    }
}
