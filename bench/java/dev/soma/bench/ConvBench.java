/*
 * The reference CNN's convolution and pooling layers through Soma's ops (f32, oneDNN), batch 32, in ms: a
 * short timed loop (median of repeated runs after a warm-up), not JMH, so it finishes in seconds.
 *
 * Run (from the repository root, after `mvn -o -q test-compile`):
 *
 *   mvn -o -q dependency:build-classpath -Dmdep.outputFile=target/cp.txt
 *   OMP_NUM_THREADS=2 java -cp target/test-classes:target/classes:$(cat target/cp.txt) dev.soma.bench.ConvBench [reps]
 *
 * Rows:
 *   forward        Convolution.conv2d / Pooling.maxPool2d with gradients off (output allocation included);
 *   fwd+bwd        the op with gradients on plus y.backward(g) (autograd, gradient buffers, accumulation); conv1
 *                  computes no input gradient (a CNN's first layer needs none);
 *   bwd data / bwd weights / pool bwd   the backend passes the backward rule calls, alone (for comparison with
 *                  the per-primitive oneDNN figures in shared/notes/cpu-measurements.md).
 */
package dev.soma.bench;

import dev.soma.autograd.GradMode;
import dev.soma.backend.ConvKernels;
import dev.soma.memory.Scope;
import dev.soma.ops.Convolution;
import dev.soma.ops.Pooling;
import dev.soma.tensor.Tensor;

import java.util.Arrays;

public final class ConvBench {
    private static final int[] ONE = {1, 1};

    private ConvBench() {}

    public static void main(String[] args) {
        int reps = args.length > 0 ? Integer.parseInt(args[0]) : 30;
        System.out.println("OMP_NUM_THREADS=" + System.getenv("OMP_NUM_THREADS") + ", " + reps + " reps, median ms");
        conv("conv1 28x28x1->32 3x3 same", 1, 32, reps);
        conv("conv2 28x28x32->64 3x3 same", 32, 64, reps);
        maxPool("maxpool 2x2 on 28x28x64", reps);
    }

    private static void conv(String name, int cin, int cout, int reps) {
        Tensor x = Tensor.randn(1, 32, 28, 28, cin).keep();
        Tensor k;
        try (Scope s = Scope.open()) {
            k = Tensor.randn(2, 3, 3, cin, cout).mul(0.1).keep();
        }
        Tensor b = Tensor.zeros(cout).keep();
        Tensor g = Tensor.randn(3, 32, 28, 28, cout).keep();
        Tensor dx = Tensor.empty(32, 28, 28, cin).keep();
        Tensor dk = Tensor.empty(3, 3, cin, cout).keep();
        Tensor db = Tensor.empty(cout).keep();
        ConvKernels.Geometry geo = new ConvKernels.Geometry(32, 28, 28, cin, 28, 28, cout, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1);
        ConvKernels kernels = x.backend().conv();
        try {
            double fwd = median(reps, () -> {
                try (Scope s = Scope.open(); GradMode.Guard off = GradMode.disable()) {
                    Convolution.conv2d(x, k, b, ONE, "same", ONE);
                }
            });
            x.setRequiresGrad(cin > 1);   // the first layer's input needs no gradient in a CNN
            k.setRequiresGrad(true);
            b.setRequiresGrad(true);
            double both = median(reps, () -> {
                try (Scope s = Scope.open()) {
                    Convolution.conv2d(x, k, b, ONE, "same", ONE).backward(g);
                }
            });
            double data = median(reps, () -> kernels.conv2dBackwardData(geo, g, k, dx));
            double weights = median(reps, () -> kernels.conv2dBackwardWeights(geo, x, g, dk, db));
            System.out.printf("%-30s forward %7.3f | fwd+bwd %7.3f | bwd data %7.3f | bwd weights %7.3f%n",
                    name, fwd, both, data, weights);
        } finally {
            for (Tensor t : new Tensor[] {x, k, b, g, dx, dk, db}) t.close();
        }
    }

    private static void maxPool(String name, int reps) {
        Tensor x = Tensor.randn(4, 32, 28, 28, 64).keep();
        Tensor g = Tensor.randn(5, 32, 14, 14, 64).keep();
        try {
            int[] two = {2, 2};
            double fwd = median(reps, () -> {
                try (Scope s = Scope.open(); GradMode.Guard off = GradMode.disable()) {
                    Pooling.maxPool2d(x, two, null, "valid");
                }
            });
            x.setRequiresGrad(true);
            double train = median(reps, () -> {
                try (Scope s = Scope.open()) {
                    Pooling.maxPool2d(x, two, null, "valid");
                }
            });
            double both = median(reps, () -> {
                try (Scope s = Scope.open()) {
                    Pooling.maxPool2d(x, two, null, "valid").backward(g);
                }
            });
            System.out.printf("%-30s forward %7.3f | training fwd %7.3f | fwd+bwd %7.3f | bwd ~%7.3f%n",
                    name, fwd, train, both, both - train);
        } finally {
            x.close();
            g.close();
        }
    }

    private static double median(int reps, Runnable r) {
        for (int i = 0; i < Math.max(3, reps / 5); i++) r.run();
        double[] t = new double[reps];
        for (int i = 0; i < reps; i++) {
            long t0 = System.nanoTime();
            r.run();
            t[i] = (System.nanoTime() - t0) / 1e6;
        }
        Arrays.sort(t);
        return t[reps / 2];
    }
}
