package dev.soma.ops;

import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.Reference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.function.BiFunction;
import java.util.function.DoubleBinaryOperator;
import java.util.function.DoubleUnaryOperator;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.*;

/** Forward values of every element-wise op against plain Java loops, in f32 and f64, over several layouts. */
@ExtendWith(NoLeaks.class)
class ElementwiseForwardTest {
    /** f64 kernels compute in double: they must agree with Java's math to a few ulps. */
    static final double F64_BOUND = 1e-12;

    /** Operand layouts: shapes of a and b, and whether a is a transposed (non-contiguous) view. */
    record Layout(String name, long[] a, long[] b, boolean transposeA) {}

    static final Layout[] LAYOUTS = {
        new Layout("same shape", new long[] {3, 4}, new long[] {3, 4}, false),
        new Layout("[3,1] x [1,4]", new long[] {3, 1}, new long[] {1, 4}, false),
        new Layout("[2,3,4] x [4]", new long[] {2, 3, 4}, new long[] {4}, false),
        new Layout("tensor x scalar", new long[] {3, 4}, new long[] {}, false),
        new Layout("scalar x tensor", new long[] {}, new long[] {2, 5}, false),
        new Layout("transposed a", new long[] {3, 4}, new long[] {3, 4}, true),
        new Layout("transposed a x [4]", new long[] {3, 4}, new long[] {4}, true),
        new Layout("[2,1,3] x [4,1]", new long[] {2, 1, 3}, new long[] {4, 1}, false),
        new Layout("large flat", new long[] {70001}, new long[] {70001}, false),
        new Layout("large rows", new long[] {257, 301}, new long[] {301}, false),
        new Layout("large outer", new long[] {257, 1}, new long[] {1, 301}, false),
        new Layout("large transposed", new long[] {301, 257}, new long[] {301, 1}, true),
        new Layout("empty", new long[] {0, 4}, new long[] {4}, false),
    };

    record BinaryCase(String name, BiFunction<Tensor, Tensor, Tensor> op, DoubleBinaryOperator ref,
                      Domain aDomain, Domain bDomain, boolean exact) {}

    /** How to draw inputs so an op stays in its domain (and comparisons see ties). */
    enum Domain { ANY, AWAY_FROM_ZERO, POSITIVE, SMALL, COARSE }

    static final BinaryCase[] BINARY = {
        new BinaryCase("add", Elementwise::add, (x, y) -> x + y, Domain.ANY, Domain.ANY, false),
        new BinaryCase("sub", Elementwise::sub, (x, y) -> x - y, Domain.ANY, Domain.ANY, false),
        new BinaryCase("mul", Elementwise::mul, (x, y) -> x * y, Domain.ANY, Domain.ANY, false),
        new BinaryCase("div", Elementwise::div, (x, y) -> x / y, Domain.ANY, Domain.AWAY_FROM_ZERO, false),
        new BinaryCase("pow", Elementwise::pow, Math::pow, Domain.POSITIVE, Domain.SMALL, false),
        new BinaryCase("maximum", Elementwise::maximum, Math::max, Domain.COARSE, Domain.COARSE, false),
        new BinaryCase("minimum", Elementwise::minimum, Math::min, Domain.COARSE, Domain.COARSE, false),
        new BinaryCase("eq", Elementwise::eq, (x, y) -> x == y ? 1 : 0, Domain.COARSE, Domain.COARSE, true),
        new BinaryCase("ne", Elementwise::ne, (x, y) -> x != y ? 1 : 0, Domain.COARSE, Domain.COARSE, true),
        new BinaryCase("lt", Elementwise::lt, (x, y) -> x < y ? 1 : 0, Domain.COARSE, Domain.COARSE, true),
        new BinaryCase("le", Elementwise::le, (x, y) -> x <= y ? 1 : 0, Domain.COARSE, Domain.COARSE, true),
        new BinaryCase("gt", Elementwise::gt, (x, y) -> x > y ? 1 : 0, Domain.COARSE, Domain.COARSE, true),
        new BinaryCase("ge", Elementwise::ge, (x, y) -> x >= y ? 1 : 0, Domain.COARSE, Domain.COARSE, true),
    };

    record UnaryCase(String name, Function<Tensor, Tensor> op, DoubleUnaryOperator ref, Domain domain) {}

    static final UnaryCase[] UNARY = {
        new UnaryCase("neg", Tensor::neg, x -> -x, Domain.ANY),
        new UnaryCase("exp", Tensor::exp, Math::exp, Domain.ANY),
        new UnaryCase("log", Tensor::log, Math::log, Domain.POSITIVE),
        new UnaryCase("sqrt", Tensor::sqrt, Math::sqrt, Domain.POSITIVE),
        new UnaryCase("abs", Tensor::abs, Math::abs, Domain.ANY),
        new UnaryCase("tanh", Tensor::tanh, Math::tanh, Domain.ANY),
        new UnaryCase("sigmoid", Tensor::sigmoid, x -> 1 / (1 + Math.exp(-x)), Domain.ANY),
        new UnaryCase("relu", Tensor::relu, x -> Math.max(x, 0), Domain.ANY),
        new UnaryCase("leakyRelu", t -> t.leakyRelu(0.1), x -> x > 0 ? x : 0.1 * x, Domain.ANY),
        new UnaryCase("gelu", Tensor::gelu, x -> 0.5 * x * (1 + erf(x / Math.sqrt(2))), Domain.ANY),
        new UnaryCase("clamp", t -> t.clamp(-0.5, 0.75), x -> Math.min(Math.max(x, -0.5), 0.75), Domain.ANY),
        new UnaryCase("pow 3", t -> t.pow(3), x -> x * x * x, Domain.ANY),
        new UnaryCase("pow 2", t -> t.pow(2), x -> x * x, Domain.ANY),
        new UnaryCase("pow -1.5", t -> t.pow(-1.5), x -> Math.pow(x, -1.5), Domain.POSITIVE),
        new UnaryCase("add scalar", t -> t.add(2.5), x -> x + 2.5, Domain.ANY),
        new UnaryCase("sub scalar", t -> t.sub(1.25), x -> x - 1.25, Domain.ANY),
        new UnaryCase("mul scalar", t -> t.mul(-3), x -> -3 * x, Domain.ANY),
        new UnaryCase("div scalar", t -> t.div(7), x -> x / 7, Domain.ANY),
    };

    @Test
    void binaryOpsMatchPlainLoopsForEveryLayoutAndDtype() {
        for (DType dtype : new DType[] {DType.F32, DType.F64}) {
            for (BinaryCase c : BINARY) {
                for (Layout l : LAYOUTS) {
                    checkBinary(dtype, c, l);
                }
            }
        }
    }

    private void checkBinary(DType dtype, BinaryCase c, Layout l) {
        SplittableRandom r = new SplittableRandom(c.name.hashCode() * 31L + l.name.hashCode());
        double[] av = draw(r, Shapes.numel(l.a), c.aDomain, dtype);
        double[] bv = draw(r, Shapes.numel(l.b), c.bDomain, dtype);
        long[] outShape = Shapes.broadcast("test", l.a, l.b);
        double[] ref = broadcastRef(outShape, av, l.a, bv, l.b, c.ref);
        try (Scope s = Scope.open()) {
            Tensor a = make(av, l.a, dtype, l.transposeA);
            Tensor b = make(bv, l.b, dtype, false);
            assertEquals(l.transposeA && a.numel() > 1, !a.isContiguous());
            Tensor out = c.op.apply(a, b);
            String what = c.name + " " + dtype + " " + l.name;
            assertArrayEquals(outShape, out.shape(), what);
            assertEquals(dtype, out.dtype(), what);
            assertFalse(out.requiresGrad(), what);
            compare(what, dtype, out.toDoubleArray(), ref, c.exact);
        }
    }

    @Test
    void unaryOpsMatchPlainLoopsContiguousAndTransposed() {
        long[][] shapes = {{3, 4}, {70001}, {301, 257}, {}};
        for (DType dtype : new DType[] {DType.F32, DType.F64}) {
            for (UnaryCase c : UNARY) {
                for (long[] shape : shapes) {
                    for (boolean transposed : new boolean[] {false, true}) {
                        if (transposed && shape.length != 2) continue;
                        SplittableRandom r = new SplittableRandom(c.name.hashCode() + shape.length);
                        double[] v = draw(r, Shapes.numel(shape), c.domain, dtype);
                        double[] ref = Arrays.stream(v).map(c.ref).toArray();
                        try (Scope s = Scope.open()) {
                            Tensor x = make(v, shape, dtype, transposed);
                            Tensor out = c.op.apply(x);
                            String what = c.name + " " + dtype + " " + Arrays.toString(shape) + (transposed ? " transposed" : "");
                            assertArrayEquals(shape, out.shape(), what);
                            compare(what, dtype, out.toDoubleArray(), ref, false);
                        }
                    }
                }
            }
        }
    }

    @Test
    void whereSelectsWithBroadcasting() {
        long[][][] layouts = {
            {{3, 4}, {3, 4}, {3, 4}},
            {{3, 1}, {1, 4}, {3, 4}},
            {{4}, {2, 3, 4}, {}},
            {{257, 1}, {301}, {257, 301}},
        };
        for (DType dtype : new DType[] {DType.F32, DType.F64}) {
            for (long[][] l : layouts) {
                SplittableRandom r = new SplittableRandom(l[0].length * 7 + l[1].length);
                double[] cv = new double[(int) Shapes.numel(l[0])];
                // Any non-zero value selects a (including -1 and 2), only 0 and -0 select b.
                double[] choices = {0, 1, -0.0, 2, -1};
                for (int i = 0; i < cv.length; i++) cv[i] = choices[r.nextInt(choices.length)];
                double[] av = draw(r, Shapes.numel(l[1]), Domain.ANY, dtype);
                double[] bv = draw(r, Shapes.numel(l[2]), Domain.ANY, dtype);
                long[] shape = Shapes.broadcast("t", Shapes.broadcast("t", l[0], l[1]), l[2]);
                double[] ref = new double[(int) Shapes.numel(shape)];
                for (int i = 0; i < ref.length; i++) {
                    double c = cv[(int) sourceIndex(i, shape, l[0])];
                    ref[i] = c != 0 ? av[(int) sourceIndex(i, shape, l[1])] : bv[(int) sourceIndex(i, shape, l[2])];
                }
                try (Scope s = Scope.open()) {
                    Tensor out = Elementwise.where(make(cv, l[0], dtype, false), make(av, l[1], dtype, false),
                            make(bv, l[2], dtype, false));
                    assertArrayEquals(shape, out.shape());
                    compare("where " + dtype, dtype, out.toDoubleArray(), ref, true);
                }
            }
        }
    }

    @Test
    void transposedConditionAndInt32ComparisonsAndWhere() {
        try (Scope s = Scope.open()) {
            Tensor cond = Tensor.of(new double[] {1, 0, 0, 1, 1, 0}, 3, 2).transpose(0, 1);   // [2,3]
            Tensor a = Tensor.of(new double[] {1, 2, 3, 4, 5, 6}, 2, 3);
            Tensor b = Tensor.of(new double[] {-1, -2, -3}, 3);
            assertArrayEquals(new double[] {1, -2, 3, -1, 5, -3}, Elementwise.where(cond, a, b).toDoubleArray());

            Tensor i = Tensor.ofInts(new int[] {1, 5, 3, 7}, 2, 2);
            Tensor j = Tensor.ofInts(new int[] {3, 5}, 2);
            assertArrayEquals(new int[] {1, 0, 0, 0}, i.lt(j).toIntArray());
            assertArrayEquals(new int[] {0, 1, 1, 0}, i.eq(j).toIntArray());
            assertArrayEquals(new int[] {1, 1, 0, 0}, i.transpose(0, 1).lt(j).toIntArray());
            assertArrayEquals(new int[] {3, 0, 0, 0}, Elementwise.where(i.lt(j), j, Tensor.ofInts(new int[] {0}).reshape())
                    .toIntArray());
        }
    }

    @Test
    void nanPropagatesThroughReluClampMaximumAndMinimum() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(new float[] {Float.NaN, 1, -1});
            Tensor y = Tensor.of(new float[] {0, Float.NaN, -2});
            assertTrue(Float.isNaN(x.relu().toFloatArray()[0]));
            assertTrue(Float.isNaN(x.clamp(-0.5, 0.5).toFloatArray()[0]));
            float[] mx = Elementwise.maximum(x, y).toFloatArray();
            float[] mn = Elementwise.minimum(x, y).toFloatArray();
            assertTrue(Float.isNaN(mx[0]) && Float.isNaN(mx[1]) && mx[2] == -1, Arrays.toString(mx));
            assertTrue(Float.isNaN(mn[0]) && Float.isNaN(mn[1]) && mn[2] == -2, Arrays.toString(mn));
            // Comparisons with NaN are false, except ne.
            assertArrayEquals(new float[] {0, 0, 0}, x.eq(y).toFloatArray());
            assertArrayEquals(new float[] {1, 1, 1}, x.ne(y).toFloatArray());
        }
    }

    // ------------------------------------------------------------------ helpers shared by the element-wise tests

    static void compare(String what, DType dtype, double[] out, double[] ref, boolean exact) {
        if (exact) {
            assertArrayEquals(ref, out, 0.0, what);
            return;
        }
        double err = Reference.relativeError(out, ref);
        double bound = dtype == DType.F32 ? Reference.ELEMENTWISE_F32 : F64_BOUND;
        assertTrue(err <= bound, what + ": relative error " + err + " exceeds " + bound);
    }

    /** Random values in a domain, already rounded to f32 when the tensor will be f32. */
    static double[] draw(SplittableRandom r, long n, Domain domain, DType dtype) {
        double[] v = new double[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) {
            double g = r.nextGaussian();
            v[i] = switch (domain) {
                case ANY -> 1.5 * g;
                case AWAY_FROM_ZERO -> Math.copySign(0.5 + Math.abs(g), g);
                case POSITIVE -> 0.2 + Math.abs(g);
                case SMALL -> r.nextDouble(-2, 2);
                case COARSE -> Math.rint(2 * g) / 2;           // multiples of 0.5: many ties
            };
            if (dtype == DType.F32) v[i] = (float) v[i];
        }
        return v;
    }

    /** A tensor with the given logical values; when transposed, a transposed view of a [cols, rows] tensor. */
    static Tensor make(double[] logical, long[] shape, DType dtype, boolean transposed) {
        if (!transposed) {
            Tensor t = dtype == DType.F32 ? Tensor.of(toFloat(logical), shape) : Tensor.of(logical, shape);
            return shape.length == 0 ? t.reshape() : t;
        }
        int rows = (int) shape[0];
        int cols = (int) shape[1];
        double[] stored = new double[logical.length];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) stored[j * rows + i] = logical[i * cols + j];
        Tensor t = dtype == DType.F32 ? Tensor.of(toFloat(stored), cols, rows) : Tensor.of(stored, cols, rows);
        return t.transpose(0, 1);
    }

    static float[] toFloat(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) f[i] = (float) d[i];
        return f;
    }

    static double[] broadcastRef(long[] out, double[] a, long[] as, double[] b, long[] bs, DoubleBinaryOperator f) {
        double[] r = new double[(int) Shapes.numel(out)];
        for (int i = 0; i < r.length; i++) {
            r[i] = f.applyAsDouble(a[(int) sourceIndex(i, out, as)], b[(int) sourceIndex(i, out, bs)]);
        }
        return r;
    }

    /** Row-major index into an operand of shape {@code src} read at flat output index {@code flat}. */
    static long sourceIndex(long flat, long[] out, long[] src) {
        long idx = 0;
        long stride = 1;
        long rem = flat;
        for (int d = out.length - 1; d >= 0; d--) {
            long coord = rem % out[d];
            rem /= out[d];
            int sd = d - (out.length - src.length);
            if (sd >= 0) {
                if (src[sd] != 1) idx += coord * stride;
                stride *= src[sd];
            }
        }
        return idx;
    }

    /** erf in double: Taylor series up to 3, erfc's continued fraction beyond (both near double precision). */
    static double erf(double x) {
        double ax = Math.abs(x);
        if (ax > 3) {
            double t = ax;
            for (int k = 200; k >= 1; k--) t = ax + (k / 2.0) / t;
            return Math.copySign(1 - Math.exp(-ax * ax) / (Math.sqrt(Math.PI) * t), x);
        }
        double term = x;
        double sum = x;
        for (int n = 1; n < 200; n++) {
            term *= -x * x / n;
            double add = term / (2 * n + 1);
            sum += add;
            if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
        }
        return 2 / Math.sqrt(Math.PI) * sum;
    }
}
