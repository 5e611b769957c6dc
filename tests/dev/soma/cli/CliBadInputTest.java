package dev.soma.cli;

import dev.soma.model.Checkpoint;
import dev.soma.model.Sequential;
import dev.soma.nn.Conv2D;
import dev.soma.nn.Dense;
import dev.soma.nn.Flatten;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Bad option values and files on the command line: each is refused with exit code 1 and one line naming the
 * option (no stack trace), before any data is loaded: the data root given is an empty folder, and stays empty
 * (nothing was fetched or read).
 */
@ExtendWith(NoLeaks.class)
class CliBadInputTest {
    @TempDir
    Path dataRoot;

    /** Runs {@code args} plus an empty --data-root where the command takes one; expects a one-line refusal. */
    private CliRun refused(String[] args, String... parts) throws IOException {
        List<String> all = new ArrayList<>(List.of(args));
        if (!args[0].equals("generate") && !args[0].equals("sample")) all.addAll(List.of("--data-root", dataRoot.toString()));
        CliRun r = CliRun.of(all.toArray(String[]::new));
        String what = String.join(" ", args) + " -> " + r.err();
        assertEquals(1, r.exit(), what);
        assertEquals(1, r.err().strip().lines().count(), "not one line: " + what);
        assertFalse(r.err().contains("Exception") || r.err().contains("\tat "), what);
        for (String p : parts) assertTrue(r.err().contains(p), "'" + p + "' missing: " + what);
        try (Stream<Path> s = Files.list(dataRoot)) {
            assertEquals(0, s.count(), "data was loaded or fetched before refusing: " + what);
        }
        return r;
    }

    private static String[] a(String... args) {
        return args;
    }

    @Test
    void trainRefusesNumbersOutOfRange() throws IOException {
        refused(a("train", "cnn", "--batch-size", "0"), "--batch-size", "0");
        refused(a("train", "mlp", "--batch-size", "-3"), "--batch-size");
        refused(a("train", "cnn", "--limit", "-5"), "--limit", "-5");
        refused(a("train", "cnn", "--test-limit", "-1"), "--test-limit");
        refused(a("train", "cnn", "--epochs", "0"), "--epochs", "0");
        refused(a("train", "cnn", "--epochs", "-2"), "--epochs");
        refused(a("train", "cnn", "--learning-rate", "-0.01"), "--learning-rate", "-0.01");
        refused(a("train", "cnn", "--learning-rate", "NaN"), "--learning-rate", "NaN");
        refused(a("train", "cnn", "--learning-rate", "Infinity"), "--learning-rate");
        refused(a("train", "cnn", "--validation-split", "1"), "--validation-split");
        refused(a("train", "cnn", "--validation-split", "-0.1"), "--validation-split");
        refused(a("train", "cnn", "--lr-schedule", "exponential"), "--lr-schedule", "exponential");
        refused(a("train", "gan", "--d-steps", "0"), "--d-steps");
        refused(a("train", "gan", "--label-smoothing", "1.5"), "--label-smoothing");
        refused(a("train", "cnn", "--dp-noise", "1", "--dp-clip", "1", "--dp-physical-batch", "0"), "--dp-physical-batch", "0");
        refused(a("train", "cnn", "--dp-physical-batch", "256"), "--dp-physical-batch", "--dp-noise");
        refused(a("train", "lstm", "--max-length", "0"), "--max-length");
        refused(a("train", "lstm", "--vocabulary", "1"), "--vocabulary");
        refused(a("train", "charlm", "--context", "0"), "--context");
        refused(a("train", "resnet"), "resnet", "cnn");
        refused(a("train", "cnn", "--precision", "fp8"), "--precision", "fp8", "bf16");
        refused(a("train", "lstm", "--precision", "bf16"), "--precision", "image classifiers");
    }

    /**
     * Options only some models or methods read are checked whatever the model or method (CliFuzzTest found each taken
     * silently because the chosen one ignored it).
     */
    @Test
    void valuesWrongForEveryModelAreRefusedEvenWhereTheOptionIsUnused(@TempDir Path dir) throws IOException {
        refused(a("train", "cnn", "--context", "-2147483648"), "--context", "-2147483648");
        refused(a("train", "mlp", "--dp-delta", "NaN"), "--dp-delta", "NaN");
        refused(a("train", "cnn", "--excitatory-share", "-Infinity"), "--excitatory-share");
        refused(a("train", "mlp", "--vocabulary", "2"), "--vocabulary");
        refused(a("train", "cnn", "--gan-loss", "bogus"), "--gan-loss", "bogus");
        refused(a("train", "cnn", "--arch", "dcgan"), "--arch applies to gan and charlm only");
        refused(a("train", "gan", "--arch", "lstm"), "--arch", "mlp or dcgan");
        String missing = dir.resolve("none").toString();
        refused(a("explain", "--checkpoint", missing, "--method", "ig", "--window", "-1"), "window");
        refused(a("explain", "--checkpoint", missing, "--method", "saliency", "--noise", "NaN"), "noise");
        refused(a("explain", "--checkpoint", missing, "--method", "occlusion", "--samples", "0"), "samples");
    }

    @Test
    void trainRefusesADatasetTheModelCannotUse() throws IOException {
        refused(a("train", "lstm", "--dataset", "mnist"), "lstm", "mnist", "imdb");
        refused(a("train", "transformer", "--dataset", "fashion-mnist"), "transformer", "imdb");
        refused(a("train", "charlm", "--dataset", "mnist"), "charlm", "kjv");
        refused(a("train", "cnn", "--dataset", "imdb"), "cnn", "imdb");
        refused(a("train", "gan", "--dataset", "kjv"), "gan", "kjv");
        refused(a("train", "cnn", "--dataset", "/no/such/soma/folder"), "--dataset", "/no/such/soma/folder");
    }

    @Test
    void missingFilesAndDirectoriesAreNamedAsSuch(@TempDir Path dir) throws IOException {
        Path missing = dir.resolve("missing.safetensors");
        refused(a("evaluate", "--checkpoint", missing.toString()), "--checkpoint", missing.toString(), "no such file");
        refused(a("predict", "--checkpoint", missing.toString()), "--checkpoint", "no such file");
        refused(a("evaluate", "--checkpoint", dir.toString()), "--checkpoint", dir.toString(), "is a folder without model.safetensors");
        refused(a("predict", "--checkpoint", dir.toString()), "--checkpoint", "is a folder without model.safetensors");
        refused(a("predict", "--image", missing.toString(), "--checkpoint", dir.toString()), "--checkpoint", "model.safetensors");
        refused(a("generate", "--checkpoint", missing.toString()), "--checkpoint", "no such file");
        refused(a("generate", "--checkpoint", dir.toString()), "--checkpoint", "model.safetensors");
        refused(a("sample", "--checkpoint", dir.toString()), "--checkpoint", "generator.safetensors");
        refused(a("predict", "--checkpoint", missing.toString(), "--count", "0"), "--count");
    }

    @Test
    void checkpointsOfTheWrongKindAreRefused(@TempDir Path dir) throws IOException {
        Path generator = dir.resolve("generator.safetensors");
        try (Sequential g = new Sequential(new Dense(16, "relu"), new Dense(784, "tanh"))) {
            g.seed(1).build(10);
            Checkpoint.save(g, generator);
        }
        Path classifier = dir.resolve("classifier.safetensors");
        try (Sequential c = new Sequential(new Conv2D(2, 3, "relu"), new Flatten(), new Dense(10, "softmax"))) {
            c.seed(1).build(28, 28, 1);
            Checkpoint.save(c, classifier);
        }
        refused(a("evaluate", "--checkpoint", generator.toString()), generator.toString(), "image classifier");
        refused(a("predict", "--checkpoint", generator.toString()), "image classifier");
        refused(a("sample", "--checkpoint", classifier.toString()), classifier.toString(), "generator");
        Path notACheckpoint = dir.resolve("notes.txt");
        Files.writeString(notACheckpoint, "hello");
        refused(a("evaluate", "--checkpoint", notACheckpoint.toString()), notACheckpoint.toString());
        // A text dataset for an image classifier: refused before IMDB (26 MB) or the KJV is fetched into the root.
        String c = classifier.toString();
        refused(a("evaluate", "--checkpoint", c, "--dataset", "imdb"), "--dataset imdb is text", "mnist");
        refused(a("predict", "--checkpoint", c, "--dataset", "KJV"), "--dataset KJV is text");
        refused(a("explain", "--checkpoint", c, "--dataset", "imdb"), "--dataset imdb is text");
        refused(a("attack", "--checkpoint", c, "--dataset", "kjv"), "--dataset kjv is text");
        refused(a("robustness", "--checkpoint", c, "--dataset", "imdb"), "--dataset imdb is text");
    }
}
