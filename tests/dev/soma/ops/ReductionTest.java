package dev.soma.ops;

import dev.soma.autograd.Gradcheck;
import dev.soma.errors.ClosedTensorException;
import dev.soma.errors.DTypeException;
import dev.soma.errors.ShapeException;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.Reference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.ToDoubleFunction;

import static org.junit.jupiter.api.Assertions.*;

/** mean, max, min, variance, argmax: forward against plain loops, gradients in float64, bad input. */
@ExtendWith(NoLeaks.class)
class ReductionTest {
    private static final int[][] AXIS_SETS = {null, {0}, {1}, {2}, {-1}, {0, 2}, {1, 2}, {0, 1}, {0, 1, 2}};

    /** The values of each output slice of a reduction of data (row-major, shape) over axes, in output order. */
    static List<List<Double>> slices(double[] data, long[] shape, int[] axes) {
        int rank = shape.length;
        boolean[] red = new boolean[rank];
        if (axes == null) java.util.Arrays.fill(red, true);
        else for (int a : axes) red[a < 0 ? a + rank : a] = true;
        int outCount = 1;
        for (int i = 0; i < rank; i++) if (!red[i]) outCount *= (int) shape[i];
        List<List<Double>> out = new ArrayList<>();
        for (int i = 0; i < outCount; i++) out.add(new ArrayList<>());
        int[] idx = new int[rank];
        for (int flat = 0; flat < data.length; flat++) {
            int rem = flat;
            for (int d = rank - 1; d >= 0; d--) {
                idx[d] = (int) (rem % shape[d]);
                rem /= (int) shape[d];
            }
            int o = 0;
            for (int d = 0; d < rank; d++) if (!red[d]) o = o * (int) shape[d] + idx[d];
            out.get(o).add(data[flat]);
        }
        return out;
    }

    static double[] reference(double[] data, long[] shape, int[] axes, ToDoubleFunction<List<Double>> f) {
        return slices(data, shape, axes).stream().mapToDouble(f).toArray();
    }

    static double mean(List<Double> v) {
        return v.stream().mapToDouble(Double::doubleValue).sum() / v.size();
    }

    static double variance(List<Double> v) {
        double m = mean(v);
        return v.stream().mapToDouble(x -> (x - m) * (x - m)).sum() / v.size();
    }

    static double max(List<Double> v) {
        return v.stream().mapToDouble(Double::doubleValue).max().orElseThrow();
    }

    static double min(List<Double> v) {
        return v.stream().mapToDouble(Double::doubleValue).min().orElseThrow();
    }

    private static double[] gaussian(int n, long seed, double offset) {
        SplittableRandom r = new SplittableRandom(seed);
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = offset + r.nextGaussian();
        return v;
    }

    private static float[] toFloat(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) f[i] = (float) d[i];
        return f;
    }

    private static double[] asDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }

    interface Op {
        Tensor apply(Tensor t, int[] axes, boolean keepDims);
    }

    private void checkForward(String name, Op op, ToDoubleFunction<List<Double>> ref, double offset) {
        long[] shape = {3, 4, 5};
        double[] v64 = gaussian(60, 11, offset);
        float[] v32 = toFloat(v64);
        double[] v32d = asDouble(v32);
        try (Scope s = Scope.open()) {
            Tensor t32 = Tensor.of(v32, shape);
            Tensor t64 = Tensor.of(v64, shape);
            for (int[] axes : AXIS_SETS) {
                for (boolean keep : new boolean[] {false, true}) {
                    String what = name + " axes " + java.util.Arrays.toString(axes) + " keepDims " + keep;
                    Tensor o32 = op.apply(t32, axes, keep);
                    Tensor o64 = op.apply(t64, axes, keep);
                    assertArrayEquals(expectedShape(shape, axes, keep), o32.shape(), what);
                    assertEquals(DType.F32, o32.dtype(), what);
                    Reference.assertClose(asDouble(o32.toFloatArray()), reference(v32d, shape, axes, ref),
                            Reference.REDUCTION_F32);
                    Reference.assertClose(o64.toDoubleArray(), reference(v64, shape, axes, ref), 1e-12);
                }
            }
        }
    }

    static long[] expectedShape(long[] shape, int[] axes, boolean keep) {
        boolean[] red = new boolean[shape.length];
        if (axes == null) java.util.Arrays.fill(red, true);
        else for (int a : axes) red[a < 0 ? a + shape.length : a] = true;
        return java.util.stream.IntStream.range(0, shape.length).filter(i -> keep || !red[i])
                .mapToLong(i -> red[i] ? 1 : shape[i]).toArray();
    }

    @Test
    void meanMatchesAPlainLoop() {
        checkForward("mean", Reductions::mean, ReductionTest::mean, 0);
        try (Scope s = Scope.open()) {
            Tensor t = Tensor.of(new float[] {1, 2, 3, 6}, 2, 2);
            assertEquals(3.0, t.mean().item(), 1e-7);
            assertEquals(0, t.mean().ndim());
        }
    }

    @Test
    void maxAndMinMatchAPlainLoop() {
        checkForward("max", Reductions::max, ReductionTest::max, 0);
        checkForward("min", Reductions::min, ReductionTest::min, 0);
    }

    @Test
    void varianceIsThePopulationVariance() {
        // an offset of 1000 makes a one-pass E[x^2] - E[x]^2 lose most digits in f32; the two-pass kernel does not
        checkForward("variance", Reductions::variance, ReductionTest::variance, 1000);
        try (Scope s = Scope.open()) {
            // ddof = 0: var([1, 2, 3, 4]) = 1.25 (the sample variance would be 1.6667)
            assertEquals(1.25, Tensor.of(new double[] {1, 2, 3, 4}).variance(null, false).item(), 1e-15);
            assertEquals(0.0, Tensor.of(new double[] {7}).variance(null, false).item());
        }
    }

    @Test
    void nonContiguousInputsReduceCorrectly() {
        double[] v = gaussian(24, 5, 0);
        try (Scope s = Scope.open()) {
            Tensor t = Tensor.of(v, 2, 3, 4);
            Tensor p = t.permute(2, 0, 1); // [4, 2, 3], not contiguous
            double[] pv = p.copy().toDoubleArray();
            long[] ps = {4, 2, 3};
            Reference.assertClose(p.max(new int[] {2}, false).toDoubleArray(),
                    reference(pv, ps, new int[] {2}, ReductionTest::max), 1e-15);
            Reference.assertClose(p.variance(new int[] {0, 2}, true).toDoubleArray(),
                    reference(pv, ps, new int[] {0, 2}, ReductionTest::variance), 1e-12);
            Tensor am = p.argmax(1, false);
            int[] a = am.toIntArray();
            for (int i = 0; i < 4; i++)
                for (int k = 0; k < 3; k++) {
                    int best = pv[i * 6 + k] >= pv[i * 6 + 3 + k] ? 0 : 1;
                    assertEquals(best, a[i * 3 + k]);
                }
        }
    }

    @Test
    void argmaxMatchesAPlainLoopAndTakesTheFirstOfTies() {
        double[] v = gaussian(60, 3, 0);
        long[] shape = {3, 4, 5};
        try (Scope s = Scope.open()) {
            Tensor t = Tensor.of(toFloat(v), shape);
            for (int axis = -3; axis < 3; axis++) {
                int ax = axis < 0 ? axis + 3 : axis;
                Tensor a = t.argmax(axis, false);
                Tensor k = t.argmax(axis, true);
                assertEquals(DType.I32, a.dtype());
                assertArrayEquals(expectedShape(shape, new int[] {ax}, false), a.shape());
                assertArrayEquals(expectedShape(shape, new int[] {ax}, true), k.shape());
                int[] got = a.toIntArray();
                assertArrayEquals(got, k.toIntArray());
                // reference: walk each slice in order, keep the first maximum
                List<List<Double>> sl = slices(asDouble(toFloat(v)), shape, new int[] {ax});
                for (int o = 0; o < sl.size(); o++) {
                    List<Double> xs = sl.get(o);
                    int best = 0;
                    for (int j = 1; j < xs.size(); j++) if (xs.get(j) > xs.get(best)) best = j;
                    assertEquals(best, got[o], "axis " + axis + " output " + o);
                }
            }
            // ties: the first index wins, for argmax and argmin, floats and ints
            Tensor ties = Tensor.of(new float[] {1, 5, 5, 2, 0, 0, 0, 0, 3, -1, 3, -1}, 3, 4);
            assertArrayEquals(new int[] {1, 0, 0}, ties.argmax(1, false).toIntArray());
            assertArrayEquals(new int[] {0, 0, 1}, Reductions.argmin(ties, 1, false).toIntArray());
            assertArrayEquals(new int[] {2, 0, 0, 0}, ties.argmax(0, false).toIntArray());
            Tensor ints = Tensor.ofInts(new int[] {4, 9, 9, 2, -3, -3}, 2, 3);
            assertArrayEquals(new int[] {1, 0}, ints.argmax(1, false).toIntArray());
            assertArrayEquals(new int[] {0, 1}, Reductions.argmin(ints, 1, false).toIntArray());
            // NaN counts as the maximum, as max() propagates it
            Tensor nan = Tensor.of(new float[] {1, Float.NaN, 7}, 3);
            assertEquals(1, nan.argmax(0, false).toIntArray()[0]);
            assertTrue(Double.isNaN(nan.max(null, false).item()));
        }
    }

    @Test
    void gradientsOverSeveralAxesAndKeepDimsBothWays() {
        double[] v = gaussian(60, 17, 0); // distinct values: max/min have a unique arg-extremum
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(v, 3, 4, 5);
            for (int[] axes : AXIS_SETS) {
                for (boolean keep : new boolean[] {false, true}) {
                    String tag = java.util.Arrays.toString(axes) + " keep " + keep;
                    Gradcheck.assertGradients("mean " + tag, xs -> xs[0].mean(axes, keep), x);
                    Gradcheck.assertGradients("max " + tag, xs -> xs[0].max(axes, keep), x);
                    Gradcheck.assertGradients("min " + tag, xs -> xs[0].min(axes, keep), x);
                    Gradcheck.assertGradients("variance " + tag, xs -> xs[0].variance(axes, keep), x);
                }
            }
            // a chain through a permuted (non-contiguous) input and two reductions
            Gradcheck.assertGradients("variance of permuted then max",
                    xs -> xs[0].permute(2, 0, 1).variance(new int[] {0}, false).max(new int[] {1}, true), x);
        }
    }

    @Test
    void maxGradientGoesToTheFirstOfTies() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(new double[] {3, 1, 3, 2, 2, 0}, 2, 3).setRequiresGrad(true);
            x.max(new int[] {1}, false).sum().backward();
            assertArrayEquals(new double[] {1, 0, 0, 1, 0, 0}, x.grad().toDoubleArray());
            Tensor y = Tensor.of(new double[] {3, 1, 1, 2, 0, 0}, 2, 3).setRequiresGrad(true);
            y.min(new int[] {1}, true).sum().backward();
            assertArrayEquals(new double[] {0, 1, 0, 0, 1, 0}, y.grad().toDoubleArray());
        }
    }

    @Test
    void badInputIsRejectedWithTheOpName() {
        try (Scope s = Scope.open()) {
            Tensor t = Tensor.zeros(2, 3);
            for (String op : new String[] {"mean", "max", "min", "variance"}) {
                Op f = switch (op) {
                    case "mean" -> Reductions::mean;
                    case "max" -> Reductions::max;
                    case "min" -> Reductions::min;
                    default -> Reductions::variance;
                };
                ShapeException e = assertThrows(ShapeException.class, () -> f.apply(t, new int[] {2}, false));
                assertTrue(e.getMessage().startsWith(op + ": axis 2 is out of range for rank 2"), e.getMessage());
                e = assertThrows(ShapeException.class, () -> f.apply(t, new int[] {0, -2}, false));
                assertTrue(e.getMessage().startsWith(op + ": axis 0 given twice"), e.getMessage());
                Tensor ints = Tensor.ofInts(new int[] {1, 2});
                DTypeException d = assertThrows(DTypeException.class, () -> f.apply(ints, null, false));
                assertTrue(d.getMessage().startsWith(op + ":") && d.getMessage().contains("int32"), d.getMessage());
                Tensor empty = Tensor.zeros(2, 0);
                e = assertThrows(ShapeException.class, () -> f.apply(empty, new int[] {1}, false));
                assertTrue(e.getMessage().startsWith(op + ": cannot reduce over an empty axis of float32[2, 0]"),
                        e.getMessage());
                Tensor closed = Tensor.zeros(2);
                closed.close();
                ClosedTensorException c = assertThrows(ClosedTensorException.class, () -> f.apply(closed, null, false));
                assertTrue(c.getMessage().startsWith(op + ":"), c.getMessage());
            }
            ShapeException e = assertThrows(ShapeException.class, () -> t.argmax(-3, false));
            assertTrue(e.getMessage().startsWith("argmax: axis -3 is out of range for rank 2"), e.getMessage());
            e = assertThrows(ShapeException.class, () -> Tensor.zeros(3, 0).argmax(1, false));
            assertTrue(e.getMessage().startsWith("argmax: axis 1 of float32[3, 0]") && e.getMessage().contains("empty"), e.getMessage());
            Tensor closed = Tensor.zeros(2);
            closed.close();
            assertThrows(ClosedTensorException.class, () -> closed.argmax(0, false));
            // reducing the kept (non-empty) axes of an empty tensor is fine: an empty result
            assertArrayEquals(new long[] {0}, Tensor.zeros(0, 3).max(new int[] {1}, false).shape());
        }
    }

    @Test
    void closedInputBeforeBackwardIsReported() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(new double[] {1, 2, 3}).setRequiresGrad(true);
            Tensor x2 = x.copy();
            Tensor m = x2.max(null, false);
            x2.close();
            ClosedTensorException c = assertThrows(ClosedTensorException.class, m::backward);
            assertTrue(c.getMessage().startsWith("max backward:"), c.getMessage());
        }
    }
}
