/*
 * The reference CNN's second convolution with ReLU and its max pooling (batch 32, 28x28x32 -> 64, 3x3 same, then
 * 2x2), forward and backward, as one op (ConvolutionPooling.conv2dReluMaxPool, what a Sequential runs) against the
 * two ops (Convolution.conv2dRelu, then Pooling.maxPool2d), in f32 and in a bf16 scope. The four variants take turns
 * in blocks of 10 calls, so that a noisy host slows them alike; each figure is "best/median" ms per call.
 *
 * Run (from the repository root, after `mvn -o -q test-compile`):
 *
 *   mvn -o -q dependency:build-classpath -Dmdep.outputFile=target/cp.txt
 *   OMP_NUM_THREADS=2 java -cp target/test-classes:target/classes:$(cat target/cp.txt) dev.soma.bench.ConvPoolBench [blocks]
 */
package dev.soma.bench;

import dev.soma.backend.MixedPrecision;
import dev.soma.memory.Scope;
import dev.soma.ops.Convolution;
import dev.soma.ops.ConvolutionPooling;
import dev.soma.ops.Pooling;
import dev.soma.tensor.Precision;
import dev.soma.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

public final class ConvPoolBench {
    private static final int[] ONE = {1, 1};
    private static final int[] TWO = {2, 2};
    private static final int BLOCK = 10;

    private ConvPoolBench() {}

    public static void main(String[] args) {
        int blocks = args.length > 0 ? Integer.parseInt(args[0]) : 30;
        boolean bf16 = MixedPrecision.bf16UnsupportedReason() == null;
        Tensor x = Tensor.randn(1, 32, 28, 28, 32).keep();
        Tensor k;
        try (Scope s = Scope.open()) {
            k = Tensor.randn(2, 3, 3, 32, 64).mul(0.1).keep();
        }
        Tensor b = Tensor.zeros(64).keep();
        for (Tensor t : new Tensor[] {x, k, b}) t.setRequiresGrad(true);
        Tensor g = Tensor.randn(3, 32, 14, 14, 64).keep();
        String[] names = {"f32 fused", "f32 two ops", "bf16 fused", "bf16 two ops"};
        List<List<Double>> times = new ArrayList<>();
        for (int v = 0; v < 4; v++) times.add(new ArrayList<>());
        try {
            for (int block = -2; block < blocks; block++) {       // two blocks of warm-up
                for (int v = 0; v < (bf16 ? 4 : 2); v++) {
                    int variant = (v + Math.max(block, 0)) % (bf16 ? 4 : 2);   // each block starts with another variant
                    for (int i = 0; i < BLOCK; i++) {
                        long t0 = System.nanoTime();
                        step(x, k, b, g, variant % 2 == 0, variant >= 2);
                        if (block >= 0) times.get(variant).add((System.nanoTime() - t0) / 1e6);
                    }
                }
            }
        } finally {
            for (Tensor t : new Tensor[] {x, k, b, g}) t.close();
        }
        System.out.println("OMP_NUM_THREADS=" + System.getenv("OMP_NUM_THREADS") + ", " + blocks + " blocks of " + BLOCK
                + " calls, forward + backward, best/median ms" + (bf16 ? "" : " (no bf16 on this CPU)"));
        for (int v = 0; v < (bf16 ? 4 : 2); v++) {
            double[] t = times.get(v).stream().mapToDouble(Double::doubleValue).toArray();
            Arrays.sort(t);
            System.out.printf("%-14s %6.3f/%6.3f%n", names[v], t[0], t[t.length / 2]);
        }
    }

    private static void step(Tensor x, Tensor k, Tensor b, Tensor g, boolean fused, boolean bf16) {
        try (Scope s = Scope.open();
             MixedPrecision.Scope p = MixedPrecision.use(bf16 ? Precision.BF16 : Precision.F32)) {
            Tensor y = fused ? ConvolutionPooling.conv2dReluMaxPool(x, k, b, ONE, "same", ONE, TWO, null, "valid")
                    : Pooling.maxPool2d(Convolution.conv2dRelu(x, k, b, ONE, "same", ONE), TWO, null, "valid");
            y.backward(g);
            x.zeroGrad();
            k.zeroGrad();
            b.zeroGrad();
        }
    }
}
