/*
 * The reference CNN's convolution and pooling layers through Soma's ops (f32, oneDNN), batch 32, in ms: a
 * short timed loop after a warm-up, not JMH, so it finishes in seconds. Each figure is "best/median" of the
 * repetitions: on a shared, noisy host the best run is the closer estimate of the uncontended time.
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
 *   training fwd   max pooling with gradients on (writes the workspace);
 *   fwd pass / bwd data / bwd weights / bwd   the backend passes the op and its backward rule call, alone (for comparison with the
 *                  per-primitive oneDNN figures in shared/notes/cpu-measurements.md).
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
        System.out.println("OMP_NUM_THREADS=" + System.getenv("OMP_NUM_THREADS") + ", " + reps + " reps, best/median ms");
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
            String fwd = time(reps, () -> {
                try (Scope s = Scope.open(); GradMode.Guard off = GradMode.disable()) {
                    Convolution.conv2d(x, k, b, ONE, "same", ONE);
                }
            });
            x.setRequiresGrad(cin > 1);   // the first layer's input needs no gradient in a CNN
            k.setRequiresGrad(true);
            b.setRequiresGrad(true);
            String both = time(reps, () -> {
                try (Scope s = Scope.open()) {
                    Convolution.conv2d(x, k, b, ONE, "same", ONE).backward(g);
                }
            });
            String pass = time(reps, () -> kernels.conv2d(geo, x, k, b, false, g));
            String data = time(reps, () -> kernels.conv2dBackwardData(geo, g, k, dx));
            String weights = time(reps, () -> kernels.conv2dBackwardWeights(geo, x, g, dk, db));
            System.out.printf("%-28s forward %s | fwd+bwd %s | fwd pass %s | bwd data %s | bwd weights %s%n",
                    name, fwd, both, pass, data, weights);
        } finally {
            for (Tensor t : new Tensor[] {x, k, b, g, dx, dk, db}) t.close();
        }
    }

    private static void maxPool(String name, int reps) {
        Tensor x = Tensor.randn(4, 32, 28, 28, 64).keep();
        Tensor g = Tensor.randn(5, 32, 14, 14, 64).keep();
        Tensor y = Tensor.empty(32, 14, 14, 64).keep();
        Tensor dx = Tensor.empty(32, 28, 28, 64).keep();
        ConvKernels.Geometry geo = new ConvKernels.Geometry(32, 28, 28, 64, 14, 14, 64, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0);
        ConvKernels kernels = x.backend().conv();
        long wsBytes = kernels.pool2dWorkspaceBytes(ConvKernels.PoolKind.MAX, geo, x.dtype());
        var block = x.backend().pool().allocate(wsBytes, 0);
        long workspace = block.address();
        kernels.pool2d(ConvKernels.PoolKind.MAX, geo, x, y, workspace);
        try {
            int[] two = {2, 2};
            String fwd = time(reps, () -> {
                try (Scope s = Scope.open(); GradMode.Guard off = GradMode.disable()) {
                    Pooling.maxPool2d(x, two, null, "valid");
                }
            });
            x.setRequiresGrad(true);
            String train = time(reps, () -> {
                try (Scope s = Scope.open()) {
                    Pooling.maxPool2d(x, two, null, "valid");
                }
            });
            String both = time(reps, () -> {
                try (Scope s = Scope.open()) {
                    Pooling.maxPool2d(x, two, null, "valid").backward(g);
                }
            });
            String bwd = time(reps, () -> kernels.pool2dBackward(ConvKernels.PoolKind.MAX, geo, null, g, workspace, dx));
            System.out.printf("%-28s forward %s | training fwd %s | fwd+bwd %s | bwd %s%n", name, fwd, train, both, bwd);
        } finally {
            x.backend().pool().release(block);
            for (Tensor t : new Tensor[] {x, g, y, dx}) t.close();
        }
    }

    /** "best/median" milliseconds of {@code reps} runs after a warm-up. */
    private static String time(int reps, Runnable r) {
        for (int i = 0; i < Math.max(3, reps / 5); i++) r.run();
        double[] t = new double[reps];
        for (int i = 0; i < reps; i++) {
            long t0 = System.nanoTime();
            r.run();
            t[i] = (System.nanoTime() - t0) / 1e6;
        }
        Arrays.sort(t);
        return String.format("%6.3f/%6.3f", t[0], t[reps / 2]);
    }
}
