package dev.soma.cli;

import com.google.gson.Gson;
import com.google.gson.JsonObject;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** {@code soma train --optimizer sgd --momentum}: bad values refused before data loads; a run trains with SGD. */
@ExtendWith(NoLeaks.class)
class OptimizerCliTest {
    private static void refused(Path emptyRoot, String model, String part, String... args) throws Exception {
        CliRun.refusedBeforeData(emptyRoot, model, part, args);
    }

    @Test
    void refusesBadOptimizerOptionsBeforeLoadingData(@TempDir Path root) throws Exception {
        refused(root, "cnn", "--optimizer 'rmsprop'", "--optimizer", "rmsprop");
        refused(root, "cnn", "--momentum must be in [0, 1), got 1.0", "--optimizer", "sgd", "--momentum", "1");
        refused(root, "cnn", "--momentum must be in [0, 1), got -0.5", "--optimizer", "sgd", "--momentum", "-0.5");
        refused(root, "cnn", "--momentum needs --optimizer sgd", "--momentum", "0.9");
        refused(root, "gan", "--optimizer sgd works with the image classifiers", "--optimizer", "sgd");
    }

    @Test
    void sgdWithMomentumTrainsAndIsSavedAsSuch(@TempDir Path dir) throws Exception {
        Path data = TrainResumeCliTest.dataset(dir);
        Path run = dir.resolve("run");
        CliRun r = CliRun.of("train", "mlp", "--dataset", data.toString(), "--epochs", "2", "--batch-size", "16",
                "--optimizer", "sgd", "--momentum", "0.9", "--learning-rate", "0.05", "--quiet", "--out", run.toString(),
                "--dp-noise", "0.5", "--dp-clip", "1.0");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("SGD momentum 0.9"), r.out());
        JsonObject optimizer = savedOptimizer(run.resolve("model.safetensors"));
        assertEquals("sgd", optimizer.get("name").getAsString(), optimizer.toString());
        assertEquals(0.9, optimizer.getAsJsonObject("config").get("momentum").getAsDouble(), 0.0, optimizer.toString());
        // the cosine schedule (the default) applies to SGD too
        double lr = optimizer.getAsJsonObject("config").get("learning_rate").getAsDouble();
        assertTrue(lr >= 0 && lr < 0.05, "the cosine schedule did not decay SGD's learning rate: " + optimizer);
    }

    /** The "optimizer" entry of a safetensors file's metadata (8-byte little-endian header length, then JSON). */
    static JsonObject savedOptimizer(Path file) throws Exception {
        byte[] bytes = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        String header = new String(bytes, 8, (int) n, StandardCharsets.UTF_8);
        Gson gson = new Gson();
        JsonObject meta = gson.fromJson(header, JsonObject.class).getAsJsonObject("__metadata__");
        return gson.fromJson(meta.get("optimizer").getAsString(), JsonObject.class);
    }
}
