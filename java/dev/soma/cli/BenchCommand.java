package dev.soma.cli;

import dev.soma.backend.Backends;
import dev.soma.data.ArrayDataset;
import dev.soma.data.Batch;
import dev.soma.model.Sequential;
import dev.soma.optim.Adam;
import dev.soma.zoo.ReferenceModels;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

/** {@code soma bench ...}: benchmarks people read (JMH under bench/ covers the kernels). */
@Command(name = "bench", mixinStandardHelpOptions = true, description = "Benchmarks.",
        subcommands = {BenchCommand.TrainStep.class, BenchOpCommand.class, BenchCeilingsCommand.class})
final class BenchCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /**
     * One full training step (forward, loss, backward, Adam) of a reference model on fixed random data, timed
     * over warm-up plus timed steps, as ../shared/peers measures PyTorch: same model, batch and data shapes.
     */
    @Command(name = "train-step", mixinStandardHelpOptions = true,
            description = "Time full training steps of a reference model; ends with median_ms=.. min_ms=.. max_ms=..")
    static final class TrainStep implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Option(names = "--model", defaultValue = "cnn", description = "cnn, mlp, attn or gan")
        String model;

        @Option(names = "--batch", defaultValue = "32")
        int batch;

        @Option(names = "--steps", defaultValue = "20")
        int steps;

        @Option(names = "--warmup", defaultValue = "5")
        int warmup;

        @Override
        public Integer call() throws IOException {
            PrintWriter out = spec.commandLine().getOut();
            if (batch <= 0 || steps <= 0 || warmup < 0) {
                throw new IllegalArgumentException("bench train-step: batch and steps must be > 0, warmup >= 0");
            }
            if (model.equals("attn")) return attn(out);
            if (model.equals("gan")) return GanBench.run(out, batch, warmup, steps);
            SplittableRandom r = new SplittableRandom(1);
            float[] x = new float[batch * 28 * 28];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextDouble();
            int[] y = new int[batch];
            for (int i = 0; i < batch; i++) y[i] = r.nextInt(10);
            Batch b = ArrayDataset.withLabels(x, new long[] {28, 28, 1}, y).gather(java.util.stream.IntStream.range(0, batch).toArray());
            double[] ms = new double[steps];
            try (Sequential m = ReferenceModels.imageClassifier(model, 10)) {
                m.seed(1).compile(new Adam(1e-3), "sparse_categorical_crossentropy");
                m.build(28, 28, 1);
                for (int i = 0; i < warmup; i++) m.trainStep(b);
                for (int i = 0; i < steps; i++) {
                    long t0 = System.nanoTime();
                    m.trainStep(b);
                    ms[i] = (System.nanoTime() - t0) / 1e6;
                }
            }
            report(out, ms);
            return 0;
        }

        /** The peers' attn model: x [batch, 100, 64] standard normal, 10 classes (TransformerModels.attnBench). */
        private Integer attn(PrintWriter out) {
            SplittableRandom r = new SplittableRandom(1);
            float[] x = new float[batch * 100 * 64];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            int[] y = new int[batch];
            for (int i = 0; i < batch; i++) y[i] = r.nextInt(10);
            Batch b = ArrayDataset.withLabels(x, new long[] {100, 64}, y).gather(java.util.stream.IntStream.range(0, batch).toArray());
            double[] ms = new double[steps];
            try (Sequential m = dev.soma.zoo.TransformerModels.attnBench()) {
                m.seed(1).compile(new Adam(1e-3), "sparse_categorical_crossentropy");
                m.build(100, 64);
                for (int i = 0; i < warmup; i++) m.trainStep(b);
                for (int i = 0; i < steps; i++) {
                    long t0 = System.nanoTime();
                    m.trainStep(b);
                    ms[i] = (System.nanoTime() - t0) / 1e6;
                }
            }
            report(out, ms);
            return 0;
        }

        private void report(PrintWriter out, double[] ms) {
            double[] sorted = ms.clone();
            Arrays.sort(sorted);
            double median = sorted.length % 2 == 1 ? sorted[sorted.length / 2]
                    : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
            out.printf(Locale.ROOT, "model=%s batch=%d steps=%d warmup=%d threads=%s peak_rss_mib=%.0f pool=%s%n", model,
                    batch, steps, warmup, System.getenv().getOrDefault("OMP_NUM_THREADS", "?"), peakRssMiB(),
                    Backends.cpu().pool().stats());
            out.printf(Locale.ROOT, "median_ms=%.2f min_ms=%.2f max_ms=%.2f%n", median, sorted[0], sorted[sorted.length - 1]);
            out.flush();
        }

        /** VmHWM from /proc (Linux): the process's peak resident memory; NaN elsewhere. */
        static double peakRssMiB() {
            try {
                for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                    if (line.startsWith("VmHWM:")) return Long.parseLong(line.replaceAll("\\D", "")) / 1024.0;
                }
            } catch (IOException | NumberFormatException e) {
                return Double.NaN;
            }
            return Double.NaN;
        }
    }
}
