package dev.soma.cli;

import dev.soma.data.ArrayDataset;
import dev.soma.data.Mnist;
import dev.soma.errors.SomaException;
import dev.soma.model.History;
import dev.soma.gan.GanLoss;
import dev.soma.gan.GanTrainer;
import dev.soma.memory.Scope;
import dev.soma.model.Checkpoint;
import dev.soma.model.Sequential;
import dev.soma.optim.Adam;
import dev.soma.util.ImageGrid;
import dev.soma.util.Plots;
import dev.soma.zoo.ReferenceModels;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code soma train gan --dataset mnist}: the MLP GAN (G 100-256-256-784 tanh, D 784-256-256-1 sigmoid, leaky
 * relu 0.2 hidden, Adam(2e-4, beta1 0.5) each unless --learning-rate is given) on images scaled to [-1, 1]. After
 * every epoch it writes samples_epoch_NNN.png (8 x 8 samples of the same fixed noise), losses.png (both loss
 * curves), the two models (generator.safetensors, discriminator.safetensors, for sample) and the whole training
 * state (gan-training.safetensors, for --resume) into the run folder.
 */
final class GanTraining {
    static final int LATENT = 100;
    static final String GENERATOR_FILE = "generator.safetensors";
    static final String DISCRIMINATOR_FILE = "discriminator.safetensors";
    /** Both models, both optimizers, the trainer's random stream and the epoch: what --resume continues. */
    static final String TRAINING_STATE_FILE = "gan-training.safetensors";

    private GanTraining() {}

    static int run(TrainCommand cmd, PrintWriter console) throws IOException {
        String arch = cmd.arch == null ? "mlp" : cmd.arch;
        boolean dcgan = switch (arch) {
            case "mlp" -> false;
            case "dcgan" -> true;
            default -> throw new SomaException("train gan: unknown --arch '" + arch + "' (expected mlp or dcgan)");
        };
        GanLoss loss = GanLoss.byName(cmd.ganLoss);
        // A missing training state is refused before the data is loaded.
        Path runDir = cmd.out != null ? cmd.out : Path.of("runs", arch + "-gan-" + Path.of(cmd.datasetOptions.dataset).getFileName());
        Path state = runDir.resolve(TRAINING_STATE_FILE);
        if (cmd.resume && !Files.isRegularFile(state)) {
            throw new IllegalArgumentException("--resume: no GAN training state to resume from at " + state
                    + " (train without --resume first, or give the first run's --out)");
        }
        Mnist.Dataset data = cmd.datasetOptions.load(console);
        Mnist.Split split = cmd.limit > 0 ? data.train().slice(0, Math.min(cmd.limit, data.train().count())) : data.train();
        int pixels = split.height() * split.width();
        long[] exampleShape = {split.height(), split.width(), 1};
        ArrayDataset images = scaledImages(split, dcgan ? exampleShape : new long[] {pixels});
        Files.createDirectories(runDir);
        boolean lrGiven = cmd.spec.commandLine().getParseResult().hasMatchedOption("--learning-rate");
        double lr = lrGiven ? cmd.learningRate : 2e-4;
        // Data-parallel under an MPI launcher: both models wrapped, the epoch listener (files) on rank 0 only.
        dev.soma.distributed.Mpi mpi = dev.soma.distributed.Mpi.current();
        int ranks = mpi == null ? 1 : mpi.size();

        try (Sequential g = dcgan ? ReferenceModels.dcganGenerator() : ReferenceModels.ganGenerator(pixels);
             Sequential d = dcgan ? ReferenceModels.dcganDiscriminator() : ReferenceModels.ganDiscriminator()) {
            if (loss == GanLoss.WASSERSTEIN_GP) {
                throw new SomaException("train gan: the reference discriminator ends in a sigmoid; --gan-loss wgan-gp needs "
                        + "a linear critic (use GanTrainer with your own models)");
            }
            g.seed(cmd.seed).build(LATENT);
            if (dcgan) d.seed(cmd.seed + 1).build(exampleShape);
            else d.seed(cmd.seed + 1).build(pixels);
            console.println("generator:\n" + g.summary() + "discriminator:\n" + d.summary());
            try (GanTrainer gan = new GanTrainer(g, new Adam(lr, 0.5, 0.999, 1e-7), d, new Adam(lr, 0.5, 0.999, 1e-7), LATENT)
                    .loss(loss).labelSmoothing(cmd.labelSmoothing).discriminatorSteps(cmd.discriminatorSteps).seed(cmd.seed)
                    .dataParallel(ranks > 1).syncBatchNorm(ranks > 1 && cmd.syncBn).to(cmd.device)) {
                if (cmd.resume) {
                    gan.restore(state);
                    console.println("resuming " + state + " after epoch " + gan.completedEpochs());
                }
                console.printf(Locale.ROOT, "training the " + (dcgan ? "DCGAN" : "MLP GAN") + " (%s loss, k=%d, label smoothing %.2f, Adam %.1e) on %d images, "
                        + "%d epochs, batch %d%s%n", loss, cmd.discriminatorSteps, cmd.labelSmoothing, lr, images.size(),
                        cmd.epochs, cmd.batchSize, ranks > 1 ? String.format(Locale.ROOT, " per rank x %d ranks = %d "
                        + "(data-parallel, %s%s)", ranks, cmd.batchSize * ranks, mpi.describe(),
                        cmd.syncBn ? ", synchronised batch norm" : "") : "");
                console.flush();
                Map<String, List<Double>> curves = new LinkedHashMap<>();
                if (cmd.resume) gan.history().all().forEach((k, v) -> curves.put(k, new ArrayList<>(v)));
                History h = gan.fit(images, cmd.batchSize, cmd.epochs, (epoch, logs) -> {
                    logs.forEach((k, v) -> curves.computeIfAbsent(k, x -> new ArrayList<>()).add(v));
                    Path grid = runDir.resolve(String.format(Locale.ROOT, "samples_epoch_%03d.png", epoch + 1));
                    try (Scope s = Scope.open()) {
                        ImageGrid.write(grid, gan.generate(gan.fixedNoise()).toFloatArray(), exampleShape, 8, -1, 1, 2);
                    }
                    Map<String, double[]> lossSeries = new LinkedHashMap<>();
                    lossSeries.put("discriminator", toArray(curves.get("d_loss")));
                    lossSeries.put("generator", toArray(curves.get("g_loss")));
                    Plots.lineChart(runDir.resolve("losses.png"), "GAN losses", "epoch", "loss", lossSeries,
                            Plots.PANEL_WIDTH, Plots.PANEL_HEIGHT);
                    Checkpoint.save(g, runDir.resolve(GENERATOR_FILE));
                    Checkpoint.save(d, runDir.resolve(DISCRIMINATOR_FILE));
                    gan.save(state);
                    StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "epoch %d/%d", epoch + 1, cmd.epochs));
                    logs.forEach((k, v) -> line.append(String.format(Locale.ROOT, " %s=%.4f", k, v)));
                    console.println(line + "  samples: " + grid);
                    console.flush();
                });
                if (ranks > 1) console.println("gradient all-reduce: " + gan.lastDataParallelStatistics());
                console.println("checkpoints: " + runDir.resolve(GENERATOR_FILE) + ", " + runDir.resolve(DISCRIMINATOR_FILE)
                        + "  losses: " + runDir.resolve("losses.png"));
                console.printf(Locale.ROOT, "d_loss=%.4f g_loss=%.4f d_accuracy=%.4f%n", h.last("d_loss"), h.last("g_loss"),
                        h.last("d_accuracy"));
                console.flush();
            }
        }
        return 0;
    }

    /** Images with pixels in [-1, 1] (the tanh generator's range), each example of {@code exampleShape}. */
    static ArrayDataset scaledImages(Mnist.Split s, long[] exampleShape) {
        float[] src = s.images();
        float[] x = new float[src.length];
        for (int i = 0; i < x.length; i++) x[i] = src[i] * 2f - 1f;
        return ArrayDataset.withLabels(x, exampleShape, s.labels());
    }

    private static double[] toArray(List<Double> v) {
        return v.stream().mapToDouble(Double::doubleValue).toArray();
    }
}
