package dev.soma.cli;

import dev.soma.data.DatasetFetcher;
import dev.soma.zoo.ReferenceModels;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Refuses {@code soma train} option values that cannot work, before any data is loaded or fetched: each as an
 * IllegalArgumentException, which the command line prints as one line. Without this a batch size of 0 ended in
 * "/ by zero" after loading the data, a negative --limit trained on everything, and a text model given
 * {@code --dataset mnist} silently trained on IMDB.
 */
final class TrainChecks {
    private TrainChecks() {}

    static void check(TrainCommand c) {
        String who = "train " + c.model;
        if (c.syncBn && dev.soma.distributed.Mpi.launchedSize() <= 1) {
            throw new IllegalArgumentException(who + ": --sync-bn synchronises BatchNormalization over the ranks of a "
                    + "data-parallel run; start it with `soma launch --nproc N -- train ...` or mpirun");
        }
        List<String> models = new ArrayList<>(ReferenceModels.names());
        models.add("gan");
        models.addAll(ReferenceModels.textNames());
        models.add("charlm");
        if (!models.contains(c.model)) {
            throw new IllegalArgumentException("train: unknown model '" + c.model + "'; expected one of "
                    + String.join(", ", models));
        }
        atLeast(who, "--epochs", c.epochs, 1);
        atLeast(who, "--batch-size", c.batchSize, 1);
        atLeast(who, "--limit", c.limit, 0);
        atLeast(who, "--test-limit", c.testLimit, 0);
        if (!Double.isFinite(c.learningRate) || c.learningRate <= 0) {
            throw new IllegalArgumentException(who + ": --learning-rate must be a finite number > 0, got " + c.learningRate);
        }
        if (!(c.validationSplit >= 0 && c.validationSplit < 1)) {
            throw new IllegalArgumentException(who + ": --validation-split must be in [0, 1), got " + c.validationSplit);
        }
        if (!c.lrSchedule.equals("constant") && !c.lrSchedule.equals("cosine")) {
            throw new IllegalArgumentException(who + ": unknown --lr-schedule '" + c.lrSchedule + "': expected constant or cosine");
        }
        dev.soma.tensor.Precision precision;
        try {
            precision = dev.soma.tensor.Precision.parse(c.precisionOption.precision);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(who + ": --precision: " + e.getMessage());
        }
        if (precision != dev.soma.tensor.Precision.F32 && !ReferenceModels.names().contains(c.model)) {
            throw new IllegalArgumentException(who + ": --precision " + precision + " is wired into the image classifiers ("
                    + String.join(", ", ReferenceModels.names()) + ") only");
        }
        optimizer(c, who);
        if (!c.freeze.isEmpty() && !ReferenceModels.names().contains(c.model)) {
            throw new IllegalArgumentException(who + ": --freeze is wired into the image classifiers ("
                    + String.join(", ", ReferenceModels.names()) + ") only");
        }
        if (c.ema != null) {
            if (!(c.ema >= 0 && c.ema < 1)) {
                throw new IllegalArgumentException(who + ": --ema must be a decay in [0, 1), got " + c.ema);
            }
            if (!ReferenceModels.names().contains(c.model)) {
                throw new IllegalArgumentException(who + ": --ema is wired into the image classifiers ("
                        + String.join(", ", ReferenceModels.names()) + ") only");
            }
            if (c.resume) {
                throw new IllegalArgumentException(who + ": --ema cannot be combined with --resume yet (the checkpoint "
                        + "holds the averaged weights, not the live ones the run would continue from)");
            }
        }
        // The ranges every model shares (--d-steps, --label-smoothing in [0, 1), --max-length, --vocabulary,
        // --context) are in everyModelsOptions; here only what depends on the model.
        if (c.model.equals("gan")) {
            if (!(c.labelSmoothing >= 0 && c.labelSmoothing < 0.5)) {
                throw new IllegalArgumentException(who + ": --label-smoothing must be in [0, 0.5), got " + c.labelSmoothing);
            }
        } else if (!ReferenceModels.names().contains(c.model) && c.labelSmoothing != 0) {
            throw new IllegalArgumentException(who + ": --label-smoothing is wired into gan and the image classifiers ("
                    + String.join(", ", ReferenceModels.names()) + ") only");
        }
        everyModelsOptions(c, who);
        dataset(c, who);
        if (c.datasetOptions.dataRoot != null && Files.exists(c.datasetOptions.dataRoot)
                && !Files.isDirectory(c.datasetOptions.dataRoot)) {
            throw new IllegalArgumentException(who + ": --data-root " + c.datasetOptions.dataRoot + " is a file, expected a folder");
        }
        if (c.out != null && Files.exists(c.out) && !Files.isDirectory(c.out)) {
            throw new IllegalArgumentException(who + ": --out " + c.out + " is a file, expected a run folder");
        }
    }

    /**
     * The values of the options only some models use, checked whatever the model: a value that is wrong for every model
     * (--context -5, --dp-delta NaN) is refused, not silently ignored because this model does not read it.
     */
    private static void everyModelsOptions(TrainCommand c, String who) {
        atLeast(who, "--d-steps", c.discriminatorSteps, 1);
        if (!(c.labelSmoothing >= 0 && c.labelSmoothing < 1)) {
            throw new IllegalArgumentException(who + ": --label-smoothing must be in [0, 1), got " + c.labelSmoothing);
        }
        atLeast(who, "--max-length", c.maxLength, 1);
        atLeast(who, "--vocabulary", c.vocabulary, 3); // padding, out-of-vocabulary and one word
        if (c.context < 2 || c.context > 4096) {
            throw new IllegalArgumentException(who + ": --context must be in 2..4096, got " + c.context);
        }
        if (!(c.excitatoryShare > 0 && c.excitatoryShare < 1)) {
            throw new IllegalArgumentException(who + ": --excitatory-share must be in (0, 1), got " + c.excitatoryShare);
        }
        if (!c.inhibition.equals("subtractive") && !c.inhibition.equals("divisive")) {
            throw new IllegalArgumentException(who + ": unknown --inhibition '" + c.inhibition + "': expected subtractive or divisive");
        }
        try {
            dev.soma.gan.GanLoss.byName(c.ganLoss);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(who + ": --gan-loss: " + e.getMessage());
        }
        if (c.arch != null) {
            List<String> archs = c.model.equals("gan") ? List.of("mlp", "dcgan")
                    : c.model.equals("charlm") ? List.of("lstm", "transformer") : List.of();
            if (archs.isEmpty()) throw new IllegalArgumentException(who + ": --arch applies to gan and charlm only");
            if (!archs.contains(c.arch)) {
                throw new IllegalArgumentException(who + ": unknown --arch '" + c.arch + "': expected " + String.join(" or ", archs));
            }
        }
        // --dp-noise and --dp-clip are checked with each other (TrainCommand.privacy); --dp-delta has a default.
        if (!(c.dpDelta > 0 && c.dpDelta < 1)) {
            throw new IllegalArgumentException(who + ": --dp-delta must be in (0, 1), got " + c.dpDelta);
        }
    }

    /** --optimizer is the image classifiers' (the others keep their own); --momentum belongs to sgd. */
    private static void optimizer(TrainCommand c, String who) {
        if (!c.optimizer.equals("adam") && !c.optimizer.equals("sgd")) {
            throw new IllegalArgumentException(who + ": unknown --optimizer '" + c.optimizer + "': expected adam or sgd");
        }
        if (c.optimizer.equals("sgd") && !ReferenceModels.names().contains(c.model)) {
            throw new IllegalArgumentException(who + ": --optimizer sgd works with the image classifiers ("
                    + String.join(", ", ReferenceModels.names()) + ") only; " + c.model + " trains with Adam");
        }
        if (!(c.momentum >= 0 && c.momentum < 1)) {
            throw new IllegalArgumentException(who + ": --momentum must be in [0, 1), got " + c.momentum);
        }
        if (c.momentum != 0 && !c.optimizer.equals("sgd")) {
            throw new IllegalArgumentException(who + ": --momentum needs --optimizer sgd (Adam has its own moments)");
        }
    }

    /** The dataset must be one the model trains on; only the default (mnist) stands for each model's own. */
    private static void dataset(TrainCommand c, String who) {
        boolean given = c.spec != null && c.spec.commandLine().getParseResult().hasMatchedOption("--dataset");
        String name = c.datasetOptions.dataset.toLowerCase(Locale.ROOT);
        String own = ReferenceModels.textNames().contains(c.model) ? "imdb" : c.model.equals("charlm") ? "kjv" : null;
        if (own != null) {
            if (given && !name.equals(own)) {
                throw new IllegalArgumentException(who + ": this model trains on --dataset " + own + " only, got '"
                        + c.datasetOptions.dataset + "'");
            }
            return;
        }
        if (ImageData.TEXT_DATASETS.contains(name)) {
            throw new IllegalArgumentException(who + ": --dataset " + c.datasetOptions.dataset + " is text; " + c.model
                    + " trains on images: mnist, fashion-mnist or a folder of MNIST-format IDX files");
        }
        if (!isKnown(c.datasetOptions.dataset) && !Files.isDirectory(Path.of(c.datasetOptions.dataset))) {
            throw new IllegalArgumentException(who + ": --dataset " + c.datasetOptions.dataset + ": no such folder, "
                    + "and not a known dataset (mnist, fashion-mnist)");
        }
    }

    private static boolean isKnown(String name) {
        try {
            DatasetFetcher.Known.byName(name);
            return true;
        } catch (RuntimeException e) {
            return false;
        }
    }

    private static void atLeast(String who, String option, long value, long min) {
        if (value < min) throw new IllegalArgumentException(who + ": " + option + " must be >= " + min + ", got " + value);
    }
}
