/*
 * The LSTM op alone, f32, forward (training) and backward through time, on the peers' lstm layer: T=100, N=32,
 * 64 -> 128. Prints the median and minimum of each pass. This plain case runs on oneDNN's LSTM primitive;
 * -Dsoma.rnn.library=false (before the class name) times our fused gate kernels around oneDNN matmuls instead.
 *
 * Run (from the repository root, after `mvn -o -q test-compile`, with CP as in bench/README.md):
 *
 *   OMP_NUM_THREADS=2 java -cp "$CP" [-Dsoma.rnn.library=false] dev.soma.bench.RecurrentBench [--reps 50]
 *       [--t 100 --n 32 --f 64 --h 128]
 */
package dev.soma.bench;

import dev.soma.backend.RecurrentKernels;
import dev.soma.memory.Scope;
import dev.soma.ops.Creation;
import dev.soma.ops.Recurrent;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

import java.util.Arrays;
import java.util.Locale;

public final class RecurrentBench {
    private RecurrentBench() {}

    public static void main(String[] args) {
        LstmBenchArgs a = LstmBenchArgs.parse(args);
        int reps = a.reps(), t = a.t(), n = a.n(), f = a.f(), h = a.h();
        double[] fwd = new double[reps];
        double[] bwd = new double[reps];
        try (Scope s = Scope.open()) {
            Tensor x = Creation.randn(1, DType.F32, Device.cpu(), n, t, f).mul(0.5).setRequiresGrad(true);
            Tensor w = Creation.randn(2, DType.F32, Device.cpu(), f, 4 * h).mul(0.1).setRequiresGrad(true);
            Tensor u = Creation.randn(3, DType.F32, Device.cpu(), h, 4 * h).mul(0.1).setRequiresGrad(true);
            Tensor b = Tensor.zeros(DType.F32, Device.cpu(), 4 * h).setRequiresGrad(true);
            for (int r = -10; r < reps; r++) {  // 10 warm-up repetitions
                try (Scope step = Scope.open()) {
                    long t0 = System.nanoTime();
                    Tensor y = Recurrent.run(RecurrentKernels.Cell.LSTM, "tanh", "sigmoid", false, false, x, w, u, b,
                            null, null, null);
                    long t1 = System.nanoTime();
                    y.sum().backward();
                    long t2 = System.nanoTime();
                    if (r >= 0) {
                        fwd[r] = (t1 - t0) / 1e6;
                        bwd[r] = (t2 - t1) / 1e6;
                    }
                    for (Tensor p : new Tensor[] {x, w, u, b}) p.zeroGrad();
                }
            }
        }
        Arrays.sort(fwd);
        Arrays.sort(bwd);
        System.out.printf(Locale.ROOT, "%s: forward median %.2f ms (min %.2f), backward median %.2f ms (min %.2f)%n",
                a.describe(), fwd[reps / 2], fwd[0], bwd[reps / 2], bwd[0]);
        System.out.println(dev.soma.backend.Backends.cpu().pool().stats());
    }
}
