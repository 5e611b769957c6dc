/*
 * Dense's epilogue on the CPU, f32: act(y + bias) as the fused op against add-then-activation (the unfused
 * composition it replaces), forward alone and forward + backward (y.backward(g): dy and dbias), in ms as
 * "best/median" of a short timed loop (a shared, noisy host: compare figures of one run).
 *
 * Run (from the repository root, after `mvn -o -q test-compile`):
 *
 *   mvn -o -q dependency:build-classpath -Dmdep.outputFile=target/cp.txt
 *   OMP_NUM_THREADS=2 java -cp target/test-classes:target/classes:$(cat target/cp.txt) dev.soma.bench.BiasActivationBench [reps]
 */
package dev.soma.bench;

import dev.soma.autograd.GradMode;
import dev.soma.backend.ElementwiseKernels.BiasActivation;
import dev.soma.memory.Scope;
import dev.soma.tensor.Tensor;

import java.util.Arrays;
import java.util.function.BiFunction;

public final class BiasActivationBench {
    private BiasActivationBench() {}

    public static void main(String[] args) {
        int reps = args.length > 0 ? Integer.parseInt(args[0]) : 20;
        System.out.println("OMP_NUM_THREADS=" + System.getenv("OMP_NUM_THREADS") + ", " + reps + " reps, best/median ms");
        for (long[] shape : new long[][] {{256, 1024}, {4096, 1024}}) {
            for (BiasActivation act : new BiasActivation[] {BiasActivation.RELU, BiasActivation.GELU}) {
                row(shape, act, reps);
            }
        }
    }

    private static void row(long[] shape, BiasActivation act, int reps) {
        Tensor y = Tensor.randn(1, shape).keep();
        Tensor b = Tensor.randn(2, shape[1]).keep();
        Tensor g = Tensor.randn(3, shape).keep();
        BiFunction<Tensor, Tensor, Tensor> fused = (yy, bb) -> dev.soma.ops.BiasActivation.apply(yy, bb, act, 0.2);
        BiFunction<Tensor, Tensor, Tensor> unfused = (yy, bb) -> act == BiasActivation.RELU ? yy.add(bb).relu()
                : yy.add(bb).gelu();
        try {
            String name = act + " " + Arrays.toString(shape);
            System.out.printf("%-20s forward  fused %s  unfused %s%n", name, forward(fused, y, b, reps),
                    forward(unfused, y, b, reps));
            System.out.printf("%-20s fwd+bwd  fused %s  unfused %s%n", name, both(fused, y, b, g, reps),
                    both(unfused, y, b, g, reps));
        } finally {
            y.close();
            b.close();
            g.close();
        }
    }

    private static String forward(BiFunction<Tensor, Tensor, Tensor> f, Tensor y, Tensor b, int reps) {
        return time(reps, () -> {
            try (Scope s = Scope.open(); GradMode.Guard off = GradMode.disable()) {
                f.apply(y, b);
            }
        });
    }

    private static String both(BiFunction<Tensor, Tensor, Tensor> f, Tensor y, Tensor b, Tensor g, int reps) {
        return time(reps, () -> {
            try (Scope s = Scope.open()) {
                Tensor yy = y.detach().setRequiresGrad(true);
                Tensor bb = b.detach().setRequiresGrad(true);
                f.apply(yy, bb).backward(g);
                yy.zeroGrad();
                bb.zeroGrad();
            }
        });
    }

    private static String time(int reps, Runnable r) {
        for (int i = 0; i < 3; i++) r.run();
        double[] ms = new double[reps];
        for (int i = 0; i < reps; i++) {
            long t0 = System.nanoTime();
            r.run();
            ms[i] = (System.nanoTime() - t0) / 1e6;
        }
        Arrays.sort(ms);
        return String.format("%.3f/%.3f", ms[0], ms[reps / 2]);
    }
}
