package dev.soma.cli;

import dev.soma.serve.Predictor;
import dev.soma.util.CpuInfo;
import dev.soma.zoo.ReferenceModels;
import dev.soma.model.Sequential;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * {@code soma bench serve-load}: a {@link Predictor} serving caller threads for a fixed time, first alone and then
 * next to the embedding service's own busy threads (in the same JVM), in one run. Prints requests/s and latency
 * percentiles per configuration, and the loaded throughput as a fraction of the quiet one next to the fair share
 * of the cores the busy threads leave (cores / (cores + busy)): a service that keeps near its fair share has not
 * collapsed; one whose thread teams wait on preempted members falls far below it.
 */
@Command(name = "serve-load", mixinStandardHelpOptions = true,
        description = "Predictor throughput and latency, alone and next to busy threads in the same JVM")
final class ServeLoadBench implements Runnable {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", defaultValue = "cnn", description = "cnn or mlp (default ${DEFAULT-VALUE})")
    String model;

    @Option(names = "--callers", defaultValue = "4", description = "request threads (default ${DEFAULT-VALUE})")
    int callers;

    @Option(names = "--max-batch", defaultValue = "16", description = "1: each call on its caller's thread; >1: batched (default ${DEFAULT-VALUE})")
    int maxBatch;

    @Option(names = "--busy", defaultValue = "0,2", split = ",", description = "busy threads beside the service, one run each (default ${DEFAULT-VALUE})")
    int[] busy;

    @Option(names = "--seconds", defaultValue = "5", description = "timed seconds per run (default ${DEFAULT-VALUE})")
    double seconds;

    @picocli.CommandLine.Mixin
    DeviceOption deviceOption = new DeviceOption();

    @Override
    public void run() {
        if (callers <= 0 || maxBatch <= 0 || seconds <= 0) {
            throw new IllegalArgumentException("bench serve-load: callers, max-batch and seconds must be > 0");
        }
        for (int b : busy) if (b < 0) throw new IllegalArgumentException("bench serve-load: busy threads must be >= 0, got " + b);
        dev.soma.tensor.Device device = deviceOption.resolve();
        PrintWriter out = spec.commandLine().getOut();
        CpuInfo cpu = CpuInfo.host();
        int cores = Runtime.getRuntime().availableProcessors();
        out.printf(Locale.ROOT, "model=%s callers=%d mode=%s device=%s cpu=\"%s\" isa=%s cores=%d threads=%s%n", model,
                callers, maxBatch > 1 ? "batched(max " + maxBatch + ")" : "direct", device, cpu.model(), cpu.isa(), cores,
                System.getenv().getOrDefault("OMP_NUM_THREADS", "?"));
        Predictor.Options options = (maxBatch > 1 ? Predictor.Options.batched(maxBatch, Duration.ofMillis(1))
                : Predictor.Options.direct()).on(device);
        Sequential m = ReferenceModels.imageClassifier(model, 10);
        m.seed(1).build(28, 28, 1);
        double quiet = Double.NaN;
        try (Predictor p = Predictor.of(m, options)) { // the Predictor owns and closes the model
            float[][] inputs = inputs();
            for (int i = 0; i < 300; i++) p.predict(inputs[i % inputs.length]); // JIT and primitives
            for (int b : busy) {
                double[] r = measure(p, inputs, b);
                if (b == 0) quiet = r[0];
                String vsQuiet = Double.isNaN(quiet) || b == 0 ? ""
                        : String.format(Locale.ROOT, " loaded/quiet=%.2f fair_share=%.2f", r[0] / quiet, cores / (double) (cores + b));
                out.printf(Locale.ROOT, "busy=%d requests_per_s=%.0f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f%s%n", b, r[0], r[1],
                        r[2], r[3], vsQuiet);
                out.flush();
            }
        }
    }

    private static float[][] inputs() {
        float[][] x = new float[64][28 * 28];
        SplittableRandom r = new SplittableRandom(3);
        for (float[] row : x) for (int j = 0; j < row.length; j++) row[j] = (float) r.nextDouble();
        return x;
    }

    /** {requests/s, p50, p99, max ms} with {@code busyThreads} spinning beside the callers. */
    private double[] measure(Predictor p, float[][] inputs, int busyThreads) {
        AtomicBoolean stop = new AtomicBoolean();
        List<Thread> spinners = new ArrayList<>();
        for (int i = 0; i < busyThreads; i++) {
            Thread t = new Thread(() -> {
                long x = 0;
                while (!stop.get()) x += x * 31 + 7; // the service's own CPU-bound work
                if (x == 42) System.out.print("");
            }, "busy-" + i);
            t.setDaemon(true);
            t.start();
            spinners.add(t);
        }
        long deadline = System.nanoTime() + (long) (seconds * 1e9);
        List<long[]> latencies = new ArrayList<>();
        int[] counts = new int[callers];
        CountDownLatch done = new CountDownLatch(callers);
        long begin = System.nanoTime();
        for (int c = 0; c < callers; c++) {
            long[] mine = new long[1 << 20];
            latencies.add(mine);
            int id = c;
            Thread t = new Thread(() -> {
                try {
                    SplittableRandom r = new SplittableRandom(id);
                    int n = 0;
                    while (System.nanoTime() < deadline && n < mine.length) {
                        long t0 = System.nanoTime();
                        p.predict(inputs[r.nextInt(inputs.length)]);
                        mine[n++] = System.nanoTime() - t0;
                    }
                    counts[id] = n;
                } finally {
                    done.countDown();
                }
            }, "caller-" + c);
            t.start();
        }
        try {
            done.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("bench serve-load: interrupted", e);
        } finally {
            stop.set(true);
        }
        double elapsed = (System.nanoTime() - begin) / 1e9;
        int total = Arrays.stream(counts).sum();
        long[] all = new long[total];
        int k = 0;
        for (int c = 0; c < callers; c++) {
            System.arraycopy(latencies.get(c), 0, all, k, counts[c]);
            k += counts[c];
        }
        Arrays.sort(all);
        if (total == 0) return new double[] {0, Double.NaN, Double.NaN, Double.NaN};
        return new double[] {total / elapsed, all[total / 2] / 1e6, all[(int) Math.min(total - 1, Math.ceil(total * 0.99) - 1)] / 1e6,
                all[total - 1] / 1e6};
    }
}
