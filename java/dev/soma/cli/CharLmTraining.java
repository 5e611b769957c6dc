package dev.soma.cli;

import dev.soma.data.DatasetFetcher;
import dev.soma.distributed.Mpi;
import dev.soma.errors.SomaException;
import dev.soma.model.CsvLogger;
import dev.soma.model.FitOptions;
import dev.soma.model.History;
import dev.soma.model.ModelCheckpoint;
import dev.soma.model.Sequential;
import dev.soma.text.CharModelInfo;
import dev.soma.text.CharVocabulary;
import dev.soma.text.CharWindows;
import dev.soma.text.Kjv;
import dev.soma.text.KnownWords;
import dev.soma.text.TextSampler;
import dev.soma.zoo.LanguageModels;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;

/**
 * {@code soma train charlm [--arch lstm|transformer] --dataset kjv}: a character-level language model on the King
 * James Bible (fixed block split, {@link Kjv}). Each example is a window of {@code --context} characters and the
 * target is the next character at every position. Writes the checkpoint, {@link CharModelInfo}, CSV log, curves and
 * a sample into the run folder and ends with {@code val_bits_per_char=.. val_loss=.. sample_known_words=..} (the
 * fraction of the sample's words that occur in the training text). {@code --test-limit N} validates on the first N
 * validation characters. Under an MPI launcher with several ranks it trains data-parallel, as the image models do.
 */
final class CharLmTraining {
    static final String PROMPT = "In the beginning";

    private CharLmTraining() {}

    static int run(TrainCommand c, PrintWriter console) throws IOException {
        String arch = c.arch == null ? "lstm" : c.arch;
        String dataset = c.datasetOptions.dataset.equals("mnist") ? "kjv" : c.datasetOptions.dataset;
        if (!dataset.equals("kjv")) {
            throw new SomaException("train charlm: character models train on --dataset kjv, got '" + dataset + "'");
        }
        if (c.context < 2 || c.context > 4096) {
            throw new IllegalArgumentException("train charlm: --context must be in 2..4096, got " + c.context);
        }
        Path root = c.datasetOptions.dataRoot != null ? c.datasetOptions.dataRoot : DatasetFetcher.defaultDataRoot();
        Kjv.Corpus corpus = Kjv.load(root, line -> {
            console.println(line);
            console.flush();
        });
        String trainText = c.limit > 0 ? corpus.train().substring(0, Math.min(c.limit, corpus.train().length())) : corpus.train();
        // The whole book's characters, so a validation or prompt character is never unknown.
        CharVocabulary vocab = CharVocabulary.of(corpus.train() + corpus.validation());
        CharWindows train = CharWindows.of(vocab.encode(trainText), c.context);
        String validationText = c.testLimit > 0
                ? corpus.validation().substring(0, Math.min(c.testLimit, corpus.validation().length())) : corpus.validation();
        CharWindows validation = CharWindows.of(vocab.encode(validationText), c.context);

        Path runDir = c.out != null ? c.out : Path.of("runs", "charlm-" + arch + "-" + dataset);
        Files.createDirectories(runDir);
        Path checkpoint = runDir.resolve("model.safetensors");
        if (Mpi.writesOutputs()) new CharModelInfo(arch, c.context, vocab.characters()).save(runDir.resolve(CharModelInfo.FILE_NAME));
        // The LSTM learns much faster at 3e-3 than at the image models' 1e-3 (1 epoch on the KJV: 1.84 against 2.38
        // validation bits per character); the transformer keeps 1e-3 (no warm-up). --learning-rate decides when given.
        boolean lrGiven = c.spec.commandLine().getParseResult().hasMatchedOption("--learning-rate");
        double lr = lrGiven ? c.learningRate : arch.equals("lstm") ? 3e-3 : 1e-3;
        try (Sequential m = LanguageModels.character(arch, vocab.size(), c.context)) {
            m.seed(c.seed).to(c.device).compile(c.adam(lr, train.size()), "sparse_categorical_crossentropy");
            m.build(dev.soma.nn.Layer.VARIABLE); // any window length, so sampling can start from a short prompt
            console.println(m.summary());
            console.printf(Locale.ROOT, "training on %,d characters (%,d windows of %d), validating on %,d, %d characters, "
                            + "%d epochs, batch %d, Adam lr %g (%s)%n", trainText.length(), train.size(), c.context,
                    validationText.length(), vocab.size(), c.epochs, c.batchSize, lr, c.lrSchedule);
            console.flush();
            FitOptions options = new FitOptions().batchSize(c.batchSize).epochs(c.epochs).seed(c.seed)
                    .validationData(validation).verbose(c.quiet ? 2 : 1)
                    .callbacks(new ModelCheckpoint(checkpoint), new CsvLogger(runDir.resolve("history.csv")));
            c.dataParallel(options, console);
            History history = m.fit(train, c.resumable(options, checkpoint));
            if (!Mpi.writesOutputs()) return 0; // data-parallel: rank 0 plots, evaluates and samples
            String curves = CurvesPlot.write(runDir.resolve("curves.png"), history.arrays());
            Map<String, Double> result = m.evaluate(validation, c.batchSize);
            String sample = new TextSampler(m, vocab, c.context).generate(PROMPT, 500, 0.8, 1);
            Files.writeString(runDir.resolve("sample.txt"), sample + "\n", StandardCharsets.UTF_8);
            double knownWords = new KnownWords(corpus.train()).fractionKnown(sample.substring(PROMPT.length()));
            console.println("sample (temperature 0.8, seed 1):");
            console.println(sample);
            console.println("checkpoint: " + checkpoint + "  curves: " + curves);
            double loss = result.get("loss");
            console.printf(Locale.ROOT, "val_bits_per_char=%.4f val_loss=%.4f sample_known_words=%.2f%n", loss / Math.log(2),
                    loss, knownWords);
            console.flush();
        }
        return 0;
    }
}
