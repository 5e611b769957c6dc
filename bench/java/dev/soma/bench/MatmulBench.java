/*
 * Soma matmul (oneDNN) against OpenBLAS cblas_sgemm, f32, row-major C = A·B, in GFLOP/s.
 *
 * Run (from the repository root, after `mvn -o -q test-compile`; prints JMH's output, then a table):
 *
 *   mvn -o -q dependency:build-classpath -Dmdep.outputFile=target/cp.txt
 *   OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=1 java -cp target/test-classes:target/classes:$(cat target/cp.txt) \
 *       dev.soma.bench.MatmulBench -wi 3 -i 5
 *
 * Any JMH option may follow (-f, -wi, -i, -p shape=...). Every benchmark runs in its own forked JVM, so the two
 * libraries' thread pools never meet: the Soma fork loads oneDNN and its libgomp (OMP_NUM_THREADS from the
 * environment, which must be set before the JVM starts), the OpenBLAS fork loads only OpenBLAS and sets it
 * to BLAS_THREADS (2) threads itself, whatever OPENBLAS_NUM_THREADS says.
 *
 * Shapes (M x N x K): 1024³; 25088x64x288 (conv2 of the reference CNN as im2col); 32x128x12544 (dense forward,
 * B given transposed: a [N, K] weight matrix used as Wᵀ, a transposed view for Soma and CblasTrans for OpenBLAS).
 */
package dev.soma.bench;

import dev.soma.backend.Backends;
import dev.soma.jni.CpuKernels;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.openblas.global.openblas;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.CommandLineOptions;
import org.openjdk.jmh.runner.options.OptionsBuilder;

import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(1)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class MatmulBench {
    static final int BLAS_THREADS = 2;
    static final String[] SHAPES = {"1024x1024x1024", "25088x64x288", "32x128x12544"};

    /** M, N, K of a shape name; the last shape's B is transposed. */
    static long[] mnk(String shape) {
        String[] p = shape.split("x");
        return new long[] {Long.parseLong(p[0]), Long.parseLong(p[1]), Long.parseLong(p[2])};
    }

    static boolean bTransposed(String shape) {
        return shape.equals("32x128x12544");
    }

    static float[] random(long n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextDouble(-1, 1);
        return v;
    }

    @State(Scope.Benchmark)
    public static class SomaState {
        @Param({"1024x1024x1024", "25088x64x288", "32x128x12544"})
        public String shape;
        Tensor a;
        Tensor bStorage;
        Tensor b;

        @Setup(Level.Trial)
        public void setup() {
            long[] s = mnk(shape);
            long m = s[0], n = s[1], k = s[2];
            a = Tensor.of(random(m * k, 1), m, k);
            if (bTransposed(shape)) {
                bStorage = Tensor.of(random(k * n, 2), n, k);
                b = bStorage.transpose(0, 1);
            } else {
                bStorage = Tensor.of(random(k * n, 2), k, n);
                b = bStorage;
            }
            try (Tensor out = Tensor.empty(DType.F32, Device.cpu(), m, n)) {
                System.out.println("# soma: " + CpuKernels.soma_cpu_threads() + " OpenMP threads, "
                        + Backends.cpu().linalg().matmulImplementation(a, b, out));
            }
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            if (b != bStorage) b.close();
            bStorage.close();
            a.close();
        }
    }

    @State(Scope.Benchmark)
    public static class BlasState {
        @Param({"1024x1024x1024", "25088x64x288", "32x128x12544"})
        public String shape;
        int m, n, k;
        FloatPointer a, b, c;

        @Setup(Level.Trial)
        public void setup() {
            long[] s = mnk(shape);
            m = (int) s[0];
            n = (int) s[1];
            k = (int) s[2];
            a = new FloatPointer(random((long) m * k, 1));
            b = new FloatPointer(random((long) k * n, 2));
            c = new FloatPointer((long) m * n);
            openblas.blas_set_num_threads(BLAS_THREADS);
            System.out.println("# openblas: " + openblas.blas_get_num_threads() + " threads");
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            a.close();
            b.close();
            c.close();
        }
    }

    @Benchmark
    public void soma(SomaState s) {
        try (Tensor c = s.a.matmul(s.b)) {
            // the product is the work; closing returns its block to the pool
        }
    }

    @Benchmark
    public void openblas(BlasState s) {
        boolean t = bTransposed(s.shape);
        openblas.cblas_sgemm(openblas.CblasRowMajor, openblas.CblasNoTrans, t ? openblas.CblasTrans : openblas.CblasNoTrans,
                s.m, s.n, s.k, 1f, s.a, s.k, s.b, t ? s.k : s.n, 0f, s.c, s.n);
    }

    /** Runs both benchmarks (JMH options from the command line) and prints GFLOP/s and the ratio per shape. */
    public static void main(String[] args) throws Exception {
        CommandLineOptions cmd = new CommandLineOptions(args);
        OptionsBuilder options = new OptionsBuilder();
        options.parent(cmd);
        if (cmd.getIncludes().isEmpty()) options.include(MatmulBench.class.getName() + "\\.");
        Collection<RunResult> results = new Runner(options.build()).run();
        // Per shape: Soma mean, OpenBLAS mean, Soma best iteration, OpenBLAS best iteration (GFLOP/s). On a shared,
        // noisy host the best iteration says more about what each library can do than the mean.
        Map<String, double[]> gflops = new LinkedHashMap<>();
        for (String s : SHAPES) gflops.put(s, new double[] {Double.NaN, Double.NaN, Double.NaN, Double.NaN});
        for (RunResult r : results) {
            String shape = r.getParams().getParam("shape");
            int col = r.getParams().getBenchmark().endsWith(".soma") ? 0 : 1;
            long[] d = mnk(shape);
            double flop = 2.0 * d[0] * d[1] * d[2];
            double[] row = gflops.computeIfAbsent(shape, x -> new double[] {Double.NaN, Double.NaN, Double.NaN, Double.NaN});
            row[col] = flop / (r.getPrimaryResult().getScore() * 1e-3) / 1e9;
            row[col + 2] = flop / (r.getPrimaryResult().getStatistics().getMin() * 1e-3) / 1e9;
        }
        System.out.println();
        System.out.printf("%-20s %10s %10s %7s   %10s %10s %7s%n", "M x N x K", "Soma", "OpenBLAS", "ratio",
                "Soma best", "BLAS best", "ratio");
        for (Map.Entry<String, double[]> e : gflops.entrySet()) {
            double[] g = e.getValue();
            System.out.printf("%-20s %10.1f %10.1f %6.0f%%   %10.1f %10.1f %6.0f%%%n",
                    e.getKey() + (bTransposed(e.getKey()) ? " (Bt)" : ""), g[0], g[1], 100 * g[0] / g[1],
                    g[2], g[3], 100 * g[2] / g[3]);
        }
        System.out.println("GFLOP/s from the mean and from the best measured iteration; ratio = Soma / OpenBLAS.");
    }
}
