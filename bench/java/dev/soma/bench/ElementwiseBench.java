package dev.soma.bench;

import dev.soma.backend.ElementwiseKernels.BinaryOp;
import dev.soma.backend.ElementwiseKernels.UnaryOp;
import dev.soma.ops.Elementwise;
import dev.soma.tensor.Tensor;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * Memory bandwidth of the CPU element-wise kernels on 1<<22 f32 elements (16 MiB per tensor, beyond the caches).
 * The {@code GBps} column is the achieved bandwidth: bytes moved (each input read once, the output written
 * once: 12 bytes per element for add, 8 for relu) per second, in 1e9 bytes. {@code add}/{@code relu} go
 * through the op (validation, allocation from the pool, kernel); {@code *Kernel} call the backend kernel into
 * a preallocated output; {@code copyBaseline} (a parallel memcpy of one tensor, 8 bytes per element) is the
 * reference measured in the same run. Run from the worktree root:
 * <pre>
 * mvn -q -o test-compile
 * mvn -q -o dependency:build-classpath -Dmdep.outputFile=target/test.cp -Dmdep.includeScope=test
 * OMP_NUM_THREADS=2 java -cp target/test-classes:target/classes:$(cat target/test.cp) \
 *     org.openjdk.jmh.Main ElementwiseBench -f 1 -wi 2 -i 3 -r 1s
 * </pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(1)
public class ElementwiseBench {
    static final int N = 1 << 22;

    Tensor a;
    Tensor b;
    Tensor out;

    /** Bytes moved, normalised by JMH to a rate: the column reads directly in GB/s. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Bandwidth {
        public double GBps;

        @Setup(Level.Iteration)
        public void reset() {
            GBps = 0;
        }
    }

    @Setup
    public void setup() {
        SplittableRandom r = new SplittableRandom(1);
        float[] x = new float[N];
        float[] y = new float[N];
        for (int i = 0; i < N; i++) {
            x[i] = (float) r.nextGaussian();
            y[i] = (float) r.nextGaussian();
        }
        a = Tensor.of(x);
        b = Tensor.of(y);
        out = Tensor.empty(N);
    }

    @TearDown
    public void tearDown() {
        a.close();
        b.close();
        out.close();
    }

    @Benchmark
    public void add(Bandwidth bw) {
        Elementwise.add(a, b).close();
        bw.GBps += 12.0 * N / 1e9;
    }

    @Benchmark
    public void relu(Bandwidth bw) {
        Elementwise.relu(a).close();
        bw.GBps += 8.0 * N / 1e9;
    }

    @Benchmark
    public void addKernel(Bandwidth bw) {
        a.backend().elementwise().binary(BinaryOp.ADD, a, b, out);
        bw.GBps += 12.0 * N / 1e9;
    }

    @Benchmark
    public void reluKernel(Bandwidth bw) {
        a.backend().elementwise().unary(UnaryOp.RELU, a, out, 0, 0);
        bw.GBps += 8.0 * N / 1e9;
    }

    @Benchmark
    public void copyBaseline(Bandwidth bw) {
        a.backend().memory().copy(a, out);
        bw.GBps += 8.0 * N / 1e9;
    }
}
