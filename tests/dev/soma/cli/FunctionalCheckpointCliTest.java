package dev.soma.cli;

import dev.soma.data.ArrayDataset;
import dev.soma.data.Mnist;
import dev.soma.model.FunctionalModel;
import dev.soma.model.Input;
import dev.soma.model.SymbolicTensor;
import dev.soma.nn.Dense;
import dev.soma.nn.Flatten;
import dev.soma.optim.Adam;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** {@code soma evaluate} and {@code soma predict} take a functional model's checkpoint as they take a Sequential's. */
@ExtendWith(NoLeaks.class)
class FunctionalCheckpointCliTest {
    @Test
    void evaluateAndPredictLoadAFunctionalCheckpoint(@TempDir Path dir) throws Exception {
        Path data = TrainResumeCliTest.dataset(dir);
        Path checkpoint = dir.resolve("functional.safetensors");
        String expected;
        Input in = Input.of(8, 8, 1);
        SymbolicTensor h = in.then(new Flatten()).then(new Dense(8, "relu"));
        try (FunctionalModel m = new FunctionalModel(List.of(in), List.of(h.then(new Dense(4, "softmax"))))) {
            m.seed(4);
            m.compile(new Adam(0.01), "sparse_categorical_crossentropy", "accuracy");
            m.save(checkpoint);
            ArrayDataset test = ImageData.toDataset(Mnist.load(data).test());
            Map<String, Double> r = m.evaluate(test, 256);
            expected = String.format(Locale.ROOT, "test_accuracy=%.4f test_loss=%.4f", r.get("accuracy"), r.get("loss"));
        }
        CliRun evaluate = CliRun.of("evaluate", "--checkpoint", checkpoint.toString(), "--dataset", data.toString());
        assertEquals(0, evaluate.exit(), evaluate.err());
        assertTrue(evaluate.out().contains(expected), evaluate.out());

        CliRun predict = CliRun.of("predict", "--checkpoint", checkpoint.toString(), "--dataset", data.toString(),
                "--count", "3");
        assertEquals(0, predict.exit(), predict.err());
        assertEquals(4, predict.out().strip().lines().count(), predict.out());
    }

    @Test
    void aFunctionalModelThatIsNoImageClassifierIsRefusedInOneLine(@TempDir Path dir) throws Exception {
        Path data = TrainResumeCliTest.dataset(dir);
        Path checkpoint = dir.resolve("two-inputs.safetensors");
        Input a = Input.of(8, 8, 1);
        Input b = Input.of(8, 8, 1);
        try (FunctionalModel m = new FunctionalModel(List.of(a, b), List.of(SymbolicTensor.apply(new dev.soma.nn.Add(), a, b)
                .then(new Flatten()).then(new Dense(4, "softmax"))))) {
            m.save(checkpoint);
        }
        for (String command : new String[] {"evaluate", "predict"}) {
            CliRun r = CliRun.of(command, "--checkpoint", checkpoint.toString(), "--dataset", data.toString());
            assertEquals(1, r.exit(), command);
            assertEquals(1, r.err().strip().lines().count(), r.err());
            assertTrue(r.err().contains("not an image classifier"), r.err());
        }
    }
}
