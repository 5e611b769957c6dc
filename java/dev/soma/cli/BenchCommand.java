package dev.soma.cli;

import dev.soma.data.ArrayDataset;
import dev.soma.data.Batch;
import dev.soma.model.Sequential;
import dev.soma.optim.Adam;
import dev.soma.tensor.Device;
import dev.soma.zoo.ReferenceModels;
import dev.soma.zoo.TransformerModels;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.stream.IntStream;

/** {@code soma bench ...}: benchmarks people read (JMH under bench/ covers the kernels). */
@Command(name = "bench", mixinStandardHelpOptions = true, description = "Benchmarks.",
        subcommands = {BenchCommand.TrainStep.class, FitStepBench.class, ServeLoadBench.class, BenchOpCommand.class,
                BenchCeilingsCommand.class})
final class BenchCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /**
     * One full training step (forward, loss, backward, Adam) of a reference model on fixed random data, timed
     * over warm-up plus timed steps, as ../shared/peers measures PyTorch: same models, batch and data shapes.
     */
    @Command(name = "train-step", mixinStandardHelpOptions = true,
            description = "Time full training steps of a reference model; ends with median_ms=.. p90_ms=.. p99_ms=.. min_ms=.. max_ms=..")
    static final class TrainStep implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Option(names = "--model", defaultValue = "cnn", description = "cnn, mlp, lstm, attn, gan or dcgan")
        String model;

        @Option(names = "--batch", defaultValue = "32")
        int batch;

        @Option(names = "--steps", defaultValue = "300", description = "timed steps (default ${DEFAULT-VALUE})")
        int steps;

        // The JIT needs tens of steps before Java-side work reaches steady state: 5 warm-up steps left the small
        // models (attn, gan) 1.5-2x slower than their steady state. Run the peers with the same STEPS/WARMUP.
        @Option(names = "--warmup", defaultValue = "50", description = "untimed steps first (default ${DEFAULT-VALUE})")
        int warmup;

        @Option(names = "--settle", negatable = true, defaultValue = "true", fallbackValue = "true",
                description = "after --warmup, untimed steps until the JIT compilers are done with the step: no "
                        + "compilation ended for 500 steps and 4 s, none running (at most 150 s); the steady "
                        + "state, and on by default. --no-settle times right after --warmup")
        boolean settle;

        @Option(names = "--trace", description = "write each timed step's milliseconds to this CSV file")
        java.nio.file.Path trace;

        @Option(names = "--shape", split = ",", paramLabel = "KEY=VALUE",
                description = "other sizes than the reference model's, e.g. kernel=5,filters1=16 (cnn: image, "
                        + "channels, kernel, filters1, filters2, pool, dense; lstm: length, vocab, embed, hidden, "
                        + "cell=lstm|gru; attn: length, dim, heads; gan: latent, hidden, pixels)")
        java.util.Map<String, String> shape = new java.util.LinkedHashMap<>();

        @Mixin
        DeviceOption deviceOption = new DeviceOption();

        @Mixin
        PrecisionOption precisionOption = new PrecisionOption();

        @Option(names = "--against-f32",
                description = "with --precision bf16: also time an identical model in f32, alternating blocks of 10 "
                        + "steps in this process so that a noisy host slows both alike; ends with bf16_over_f32=.. "
                        + "(the ratio of the medians) and block_ratio_median=..")
        boolean againstF32;

        private Device device = Device.cpu();
        private String label;
        private dev.soma.tensor.Precision precision = dev.soma.tensor.Precision.F32;

        @Override
        public Integer call() {
            PrintWriter out = spec.commandLine().getOut();
            if (batch <= 0 || steps <= 0 || warmup < 0) {
                throw new IllegalArgumentException("bench train-step: batch and steps must be > 0, warmup >= 0");
            }
            device = deviceOption.resolve();
            precision = precisionOption.resolve("bench train-step", device, out);
            if ((model.equals("gan") || model.equals("dcgan")) && precision != dev.soma.tensor.Precision.F32) {
                throw new IllegalArgumentException("bench train-step: --precision bf16 is not wired into the " + model
                        + " bench");
            }
            if (againstF32 && precision != dev.soma.tensor.Precision.BF16) {
                throw new IllegalArgumentException("bench train-step: --against-f32 compares a bf16 run with f32; it "
                        + "needs --precision bf16 on a CPU that runs it (this run is " + precision + ")");
            }
            if (againstF32 && trace != null) {
                throw new IllegalArgumentException("bench train-step: --trace writes one run's steps; with --against-f32 "
                        + "there are two, so leave --trace out (or time each precision on its own with --trace)");
            }
            if (againstF32 && !(model.equals("cnn") || model.equals("mlp"))) {
                throw new IllegalArgumentException("bench train-step: --against-f32 is for the image classifiers (cnn, "
                        + "mlp), as --precision bf16 is; got --model " + model);
            }
            BenchShape s = BenchShape.of(model, shape);
            String changes = s.describeChanges();
            label = changes.isEmpty() ? model : model + " shape=" + changes;
            if (model.equals("gan")) {
                return GanBench.run(out, label, batch, s.get("latent"), s.get("hidden"), s.get("pixels"), warmup, steps,
                        trace, settle, device);
            }
            if (model.equals("dcgan")) return GanBench.runDcgan(out, batch, warmup, steps, trace, settle, device);
            SplittableRandom r = new SplittableRandom(1);
            return switch (model) {
                // x [batch, 28, 28, 1] uniform, 10 classes (other sizes with --shape).
                case "cnn" -> {
                    long[] image = {s.get("image"), s.get("image"), s.get("channels")};
                    yield time(out, () -> ReferenceModels.cnn(s.get("kernel"), s.get("filters1"), s.get("filters2"),
                            s.get("pool"), s.get("dense"), 10), images(r, image, false), image);
                }
                case "mlp" -> time(out, () -> ReferenceModels.imageClassifier(model, 10),
                        images(r, new long[] {28, 28, 1}, false), new long[] {28, 28, 1});
                // x [batch, 100, 64] standard normal -> Q, K, V -> softmax(QK^T/8)V -> mean over time -> Dense 10.
                case "attn" -> {
                    long[] x = {s.get("length"), s.get("dim")};
                    yield time(out, () -> TransformerModels.attnBench(s.get("heads"), s.get("dim")), images(r, x, true), x);
                }
                // ids [batch, 100] of a 10,000-word vocabulary -> Embedding 64 -> LSTM 128 -> Dense 10 at every step.
                case "lstm" -> time(out, () -> ReferenceModels.sequenceTagger(s.get("vocab"), s.get("embed"),
                                s.get("hidden"), s.text("cell").equals("gru"), 10), tokens(r, s.get("length"), s.get("vocab")),
                        new long[] {s.get("length")});
                default -> throw new IllegalArgumentException("bench train-step: unknown model '" + model
                        + "': expected cnn, mlp, lstm, attn, gan or dcgan");
            };
        }

        private int time(PrintWriter out, java.util.function.Supplier<Sequential> build, Batch b, long[] inputShape) {
            try (Sequential m = compiled(build, inputShape)) {
                if (againstF32) {
                    try (Sequential f32 = compiled(build, inputShape)) {
                        return StepTimer.runAgainst(out, label, batch, warmup, steps, settle,
                                stepIn(dev.soma.tensor.Precision.BF16, m, b), stepIn(dev.soma.tensor.Precision.F32, f32, b));
                    }
                }
                // The same scope FitOptions.precision opens around a fit: bf16 products, f32 weights and optimizer.
                try (dev.soma.backend.MixedPrecision.Scope s = dev.soma.backend.MixedPrecision.use(precision)) {
                    return StepTimer.run(out, label + (precision == dev.soma.tensor.Precision.F32 ? "" : " precision=" + precision),
                            batch, warmup, steps, trace, settle, device, () -> m.trainStep(b));
                }
            }
        }

        private Sequential compiled(java.util.function.Supplier<Sequential> build, long[] inputShape) {
            Sequential m = build.get();
            try {
                m.seed(1).to(device).compile(new Adam(1e-3), "sparse_categorical_crossentropy");
                m.build(inputShape);
                return m;
            } catch (RuntimeException e) {
                m.close();
                throw e;
            }
        }

        /** One training step of {@code m} inside a scope of {@code p}, as FitOptions.precision runs each step. */
        private static Runnable stepIn(dev.soma.tensor.Precision p, Sequential m, Batch b) {
            return () -> {
                try (dev.soma.backend.MixedPrecision.Scope s = dev.soma.backend.MixedPrecision.use(p)) {
                    m.trainStep(b);
                }
            };
        }

        /** A batch of random examples of {@code shape} (uniform or standard normal) with labels 0..9. */
        private Batch images(SplittableRandom r, long[] shape, boolean normal) {
            int per = (int) dev.soma.ops.Shapes.numel(shape);
            float[] x = new float[batch * per];
            for (int i = 0; i < x.length; i++) x[i] = (float) (normal ? r.nextGaussian() : r.nextDouble());
            int[] y = new int[batch];
            for (int i = 0; i < batch; i++) y[i] = r.nextInt(10);
            return ArrayDataset.withLabels(x, shape, y).gather(IntStream.range(0, batch).toArray());
        }

        /** A batch of random token ids [batch, length] with a label 0..9 at every step. */
        private Batch tokens(SplittableRandom r, int length, int vocabulary) {
            float[] x = new float[batch * length];
            for (int i = 0; i < x.length; i++) x[i] = r.nextInt(vocabulary);
            int[] y = new int[batch * length];
            for (int i = 0; i < y.length; i++) y[i] = r.nextInt(10);
            return new Batch(x, new long[] {batch, length}, y, null, new long[] {batch, length});
        }
    }
}
