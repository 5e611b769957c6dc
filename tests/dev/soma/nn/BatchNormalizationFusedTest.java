package dev.soma.nn;

import dev.soma.autograd.GradMode;
import dev.soma.memory.Scope;
import dev.soma.ops.Creation;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.Reference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * BatchNormalization's training path on the fused op gives what the composed ops gave before it (mean, population
 * variance, sub / div / mul / add): the output, the moving mean and variance after two steps, the gradients of x,
 * gamma and beta, and the inference output from the moving statistics.
 */
@ExtendWith(NoLeaks.class)
class BatchNormalizationFusedTest {
    private static final double MOMENTUM = 0.9, EPSILON = 1e-3;

    /** The layer's training path before the fused op, step for step, on its own copies of the weights. */
    private static final class Composed implements AutoCloseable {
        final Tensor gamma, beta, movingMean, movingVariance;

        Composed(List<Param> params) {
            try (GradMode.Guard g = GradMode.disable()) {
                gamma = params.get(0).value().copy().<Tensor>keep().setRequiresGrad(true);
                beta = params.get(1).value().copy().<Tensor>keep().setRequiresGrad(true);
                movingMean = params.get(2).value().copy().keep();
                movingVariance = params.get(3).value().copy().keep();
            }
        }

        Tensor train(Tensor x) {
            int[] axes = new int[x.ndim() - 1];
            for (int i = 0; i < axes.length; i++) axes[i] = i;
            Tensor mean = x.mean(axes, true);
            Tensor variance = x.variance(axes, true);
            try (GradMode.Guard g = GradMode.disable()) {
                update(movingMean, mean);
                update(movingVariance, variance);
            }
            return x.sub(mean).div(variance.add(EPSILON).sqrt()).mul(gamma).add(beta);
        }

        Tensor infer(Tensor x) {
            return x.sub(movingMean).div(movingVariance.add(EPSILON).sqrt()).mul(gamma).add(beta);
        }

        private static void update(Tensor moving, Tensor batchStat) {
            Tensor next = moving.mul(MOMENTUM).add(batchStat.reshape(moving.shape()).mul(1 - MOMENTUM));
            moving.backend().memory().copy(next, moving);
        }

        @Override
        public void close() {
            for (Tensor t : new Tensor[] {gamma, beta, movingMean, movingVariance}) {
                t.zeroGrad();
                t.close();
            }
        }
    }

    @Test
    void trainingMatchesTheComposedOps() {
        for (DType dtype : new DType[] {DType.F32, DType.F64}) {
            for (long[] shape : new long[][] {{8, 5, 6, 3}, {13, 7}, {3, 4, 9}}) {
                check(dtype, shape);
            }
        }
    }

    private static void check(DType dtype, long[] shape) {
        String what = dtype + " " + Arrays.toString(shape);
        long channels = shape[shape.length - 1];
        SplittableRandom r = new SplittableRandom(Arrays.hashCode(shape) + dtype.code());
        try (Scope s = Scope.open(); BatchNormalization bn = new BatchNormalization(MOMENTUM, EPSILON)) {
            bn.build(Arrays.copyOfRange(shape, 1, shape.length), dtype, new SplittableRandom(1));
            List<Param> params = bn.params();
            // Weights and moving statistics away from their initial ones, so each term of the update counts.
            write(params.get(0).value(), uniform(r, channels, 0.5, 1.5));
            write(params.get(1).value(), uniform(r, channels, -1, 1));
            write(params.get(2).value(), uniform(r, channels, -1, 1));
            write(params.get(3).value(), uniform(r, channels, 0.5, 2));
            try (Composed old = new Composed(params)) {
                for (int step = 0; step < 2; step++) {
                    String at = what + " step " + step;
                    Tensor x = Creation.randn(r.nextLong(), dtype, Device.cpu(), shape).mul(3).add(step + 2)
                            .setRequiresGrad(true);
                    Tensor x2;
                    try (GradMode.Guard g = GradMode.disable()) {
                        x2 = x.copy().setRequiresGrad(true);
                    }
                    Tensor seed = Creation.randn(r.nextLong(), dtype, Device.cpu(), shape);
                    Tensor y = bn.apply(x, true);
                    Tensor y2 = old.train(x2);
                    close(at + " y", y, y2, dtype, Reference.ELEMENTWISE_F32);
                    y.backward(seed);
                    y2.backward(seed);
                    close(at + " x.grad", x.grad(), x2.grad(), dtype, Reference.REDUCTION_F32);
                    close(at + " gamma.grad", params.get(0).value().grad(), old.gamma.grad(), dtype,
                            Reference.REDUCTION_F32);
                    close(at + " beta.grad", params.get(1).value().grad(), old.beta.grad(), dtype,
                            Reference.REDUCTION_F32);
                    close(at + " moving mean", params.get(2).value(), old.movingMean, dtype, Reference.ELEMENTWISE_F32);
                    close(at + " moving variance", params.get(3).value(), old.movingVariance, dtype,
                            Reference.ELEMENTWISE_F32);
                    for (Tensor t : new Tensor[] {x, x2, params.get(0).value(), params.get(1).value(), old.gamma,
                            old.beta}) {
                        t.zeroGrad();
                    }
                }
                Tensor x = Creation.randn(r.nextLong(), dtype, Device.cpu(), shape);
                try (GradMode.Guard g = GradMode.disable()) {
                    close(what + " inference", bn.apply(x, false), old.infer(x), dtype, Reference.ELEMENTWISE_F32);
                }
            }
        }
    }

    private static void close(String what, Tensor out, Tensor ref, DType dtype, double f32Bound) {
        double err = Reference.relativeError(out.toDoubleArray(), ref.toDoubleArray());
        double bound = dtype == DType.F32 ? f32Bound : 1e-12;
        assertTrue(err <= bound, what + ": relative error " + err + " exceeds " + bound);
    }

    private static double[] uniform(SplittableRandom r, long n, double lo, double hi) {
        double[] v = new double[(int) n];
        for (int i = 0; i < v.length; i++) v[i] = r.nextDouble(lo, hi);
        return v;
    }

    private static void write(Tensor t, double[] v) {
        if (t.dtype() == DType.F64) {
            t.backend().memory().write(t, v);
            return;
        }
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) f[i] = (float) v[i];
        t.backend().memory().write(t, f);
    }
}
