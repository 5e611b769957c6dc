/*
 * The fused attention op against the plain path (matmul -> softmax -> matmul), f32, batch 4, 8 heads of 64:
 * milliseconds and GFLOP/s of forward and forward + backward, and the pool's peak bytes, per sequence length.
 *
 * Run (from the repository root, after `mvn -o -q test-compile`):
 *
 *   mvn -o -q dependency:build-classpath -Dmdep.outputFile=target/cp.txt
 *   OMP_NUM_THREADS=2 java -cp target/test-classes:target/classes:$(cat target/cp.txt) \
 *       dev.soma.bench.AttentionBench [--t 128,512,2048] [--plain-max 512] [--reps 3] [--causal] [--b 4 --h 8 --d 64]
 *
 * FLOPs counted as the plain path's products (the same numerator for both paths): forward 4·B·H·T²·D
 * (Q·Kᵀ and P·V), backward 8·B·H·T²·D (dV, dP, dQ, dK); the fused backward also recomputes Q·Kᵀ, which is
 * not counted. The plain path stores several B·H·T² tensors, so by default it runs only up to T = 512
 * (2048 needs ~3 GiB more).
 */
package dev.soma.bench;

import dev.soma.backend.Backends;
import dev.soma.memory.Scope;
import dev.soma.ops.Attention;
import dev.soma.ops.Creation;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

import java.util.Arrays;
import java.util.Locale;

public final class AttentionBench {
    private static int B = 4, H = 8, D = 64;

    private AttentionBench() {}

    public static void main(String[] args) {
        int[] ts = {128, 512, 2048};
        int plainMax = 512;
        int reps = 3;
        boolean causal = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--t" -> ts = Arrays.stream(args[++i].split(",")).mapToInt(Integer::parseInt).toArray();
                case "--plain-max" -> plainMax = Integer.parseInt(args[++i]);
                case "--reps" -> reps = Integer.parseInt(args[++i]);
                case "--causal" -> causal = true;
                case "--b" -> B = Integer.parseInt(args[++i]);
                case "--h" -> H = Integer.parseInt(args[++i]);
                case "--d" -> D = Integer.parseInt(args[++i]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        System.out.printf(Locale.ROOT, "attention B=%d H=%d D=%d causal=%b threads=%s%n", B, H, D, causal,
                System.getenv().getOrDefault("OMP_NUM_THREADS", "?"));
        System.out.printf(Locale.ROOT, "%-6s %-6s %10s %10s %12s %12s %12s%n", "T", "path", "fwd_ms", "fwd+bwd_ms",
                "fwd_GFLOP/s", "f+b_GFLOP/s", "peak_MiB");
        for (int t : ts) {
            run(t, true, causal, reps);
            if (t <= plainMax) run(t, false, causal, reps);
        }
    }

    private static void run(int t, boolean fused, boolean causal, int reps) {
        double fwdFlops = 4.0 * B * H * (double) t * t * D;
        double fwdMs = Double.MAX_VALUE, allMs = Double.MAX_VALUE;
        long peak = 0;
        try (Scope s = Scope.open()) {
            Tensor q = Creation.randn(1, DType.F32, Device.cpu(), B, H, t, D).setRequiresGrad(true);
            Tensor k = Creation.randn(2, DType.F32, Device.cpu(), B, H, t, D).setRequiresGrad(true);
            Tensor v = Creation.randn(3, DType.F32, Device.cpu(), B, H, t, D).setRequiresGrad(true);
            Attention.Options o = new Attention.Options().causal(causal);
            for (int r = 0; r <= reps; r++) {  // r = 0 warms up
                try (Scope step = Scope.open()) {
                    Backends.cpu().pool().resetPeaks();
                    long base = Backends.cpu().pool().stats().allocatedBytes();
                    long t0 = System.nanoTime();
                    Tensor out = fused ? Attention.scaledDotProduct(q, k, v, o) : Attention.plain(q, k, v, o).output();
                    long t1 = System.nanoTime();
                    out.sum().backward();
                    long t2 = System.nanoTime();
                    peak = Math.max(peak, Backends.cpu().pool().stats().peakAllocatedBytes() - base);
                    if (r > 0) {
                        fwdMs = Math.min(fwdMs, (t1 - t0) / 1e6);
                        allMs = Math.min(allMs, (t2 - t0) / 1e6);
                    }
                }
                for (Tensor x : new Tensor[] {q, k, v}) x.zeroGrad();
            }
        }
        System.out.printf(Locale.ROOT, "%-6d %-6s %10.2f %10.2f %12.1f %12.1f %12.1f%n", t, fused ? "fused" : "plain",
                fwdMs, allMs, fwdFlops / fwdMs / 1e6, 3 * fwdFlops / allMs / 1e6, peak / 1048576.0);
    }
}
