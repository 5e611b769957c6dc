/*
 * Soma matmul (oneDNN) against OpenBLAS cblas_sgemm, f32, row-major C = A·B, in GFLOP/s.
 *
 * Run (from the repository root, after `mvn -o -q test-compile`; prints JMH's output, then a table):
 *
 *   mvn -o -q dependency:build-classpath -Dmdep.outputFile=target/cp.txt
 *   OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=1 java -cp target/test-classes:target/classes:$(cat target/cp.txt) \
 *       dev.soma.bench.MatmulBench -wi 3 -i 5
 *
 * Any JMH option may follow (-f, -wi, -i, -p shape=...). -Dsoma.bench.rounds=R (before the class name; default 2)
 * repeats the set, alternating Soma and OpenBLAS forks shape by shape; the table takes the median and the best
 * iteration over all rounds. Every benchmark runs in its own forked JVM, so the two libraries' thread pools never
 * meet: the Soma fork loads oneDNN and its libgomp (OMP_NUM_THREADS from the environment, which must be set
 * before the JVM starts), the OpenBLAS fork loads only OpenBLAS and sets it to BLAS_THREADS (2) threads itself,
 * whatever OPENBLAS_NUM_THREADS says.
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
import org.openjdk.jmh.results.BenchmarkResult;
import org.openjdk.jmh.results.IterationResult;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.CommandLineOptions;
import org.openjdk.jmh.runner.options.OptionsBuilder;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
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

    /** Runs JMH, waiting while another JMH instance on this machine holds its lock (shared build hosts). */
    private static Collection<RunResult> runPolitely(Runner runner) throws Exception {
        for (int attempt = 0; ; attempt++) {
            try {
                return runner.run();
            } catch (RunnerException e) {
                if (attempt >= 60 || e.getMessage() == null || !e.getMessage().contains("JMH lock")) throw e;
                Thread.sleep(10_000);
            }
        }
    }

    /**
     * Runs both benchmarks and prints GFLOP/s and the ratio per shape. JMH options come from the command line;
     * {@code -Dsoma.bench.rounds=R} (default 2) repeats the whole set R times, alternating Soma and OpenBLAS forks
     * shape by shape, so that on a shared, noisy host both libraries meet the same background load.
     */
    public static void main(String[] args) throws Exception {
        CommandLineOptions cmd = new CommandLineOptions(args);
        int rounds = Integer.getInteger("soma.bench.rounds", 2);
        String[] shapes = cmd.getParameter("shape").hasValue()
                ? cmd.getParameter("shape").get().toArray(new String[0]) : SHAPES;
        // Iteration times (ms/op) per shape and library (0 = Soma, 1 = OpenBLAS), over all rounds.
        Map<String, List<List<Double>>> times = new LinkedHashMap<>();
        for (String shape : shapes) times.put(shape, List.of(new ArrayList<>(), new ArrayList<>()));
        for (int round = 0; round < rounds; round++) {
            for (String shape : shapes) {
                for (int lib = 0; lib < 2; lib++) {
                    OptionsBuilder options = new OptionsBuilder();
                    options.parent(cmd);
                    options.include(MatmulBench.class.getName() + "\\." + (lib == 0 ? "soma" : "openblas") + "$");
                    options.param("shape", shape);
                    for (RunResult r : runPolitely(new Runner(options.build()))) {
                        for (BenchmarkResult b : r.getBenchmarkResults()) {
                            for (IterationResult it : b.getIterationResults()) {
                                times.get(shape).get(lib).add(it.getPrimaryResult().getScore());
                            }
                        }
                    }
                }
            }
        }
        System.out.println();
        System.out.printf("%-20s %12s %12s %7s   %12s %12s %7s%n", "M x N x K", "Soma med", "OpenBLAS med", "ratio",
                "Soma best", "OpenBLAS best", "ratio");
        for (String shape : shapes) {
            long[] d = mnk(shape);
            double flop = 2.0 * d[0] * d[1] * d[2];
            double[] med = new double[2];
            double[] best = new double[2];
            for (int lib = 0; lib < 2; lib++) {
                List<Double> t = new ArrayList<>(times.get(shape).get(lib));
                Collections.sort(t);
                med[lib] = t.isEmpty() ? Double.NaN : flop / (t.get(t.size() / 2) * 1e-3) / 1e9;
                best[lib] = t.isEmpty() ? Double.NaN : flop / (t.get(0) * 1e-3) / 1e9;
            }
            System.out.printf("%-20s %12.1f %12.1f %6.0f%%   %12.1f %12.1f %6.0f%%%n",
                    shape + (bTransposed(shape) ? " (Bt)" : ""), med[0], med[1], 100 * med[0] / med[1],
                    best[0], best[1], 100 * best[0] / best[1]);
        }
        System.out.println("GFLOP/s from the median and from the best measured iteration over " + rounds
                + " round(s); ratio = Soma / OpenBLAS.");
    }
}
