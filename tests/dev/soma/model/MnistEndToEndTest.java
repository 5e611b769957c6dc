package dev.soma.model;

import dev.soma.data.ArrayDataset;
import dev.soma.data.DatasetFetcher;
import dev.soma.data.Mnist;
import dev.soma.optim.Adam;
import dev.soma.testing.NoLeaks;
import dev.soma.zoo.ReferenceModels;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Trains reference models on a small slice of real MNIST (fetched and checksum-checked on first use, as
 * the CLI does) and asserts accuracies that a broken model, layer or optimizer cannot reach (chance is 0.1).
 */
@ExtendWith(NoLeaks.class)
class MnistEndToEndTest {
    static Mnist.Dataset mnist;

    @BeforeAll
    static void fetch() throws IOException {
        Path folder = DatasetFetcher.fetch(DatasetFetcher.Known.byName("mnist"), DatasetFetcher.defaultDataRoot(),
                System.out::println);
        mnist = Mnist.load(folder);
    }

    static ArrayDataset slice(Mnist.Split s, int n) {
        Mnist.Split part = s.slice(0, n);
        return ArrayDataset.withLabels(part.images(), new long[] {28, 28, 1}, part.labels());
    }

    @Test
    void mlpLearnsMnistFromThreeThousandImages() {
        try (var model = ReferenceModels.imageClassifier("mlp", 10)) {
            model.seed(1).compile(new Adam(1e-3), "sparse_categorical_crossentropy", "accuracy");
            model.fit(slice(mnist.train(), 3000), new FitOptions().batchSize(32).epochs(2).verbose(0));
            Map<String, Double> r = model.evaluate(slice(mnist.test(), 1000), 250);
            assertTrue(r.get("accuracy") > 0.85, "test accuracy " + r);
        }
    }

    @Test
    void referenceCnnLearnsMnistFromTwoThousandImages() {
        try (var model = ReferenceModels.imageClassifier("cnn", 10)) {
            model.seed(2).compile(new Adam(1e-3), "sparse_categorical_crossentropy", "accuracy");
            History h = model.fit(slice(mnist.train(), 2000), new FitOptions().batchSize(32).epochs(2).verbose(0));
            Map<String, Double> r = model.evaluate(slice(mnist.test(), 1000), 250);
            assertTrue(r.get("accuracy") > 0.90, "test accuracy " + r + " after " + h.all());
        }
    }
}
