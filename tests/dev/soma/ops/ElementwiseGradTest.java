package dev.soma.ops;

import dev.soma.autograd.Gradcheck;
import dev.soma.memory.Scope;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.SplittableRandom;
import java.util.function.DoubleUnaryOperator;

import static org.junit.jupiter.api.Assertions.*;

/** Backward rules of the element-wise ops against finite differences in float64, broadcasting included. */
@ExtendWith(NoLeaks.class)
class ElementwiseGradTest {
    private final SplittableRandom random = new SplittableRandom(42);

    /** A float64 tensor of the shape with values from {@code f(gaussian)}. */
    private Tensor input(DoubleUnaryOperator f, long... shape) {
        double[] v = new double[(int) Shapes.numel(shape)];
        for (int i = 0; i < v.length; i++) v[i] = f.applyAsDouble(random.nextGaussian());
        Tensor t = Tensor.of(v, shape.length == 0 ? new long[] {1} : shape);
        return shape.length == 0 ? t.reshape() : t;
    }

    private Tensor any(long... shape) {
        return input(g -> g, shape);
    }

    /** Values with |x| >= 0.3: away from the kinks of relu, abs, leakyRelu at 0. */
    private Tensor awayFromZero(long... shape) {
        return input(g -> Math.copySign(0.3 + Math.abs(g), g), shape);
    }

    private Tensor positive(long... shape) {
        return input(g -> 0.5 + Math.abs(g), shape);
    }

    @Test
    void binaryArithmeticSameShapeAndBroadcast() {
        long[][][] layouts = {{{3, 4}, {3, 4}}, {{3, 1}, {1, 4}}, {{2, 3, 4}, {4}}, {{3, 4}, {}}, {{4}, {2, 3, 4}}};
        try (Scope s = Scope.open()) {
            for (long[][] l : layouts) {
                Tensor a = any(l[0]);
                Tensor b = any(l[1]);
                Tensor nz = awayFromZero(l[1]);
                Gradcheck.assertGradients("add", xs -> xs[0].add(xs[1]), a, b);
                Gradcheck.assertGradients("sub", xs -> xs[0].sub(xs[1]), a, b);
                Gradcheck.assertGradients("mul", xs -> xs[0].mul(xs[1]), a, b);
                Gradcheck.assertGradients("div", xs -> xs[0].div(xs[1]), a, nz);
                Gradcheck.assertGradients("pow", xs -> xs[0].pow(xs[1]), positive(l[0]), any(l[1]));
                // maximum/minimum: distinct values (no ties), including broadcast
                Gradcheck.assertGradients("maximum", xs -> Elementwise.maximum(xs[0], xs[1]), a, b);
                Gradcheck.assertGradients("minimum", xs -> Elementwise.minimum(xs[0], xs[1]), a, b);
            }
        }
    }

    @Test
    void onlyOneSideRequiringGradStillWorks() {
        try (Scope s = Scope.open()) {
            Tensor a = any(3, 4);
            Tensor b = awayFromZero(4);
            Tensor constant = Tensor.of(new double[] {1, 2, 3, 4});   // never requires grad
            Gradcheck.assertGradients("div by constant", xs -> xs[0].div(constant), a);
            Gradcheck.assertGradients("constant div", xs -> constant.div(xs[0]), b);
            Gradcheck.assertGradients("pow constant exponent", xs -> xs[0].pow(constant), positive(3, 4));
            Gradcheck.assertGradients("mul constant", xs -> constant.mul(xs[0]), a);
        }
    }

    @Test
    void scalarVariants() {
        try (Scope s = Scope.open()) {
            Tensor x = any(2, 3);
            Gradcheck.assertGradients("add scalar", xs -> xs[0].add(1.5), x);
            Gradcheck.assertGradients("sub scalar", xs -> xs[0].sub(0.25), x);
            Gradcheck.assertGradients("mul scalar", xs -> xs[0].mul(-2.5), x);
            Gradcheck.assertGradients("div scalar", xs -> xs[0].div(3), x);
            Gradcheck.assertGradients("neg", xs -> xs[0].neg(), x);
            Gradcheck.assertGradients("pow 3", xs -> xs[0].pow(3), x);
            Gradcheck.assertGradients("pow 2", xs -> xs[0].pow(2), x);
            Gradcheck.assertGradients("pow 0", xs -> xs[0].pow(0), x);
            Gradcheck.assertGradients("pow -1.5", xs -> xs[0].pow(-1.5), positive(2, 3));
            Gradcheck.assertGradients("pow 0.5", xs -> xs[0].pow(0.5), positive(2, 3));
        }
    }

    @Test
    void unaryFunctionsAndActivations() {
        try (Scope s = Scope.open()) {
            Tensor x = any(3, 4);
            Tensor away = awayFromZero(3, 4);
            Tensor pos = positive(3, 4);
            Gradcheck.assertGradients("exp", xs -> xs[0].exp(), x);
            Gradcheck.assertGradients("log", xs -> xs[0].log(), pos);
            Gradcheck.assertGradients("sqrt", xs -> xs[0].sqrt(), pos);
            Gradcheck.assertGradients("abs", xs -> xs[0].abs(), away);
            Gradcheck.assertGradients("tanh", xs -> xs[0].tanh(), x);
            Gradcheck.assertGradients("sigmoid", xs -> xs[0].sigmoid(), x);
            Gradcheck.assertGradients("relu", xs -> xs[0].relu(), away);
            Gradcheck.assertGradients("leakyRelu", xs -> xs[0].leakyRelu(0.2), away);
            Gradcheck.assertGradients("gelu", xs -> xs[0].gelu(), x);
            // clamp: values in {-3..-1.3} u {-0.7..0.7} u {1.3..3}, bounds at +-1: inside and both outside sides
            Tensor c = input(g -> {
                double m = Math.abs(g) % 0.7;
                return g < -0.7 ? -1.3 - m : g > 0.7 ? 1.3 + m : Math.copySign(m, g);
            }, 3, 4);
            Gradcheck.assertGradients("clamp", xs -> xs[0].clamp(-1, 1), c);
        }
    }

    @Test
    void nonContiguousInputsAndGradients() {
        try (Scope s = Scope.open()) {
            Tensor x = any(3, 4);
            Tensor y = any(4, 3);
            // x read through a transposed view (non-contiguous forward input)
            Gradcheck.assertGradients("exp of transpose", xs -> xs[0].transpose(0, 1).exp(), x);
            Gradcheck.assertGradients("mul of transposes", xs -> xs[0].transpose(0, 1).mul(xs[1]), x, y);
            // the gradient reaching tanh is a transposed view (permute's backward)
            Gradcheck.assertGradients("tanh then transpose", xs -> xs[0].tanh().transpose(0, 1).sigmoid(), x);
        }
    }

    @Test
    void whereRoutesGradientsByCondition() {
        try (Scope s = Scope.open()) {
            Tensor cond = Tensor.of(new double[] {1, 0, 2}, 3, 1);      // any non-zero selects a
            Tensor a = any(3, 4);
            Tensor b = any(4);
            Gradcheck.assertGradients("where broadcast", xs -> Elementwise.where(cond, xs[0], xs[1]), a, b);
            Tensor full = Tensor.of(new double[] {0, 1, 1, 0, 0, 1}, 2, 3);
            Gradcheck.assertGradients("where same shape", xs -> Elementwise.where(full, xs[0], xs[1]), any(2, 3), any(2, 3));
            // mask from a comparison, as a model would build it
            Tensor p = any(2, 3);
            Tensor q = any(2, 3);
            Gradcheck.assertGradients("where from gt", xs -> Elementwise.where(xs[0].gt(xs[1]), xs[0], xs[1].mul(2)), p, q);

            // check the routing itself, not just consistency: d/da is the mask, d/db its complement
            Tensor a2 = Tensor.zeros(dev.soma.tensor.DType.F64, a.device(), 3, 4).setRequiresGrad(true);
            Tensor b2 = Tensor.zeros(dev.soma.tensor.DType.F64, a.device(), 4).setRequiresGrad(true);
            Elementwise.where(cond, a2, b2).sum().backward();
            assertArrayEquals(new double[] {1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1}, a2.grad().toDoubleArray());
            assertArrayEquals(new double[] {1, 1, 1, 1}, b2.grad().toDoubleArray());
        }
    }

    @Test
    void comparisonsRecordNoGradient() {
        try (Scope s = Scope.open()) {
            Tensor a = any(3).setRequiresGrad(true);
            Tensor b = any(3).setRequiresGrad(true);
            for (Tensor t : new Tensor[] {a.eq(b), a.ne(b), a.lt(b), a.le(b), a.gt(b), a.ge(b)}) {
                assertFalse(t.requiresGrad());
                assertNull(t.gradFn());
            }
            assertEquals("mul", a.mul(b).gradFn().op());
        }
    }

    @Test
    void gradientsAccumulateForATensorUsedTwice() {
        try (Scope s = Scope.open()) {
            Tensor x = any(2, 3);
            Gradcheck.assertGradients("x*x + x", xs -> xs[0].mul(xs[0]).add(xs[0]), x);
            Gradcheck.assertGradients("x + x", xs -> xs[0].add(xs[0]), x);
            Gradcheck.assertGradients("exp(x) * tanh(x) - x", xs -> xs[0].exp().mul(xs[0].tanh()).sub(xs[0]), x);

            // and the value: d/dx sum(x*x + x) = 2x + 1
            double[] v = {0.5, -1, 2};
            Tensor leaf = Tensor.of(v).setRequiresGrad(true);
            leaf.mul(leaf).add(leaf).sum().backward();
            assertArrayEquals(new double[] {2, -1, 5}, leaf.grad().toDoubleArray(), 1e-12);
            leaf.zeroGrad();
        }
    }
}
