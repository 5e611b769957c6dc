package dev.soma.cli;

import dev.soma.data.ArrayDataset;
import dev.soma.data.DatasetFetcher;
import dev.soma.distributed.Mpi;
import dev.soma.model.CsvLogger;
import dev.soma.model.FitOptions;
import dev.soma.model.History;
import dev.soma.model.ModelCheckpoint;
import dev.soma.model.Sequential;
import dev.soma.optim.Adam;
import dev.soma.text.Imdb;
import dev.soma.text.TextClassification;
import dev.soma.text.Vocabulary;
import dev.soma.zoo.ReferenceModels;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;

/**
 * {@code soma train lstm|transformer --dataset imdb}: the sentiment classifier of {@link ReferenceModels#textClassifier} on
 * IMDB (fixed 25,000 / 25,000 split; vocabulary of the most frequent training words; reviews padded or cut to a
 * fixed length, keeping their end). Writes checkpoint, CSV log, curves and the vocabulary into the run folder
 * and ends with the same {@code test_accuracy=.. test_loss=..} line as the image models. Under an MPI launcher with
 * several ranks it trains data-parallel, as the image models do.
 */
final class TextTraining {
    private TextTraining() {}

    static boolean handles(String model) {
        return ReferenceModels.textNames().contains(model);
    }

    static int run(TrainCommand c, PrintWriter console) throws IOException {
        String dataset = c.datasetOptions.dataset.equals("mnist") ? "imdb" : c.datasetOptions.dataset;
        if (!dataset.equals("imdb")) {
            throw new dev.soma.errors.SomaException("train " + c.model + ": text models train on --dataset imdb, got '" + dataset + "'");
        }
        Path root = c.datasetOptions.dataRoot != null ? c.datasetOptions.dataRoot : DatasetFetcher.defaultDataRoot();
        Imdb.Dataset data = Imdb.load(root, line -> {
            console.println(line);
            console.flush();
        });
        Imdb.Split trainSplit = c.limit > 0 ? data.train().head(c.limit) : data.train();
        Vocabulary vocab = Vocabulary.build(trainSplit.texts(), c.vocabulary);
        ArrayDataset train = TextClassification.binary(trainSplit.texts(), trainSplit.labels(), vocab, c.maxLength);
        Imdb.Split testSplit = c.testLimit > 0 ? data.test().head(Math.min(c.testLimit, data.test().size())) : data.test();
        ArrayDataset test = TextClassification.binary(testSplit.texts(), testSplit.labels(), vocab, c.maxLength);
        Path runDir = c.out != null ? c.out : Path.of("runs", c.model + "-" + dataset);
        Files.createDirectories(runDir);
        Path checkpoint = runDir.resolve("model.safetensors");
        // Every rank builds the same vocabulary from the same reviews; only rank 0 writes it.
        if (Mpi.writesOutputs()) Files.write(runDir.resolve("vocabulary.txt"), vocab.words());
        try (Sequential m = ReferenceModels.textClassifier(c.model, vocab.size(), c.maxLength)) {
            // A constant rate unless --lr-schedule is given (the classifiers' measured runs used one).
            boolean scheduleGiven = c.spec.commandLine().getParseResult().hasMatchedOption("--lr-schedule");
            Adam adam = scheduleGiven ? c.adam(c.learningRate, c.trainExamples(train.size())) : new Adam(c.learningRate);
            m.seed(c.seed).to(c.device).compile(adam, "binary_crossentropy", "accuracy");
            m.build(c.maxLength);
            console.println(m.summary());
            console.printf(Locale.ROOT, "training on %d reviews (%.0f%% held out for validation), vocabulary %d, length %d, "
                            + "%d epochs, batch %d%n", train.size(), c.validationSplit * 100, vocab.size(), c.maxLength,
                    c.epochs, c.batchSize);
            console.flush();
            FitOptions options = new FitOptions().batchSize(c.batchSize).epochs(c.epochs).seed(c.seed)
                    .validationSplit(c.validationSplit).verbose(c.quiet ? 2 : 1)
                    .callbacks(new ModelCheckpoint(checkpoint), new CsvLogger(runDir.resolve("history.csv")));
            c.dataParallel(options, console);
            History history = m.fit(train, c.resumable(options, checkpoint));
            if (!Mpi.writesOutputs()) return 0; // data-parallel: rank 0 plots and evaluates
            String curves = CurvesPlot.write(runDir.resolve("curves.png"), history.arrays());
            Map<String, Double> result = m.evaluate(test, 256);
            console.println("checkpoint: " + checkpoint + "  curves: " + curves);
            console.printf(Locale.ROOT, "test_accuracy=%.4f test_loss=%.4f%n", result.get("accuracy"), result.get("loss"));
            console.flush();
        }
        return 0;
    }
}
