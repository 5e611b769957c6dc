package dev.soma.bench;

import dev.soma.backend.Backends;
import dev.soma.memory.PoolStats;
import dev.soma.model.Sequential;
import dev.soma.serve.Predictor;
import dev.soma.zoo.ReferenceModels;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Load test of {@link Predictor}: N caller threads each make M {@code predict} calls on a reference model
 * (28x28x1 inputs, 10 classes) loaded from a checkpoint. Prints requests/s and p50/p99 latency for the first and
 * the last 10,000 calls and overall, and the pool's live bytes and the process RSS after the first and the last
 * 10,000 calls (flat numbers: no leak). Run from the worktree root after {@code mvn -q -o test-compile}:
 * <pre>
 * mvn -q -o dependency:build-classpath -Dmdep.outputFile=target/cp.txt
 * java -Xms512m -Xmx512m -XX:+AlwaysPreTouch -cp target/classes:target/test-classes:$(cat target/cp.txt) \
 *     dev.soma.bench.PredictorLoad \
 *     --model mlp --threads 8 --calls 50000 [--max-batch 32 --delay-us 500]
 * </pre>
 * A fixed, pre-touched heap keeps the JVM's own heap growth out of the RSS figures. {@code --calls} is per thread. {@code --max-batch 1} (the default) runs each call on its caller's thread.
 */
public final class PredictorLoad {
    private static final int WINDOW = 10_000;

    public static void main(String[] args) throws Exception {
        String model = "mlp";
        int threads = 8;
        int calls = 50_000;
        int maxBatch = 1;
        long delayUs = 500;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--model" -> model = args[++i];
                case "--threads" -> threads = Integer.parseInt(args[++i]);
                case "--calls" -> calls = Integer.parseInt(args[++i]);
                case "--max-batch" -> maxBatch = Integer.parseInt(args[++i]);
                case "--delay-us" -> delayUs = Long.parseLong(args[++i]);
                default -> throw new IllegalArgumentException("unknown argument " + args[i]
                        + " (expected --model, --threads, --calls, --max-batch, --delay-us)");
            }
        }
        long total = (long) threads * calls;
        if (total < 2L * WINDOW) throw new IllegalArgumentException("need at least " + 2 * WINDOW + " calls in all");

        Path dir = Files.createTempDirectory("soma-load");
        Path checkpoint = dir.resolve(model + ".safetensors");
        try (Sequential m = ReferenceModels.imageClassifier(model, 10)) {
            m.seed(1).build(28, 28, 1);
            m.save(checkpoint);
        }
        Predictor.Options options = maxBatch > 1 ? Predictor.Options.batched(maxBatch, Duration.ofNanos(delayUs * 1000))
                : Predictor.Options.direct();
        System.out.printf("model %s, %d threads x %d calls, %s, OMP_NUM_THREADS=%s, %d cores%n", model, threads, calls,
                maxBatch > 1 ? "batched (max " + maxBatch + ", delay " + delayUs + " us)" : "direct",
                System.getenv("OMP_NUM_THREADS"), Runtime.getRuntime().availableProcessors());

        float[][] inputs = new float[64][28 * 28];
        SplittableRandom r = new SplittableRandom(3);
        for (float[] x : inputs) for (int j = 0; j < x.length; j++) x[j] = (float) r.nextDouble();

        long[] latency = new long[(int) total];     // indexed by global call number (completion order)
        AtomicLong counter = new AtomicLong();
        String[] snapshots = new String[2];
        long trace = Math.max(WINDOW, total / 8);   // RSS samples along the run
        java.util.Queue<String> progress = new java.util.concurrent.ConcurrentLinkedQueue<>();
        long[] windowTimes = new long[4];           // start/end nanos of the first and last windows
        try (Predictor p = Predictor.load(checkpoint, options)) {
            for (int i = 0; i < 200; i++) p.predict(inputs[i % inputs.length]); // warm-up (JIT, primitives)
            CountDownLatch start = new CountDownLatch(1);
            Thread[] workers = new Thread[threads];
            int perThread = calls;
            for (int t = 0; t < threads; t++) {
                int seed = t;
                workers[t] = new Thread(() -> {
                    SplittableRandom rr = new SplittableRandom(seed);
                    try {
                        start.await();
                    } catch (InterruptedException e) {
                        return;
                    }
                    for (int k = 0; k < perThread; k++) {
                        long t0 = System.nanoTime();
                        float[] out = p.predict(inputs[rr.nextInt(inputs.length)]);
                        long t1 = System.nanoTime();
                        if (out.length != 10) throw new AssertionError("output of " + out.length);
                        long n = counter.getAndIncrement();
                        latency[(int) n] = t1 - t0;
                        if (n == 0) windowTimes[0] = t0;
                        if (n == WINDOW - 1) {
                            windowTimes[1] = t1;
                            snapshots[0] = snapshot("after the first " + WINDOW + " calls");
                        }
                        if (n > 0 && n % trace == 0) progress.add(String.format("  %,9d calls: RSS %,d KiB, pool live %,d B",
                                n, rssKiB(), Backends.cpu().pool().stats().allocatedBytes()));
                        if (n == total - WINDOW) windowTimes[2] = t0;
                        if (n == total - 1) {
                            windowTimes[3] = t1;
                            snapshots[1] = snapshot("after the last " + WINDOW + " calls ");
                        }
                    }
                }, "caller-" + t);
                workers[t].start();
            }
            long begin = System.nanoTime();
            start.countDown();
            for (Thread w : workers) w.join();
            long end = System.nanoTime();
            Predictor.Stats s = p.stats();
            System.out.printf("overall: %,d calls in %.1f s = %,.0f requests/s, %s; mean batch %.1f, failures %d%n",
                    total, (end - begin) / 1e9, total / ((end - begin) / 1e9),
                    percentiles(latency, 0, (int) total), s.meanBatchSize(), s.failures());
            System.out.printf("first %,d calls: %s%n", WINDOW, percentiles(latency, 0, WINDOW));
            System.out.printf("last  %,d calls: %s%n", WINDOW, percentiles(latency, (int) total - WINDOW, (int) total));
            progress.forEach(System.out::println);
            System.out.println(snapshots[0]);
            System.out.println(snapshots[1]);
            System.out.println(snapshot("all callers done (params only)"));
        }
        System.out.println(snapshot("predictor closed"));
        Files.deleteIfExists(checkpoint);
        Files.deleteIfExists(dir);
    }

    /** "p50 0.21 ms p99 1.30 ms" over calls [from, to). */
    private static String percentiles(long[] latency, int from, int to) {
        long[] part = Arrays.copyOfRange(latency, from, to);
        Arrays.sort(part);
        return String.format("p50 %.3f ms, p99 %.3f ms", part[part.length / 2] / 1e6, part[(int) (part.length * 0.99)] / 1e6);
    }

    private static String snapshot(String when) {
        PoolStats s = Backends.cpu().pool().stats();
        Runtime rt = Runtime.getRuntime();
        return String.format("%-32s pool live %,d B (%d blocks), reserved %,d B, native allocs %d; RSS %,d KiB "
                        + "(Java heap committed %,d KiB)", when + ":", s.allocatedBytes(), s.liveBlocks(), s.reservedBytes(),
                s.nativeAllocations(), rssKiB(), rt.totalMemory() / 1024);
    }

    private static long rssKiB() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("\\D+", ""));
            }
        } catch (Exception ignored) {
            // not Linux: report -1
        }
        return -1;
    }
}
