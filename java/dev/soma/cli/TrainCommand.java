package dev.soma.cli;

import dev.soma.data.ArrayDataset;
import dev.soma.data.Mnist;
import dev.soma.distributed.Mpi;
import dev.soma.model.CsvLogger;
import dev.soma.model.FitOptions;
import dev.soma.privacy.PoissonSampler;
import dev.soma.privacy.PrivacySettings;
import dev.soma.model.History;
import dev.soma.model.Loss;
import dev.soma.model.ModelCheckpoint;
import dev.soma.model.Sequential;
import dev.soma.optim.Adam;
import dev.soma.optim.LearningRateSchedule;
import dev.soma.optim.Optimizer;
import dev.soma.optim.SGD;
import dev.soma.tensor.Device;
import dev.soma.zoo.ReferenceModels;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code soma train cnn --dataset mnist --epochs 3}: trains a reference model on an image dataset, writes a
 * checkpoint, a CSV log and a PNG of the curves into the run folder, and ends with one line
 * {@code test_accuracy=<fraction> test_loss=<value>}.
 */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = "Train a reference model: cnn, mlp or dale (the mlp with Dale's principle) on an MNIST-format dataset, gan on mnist, a text classifier "
                + "(lstm, bilstm, gru, transformer) on imdb, or a character language model (charlm) on kjv.")
final class TrainCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "MODEL",
            description = "cnn, mlp, dale, dpcnn, gan, lstm, bilstm, gru, transformer or charlm")
    String model;

    @Mixin
    DatasetOptions datasetOptions = new DatasetOptions();

    @Mixin
    DeviceOption deviceOption = new DeviceOption();

    @Mixin
    PrecisionOption precisionOption = new PrecisionOption();

    @Mixin
    AdversarialTrainingOptions robustness = new AdversarialTrainingOptions();

    /** MPI ranks training together (1 unless started by an MPI launcher with several). */
    int ranks = 1;

    /** The checked --device (set first thing in {@link #call}). */
    Device device = Device.cpu();

    @Option(names = "--epochs", defaultValue = "3")
    int epochs;

    @Option(names = "--batch-size", defaultValue = "32")
    int batchSize;

    @Option(names = "--learning-rate", defaultValue = "0.001",
            description = "the optimizer's learning rate (default ${DEFAULT-VALUE}; gan: 2e-4, charlm: 3e-3 for lstm unless given)")
    double learningRate;

    @Option(names = "--optimizer", defaultValue = "adam",
            description = "cnn, mlp, dale, dpcnn: adam (default) or sgd (plain or with --momentum, as in the DP-SGD literature)")
    String optimizer;

    @Option(names = "--momentum", defaultValue = "0",
            description = "--optimizer sgd only: heavy-ball momentum in [0, 1) (default ${DEFAULT-VALUE})")
    double momentum;

    @Option(names = "--lr-schedule", defaultValue = "cosine",
            description = "constant, or cosine: decay from the learning rate to zero over all steps (default, as Keras CosineDecay; "
                    + "the IMDB classifiers keep a constant rate unless this is given)")
    String lrSchedule;

    @Option(names = "--ema", description = "image classifiers: keep an exponential moving average of the weights with "
            + "this decay in [0, 1) (e.g. 0.95) and validate, checkpoint and test it; free under DP-SGD (post-processing)")
    Double ema;

    @Option(names = "--freeze", split = ",", description = "image classifiers: layers (by the summary's names, e.g. "
            + "dense_1) left at their initial weights, untrained; under DP-SGD they get no noise and add nothing to the clipped norms")
    java.util.List<String> freeze = java.util.List.of();

    @Option(names = "--validation-split", defaultValue = "0.05",
            description = "fraction of the training set held out for validation (default ${DEFAULT-VALUE})")
    double validationSplit;

    @Option(names = "--limit", defaultValue = "0",
            description = "train on the first N training examples only (images, reviews; charlm: characters) (0: all)")
    int limit;

    @Option(names = "--test-limit", defaultValue = "0",
            description = "evaluate on the first N test examples only (images, reviews; charlm: validation characters) "
                    + "(0: all; e.g. for a quick run on the emulated device)")
    int testLimit;

    @Option(names = "--seed", defaultValue = "42")
    long seed;

    @Option(names = "--out", description = "run folder (default runs/<model>-<dataset>)")
    Path out;

    @Option(names = "--quiet", description = "no progress bar, one line per epoch")
    boolean quiet;

    @Option(names = "--arch", description = "gan: mlp (default) or dcgan; charlm: lstm (default) or transformer")
    String arch;

    @Option(names = "--context", defaultValue = "100", description = "charlm: characters per training window (default ${DEFAULT-VALUE})")
    int context;

    @Option(names = "--gan-loss", defaultValue = "non-saturating",
            description = "gan only: non-saturating, minimax or least-squares")
    String ganLoss;

    @Option(names = "--label-smoothing", defaultValue = "0", description = "gan: one-sided on the discriminator's real "
            + "targets, e.g. 0.1; image classifiers: targets (1 - s)·one-hot + s/classes, kept in the checkpoint's loss")
    double labelSmoothing;

    @Option(names = "--d-steps", defaultValue = "1", description = "gan only: discriminator updates per generator update")
    int discriminatorSteps;

    @Option(names = "--max-length", defaultValue = "200", description = "text models: ids per review (default ${DEFAULT-VALUE})")
    int maxLength;

    @Option(names = "--vocabulary", defaultValue = "20000", description = "text models: vocabulary size incl. padding and OOV (default ${DEFAULT-VALUE})")
    int vocabulary;

    @Option(names = "--excitatory-share", defaultValue = "0.9",
            description = "dale only: share of excitatory units per layer; interneurons = (1 - share) x units (default ${DEFAULT-VALUE})")
    double excitatoryShare;

    @Option(names = "--inhibition", defaultValue = "divisive",
            description = "dale only: subtractive, or divisive (the paper's DANN: subtractive and divisive, in the hidden layer; default)")
    String inhibition;
    @Option(names = "--resume",
            description = "continue the run saved in the run folder's model.safetensors (gan: gan-training.safetensors; give "
                    + "the first run's options): weights, optimizer state, schedule position, random streams, epoch and history carry on")
    boolean resume;

    @Option(names = "--dp-noise", description = "train with DP-SGD: noise multiplier (noise std = this x --dp-clip); needs --dp-clip")
    Double dpNoise;

    @Option(names = "--dp-clip", description = "DP-SGD: per-example gradient L2 clipping bound; needs --dp-noise")
    Double dpClip;

    @Option(names = "--dp-delta", defaultValue = "1e-5", description = "DP-SGD: the delta at which epsilon is reported (default ${DEFAULT-VALUE})")
    double dpDelta;

    @Option(names = "--dp-physical-batch", description = "DP-SGD: at most N examples per forward and backward; a larger "
            + "sampled batch runs in parts (same result and epsilon, the memory of one part), e.g. 1024 at batch 4096")
    Integer dpPhysicalBatch;

    @Option(names = "--sync-bn", description = "data-parallel runs (soma launch, mpirun): BatchNormalization statistics "
            + "over the examples of all ranks, as one process with the global batch (the DCGAN's generator has it)")
    boolean syncBn;

    /** The DP-SGD settings of --dp-noise/--dp-clip/--dp-delta (null without them), checked before any data loads. */
    PrivacySettings privacy() {
        if (dpPhysicalBatch != null && dpPhysicalBatch < 1) {
            throw new IllegalArgumentException("train: --dp-physical-batch must be >= 1, got " + dpPhysicalBatch);
        }
        if (dpPhysicalBatch != null && dpNoise == null && dpClip == null) {
            throw new IllegalArgumentException("train: --dp-physical-batch belongs to DP-SGD; give --dp-noise and --dp-clip");
        }
        if (dpNoise == null && dpClip == null) return null;
        if (dpNoise == null || dpClip == null) {
            throw new IllegalArgumentException("train: DP-SGD needs both --dp-noise and --dp-clip, got "
                    + (dpNoise == null ? "--dp-clip only" : "--dp-noise only"));
        }
        if (model.equals("gan") || model.equals("charlm") || TextTraining.handles(model)) {
            throw new IllegalArgumentException("train: --dp-noise/--dp-clip work with the image classifiers only, not '" + model + "'");
        }
        try {
            return new PrivacySettings(dpNoise, dpClip, dpDelta);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("train: bad --dp-noise/--dp-clip/--dp-delta: " + e.getMessage(), e);
        }
    }

    /**
     * With --resume, the fit options continue from {@code checkpoint}, which must exist; without, they are unchanged.
     * (GAN runs resume from their own training-state file: see GanTraining.)
     */
    FitOptions resumable(FitOptions options, Path checkpoint) {
        if (!resume) return options;
        if (!Files.isRegularFile(checkpoint)) {
            throw new IllegalArgumentException("--resume: no checkpoint to resume from at " + checkpoint
                    + " (train without --resume first, or give the first run's --out)");
        }
        return options.resumeFrom(checkpoint);
    }

    /**
     * Under an MPI launcher with several ranks: turns on data-parallel training in {@code options} and says so in one
     * line (ranks, per-rank and global batch, threads, the MPI library, where GPU gradients are reduced), with
     * --sync-bn's synchronised batch statistics. Otherwise nothing. The same for every model that trains through
     * {@code fit}.
     */
    void dataParallel(FitOptions options, PrintWriter console) {
        if (ranks <= 1) return;
        Mpi mpi = Mpi.world();
        options.dataParallel(true).syncBatchNorm(syncBn);
        String gpu = device.isCpu() ? "" : mpi.gpuCollectives() == Mpi.GpuCollectives.NCCL
                ? "; gradients stay on the GPU, reduced by NCCL (SOMA_GPU_COLLECTIVES=nccl)"
                : "; GPU gradients go through host memory (SOMA_GPU_COLLECTIVES=nccl keeps them on the device)";
        console.printf(Locale.ROOT, "data-parallel: %d ranks x batch %d (global batch %d), %d OpenMP thread(s) per rank, %s%s%n",
                mpi.size(), batchSize, batchSize * mpi.size(), dev.soma.jni.CpuKernels.soma_cpu_threads(), mpi.describe(),
                gpu);
        console.flush();
    }

    /** The examples fit trains on out of {@code size} after holding out --validation-split (fit rounds the same way). */
    int trainExamples(int size) {
        return size - (int) Math.round(size * validationSplit);
    }

    /** Adam at {@code lr} with the --lr-schedule over all steps of --epochs on {@code examples} training examples. */
    Adam adam(double lr, long examples) {
        return scheduled(new Adam(lr), lr, examples);
    }

    /** The image classifiers' optimizer: --optimizer at {@code lr} (SGD with --momentum), with the --lr-schedule. */
    Optimizer imageOptimizer(double lr, long examples) {
        return switch (optimizer) {
            case "adam" -> adam(lr, examples);
            case "sgd" -> scheduled(new SGD(lr, momentum, false), lr, examples);
            default -> throw new IllegalArgumentException("train: unknown --optimizer '" + optimizer + "': expected adam or sgd");
        };
    }

    /** {@code opt} with the --lr-schedule from {@code lr} over all steps of --epochs on {@code examples} examples. */
    private <O extends Optimizer> O scheduled(O opt, double lr, long examples) {
        long global = (long) batchSize * ranks; // data-parallel: one step per global batch
        // DP-SGD's Poisson-sampled epochs are round(N / batch) steps, not ceil: the cosine must end on the last one.
        // (Data-parallel, the ranks share one Poisson sample of the global expected size.)
        long perEpoch = dpNoise != null && examples > 0 ? PoissonSampler.stepsPerEpoch((int) examples, (int) global)
                : (examples + global - 1) / global;
        long totalSteps = (long) epochs * perEpoch;
        switch (lrSchedule) {
            case "constant" -> { }
            case "cosine" -> opt.schedule(LearningRateSchedule.cosineDecay(lr, Math.max(totalSteps, 1), 0.0));
            default -> throw new IllegalArgumentException("train: unknown --lr-schedule '" + lrSchedule
                    + "': expected constant or cosine");
        }
        return opt;
    }

    private boolean divisive() {
        return switch (inhibition) {
            case "subtractive" -> false;
            case "divisive" -> true;
            default -> throw new IllegalArgumentException("train: unknown --inhibition '" + inhibition
                    + "': expected subtractive or divisive");
        };
    }

    @Override
    public Integer call() throws Exception {
        TrainChecks.check(this); // every option value, before any data is loaded
        PrivacySettings privacy = privacy();
        robustness.check("train " + model, ReferenceModels.names().contains(model), privacy != null);
        // Started by mpirun / srun / soma launch with more than one rank: data-parallel training over MPI.
        Mpi mpi = Mpi.launchedSize() > 1 ? Mpi.world() : null;
        if (mpi != null) ranks = mpi.size();
        // Only rank 0 prints and writes; the others train silently.
        PrintWriter console = Mpi.writesOutputs() ? spec.commandLine().getOut()
                : new PrintWriter(java.io.Writer.nullWriter());
        device = deviceOption.resolve();
        dev.soma.tensor.Precision precision = precisionOption.resolve("train", device, console);
        if (model.equals("gan")) {
            int rc = GanTraining.run(this, console);
            if (mpi != null) mpi.finish();
            return rc;
        }
        if (model.equals("charlm") || TextTraining.handles(model)) {
            int rc = model.equals("charlm") ? CharLmTraining.run(this, console) : TextTraining.run(this, console);
            if (mpi != null) mpi.finish();
            return rc;
        }
        Path runDir = out != null ? out : Path.of("runs", model + "-" + Path.of(datasetOptions.dataset).getFileName());
        Path checkpoint = runDir.resolve("model.safetensors");
        resumable(new FitOptions(), checkpoint); // a missing checkpoint is refused before the data is loaded
        Mnist.Dataset data = datasetOptions.load(console);
        Mnist.Split trainSplit = limit > 0 ? data.train().slice(0, Math.min(limit, data.train().count())) : data.train();
        ArrayDataset train = ImageData.toDataset(trainSplit);
        Mnist.Split testSplit = testLimit > 0 ? data.test().slice(0, Math.min(testLimit, data.test().count())) : data.test();
        ArrayDataset test = ImageData.toDataset(testSplit);
        Files.createDirectories(runDir);

        try (Sequential m = model.equals("dale") ? ReferenceModels.daleClassifier(Mnist.NUM_CLASSES, excitatoryShare, divisive())
                : ReferenceModels.imageClassifier(model, Mnist.NUM_CLASSES)) {
            int trainExamples = trainExamples(train.size());
            Optimizer opt = imageOptimizer(learningRate, trainExamples);
            m.seed(seed).to(device).compile(opt, Loss.withLabelSmoothing("sparse_categorical_crossentropy", labelSmoothing),
                    "accuracy");
            m.build(trainSplit.height(), trainSplit.width(), 1);
            FrozenLayers.apply(m, freeze);
            console.println(m.summary());
            console.printf(Locale.ROOT, "training on %d images (%.0f%% held out for validation), %d epochs, batch %d, "
                    + "%s lr %g (%s), on %s, precision %s%s%s%s%n", train.size(), validationSplit * 100, epochs, batchSize,
                    optimizer.equals("sgd") ? "SGD momentum " + momentum + "," : "Adam", learningRate, lrSchedule, device,
                    precision, robustness.describe(), ema == null ? "" : ", weight average (EMA) decay " + ema,
                    labelSmoothing == 0 ? "" : ", label smoothing " + labelSmoothing);
            console.flush();
            FitOptions options = resumable(robustness.apply(new FitOptions(), seed).batchSize(batchSize).epochs(epochs).seed(seed)
                    .validationSplit(validationSplit).verbose(quiet ? 2 : 1)
                    .callbacks(new ModelCheckpoint(checkpoint), new CsvLogger(runDir.resolve("history.csv"))), checkpoint);
            options.precision(precision);
            LastIterate lastIterate = ema == null ? null : new LastIterate(epochs);
            if (ema != null) options.weightAverage(ema).callbacks(lastIterate);
            if (privacy != null) options.privacy(privacy.noiseMultiplier(), privacy.maxGradNorm(), privacy.delta());
            if (dpPhysicalBatch != null) options.privacyPhysicalBatch(dpPhysicalBatch);
            dataParallel(options, console);
            int[] epochsRun = {0};
            options.callbacks(new dev.soma.model.Callback() {
                @Override
                public void onEpochEnd(dev.soma.model.Model model, int epoch, Map<String, Double> logs) {
                    epochsRun[0]++;
                }
            });
            long started = System.nanoTime();
            History history = m.fit(train, options);
            double seconds = (System.nanoTime() - started) / 1e9;
            console.printf(Locale.ROOT, "fit: %d epoch(s) in %.1f s, %.0f training examples/s%s%n", epochsRun[0], seconds,
                    (double) trainExamples * epochsRun[0] / seconds, mpi == null ? "" : " (all ranks together)");
            if (mpi != null && m.lastDataParallelStatistics() != null) { // (DP-SGD reduces its clipped sums instead)
                console.println("gradient all-reduce: " + m.lastDataParallelStatistics());
            }
            if (mpi != null && !Mpi.writesOutputs()) {
                mpi.finish(); // only rank 0 plots and evaluates on the test set
                return 0;
            }
            String curves = CurvesPlot.write(runDir.resolve("curves.png"), history.arrays());
            Map<String, Double> result = m.evaluate(test, 256);
            console.println("checkpoint: " + checkpoint + "  curves: " + curves);
            if (model.equals("dale")) {
                Path signs = runDir.resolve("weight-signs.png");
                double min = DaleSignPlot.write(signs, m);
                console.printf(Locale.ROOT, "weight signs: %s (smallest constrained weight %.3g)%n", signs, min);
            }
            console.printf(Locale.ROOT, "test_accuracy=%.4f test_loss=%.4f%n", result.get("accuracy"), result.get("loss"));
            if (lastIterate != null && lastIterate.kept()) { // the checkpoint keeps the average; this is for comparison
                lastIterate.restore(m);
                Map<String, Double> live = m.evaluate(test, 256);
                console.printf(Locale.ROOT, "last iterate (without the weight average): accuracy=%.4f loss=%.4f on the test set%n",
                        live.get("accuracy"), live.get("loss"));
            }
            if (privacy != null) {
                double[] eps = history.arrays().get("epsilon");
                console.printf(Locale.ROOT, "epsilon=%.4f%n", eps == null || eps.length == 0 ? 0.0 : eps[eps.length - 1]);
            }
            console.flush();
        }
        if (mpi != null) mpi.finish();
        return 0;
    }

}
