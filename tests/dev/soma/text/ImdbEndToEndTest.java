package dev.soma.text;

import dev.soma.data.ArrayDataset;
import dev.soma.data.DatasetFetcher;
import dev.soma.model.FitOptions;
import dev.soma.model.Sequential;
import dev.soma.optim.Adam;
import dev.soma.testing.NoLeaks;
import dev.soma.zoo.ReferenceModels;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Real IMDB (fetched and checksum-checked on first use, as the CLI does): the fixed split, and an LSTM sentiment
 * model that learns from 3,000 reviews. Chance is 0.5; a broken embedding, mask, recurrence or backward through
 * time stays near it.
 */
@ExtendWith(NoLeaks.class)
class ImdbEndToEndTest {
    static Imdb.Dataset imdb;

    @BeforeAll
    static void fetch() throws IOException {
        imdb = Imdb.load(DatasetFetcher.defaultDataRoot(), System.out::println);
    }

    @Test
    void theSplitIsFixedBalancedAndClean() {
        assertEquals(25_000, imdb.train().size());
        assertEquals(25_000, imdb.test().size());
        int positive = 0;
        for (int l : imdb.train().labels()) positive += l;
        assertTrue(positive > 12_000 && positive < 13_000, "train positives " + positive);
        for (int i = 0; i < 200; i++) assertFalse(imdb.train().texts().get(i).contains("<br"), "review " + i);
        // The shuffle is seeded: the first reviews are always the same ones (and of both labels).
        int firstLabels = 0;
        for (int i = 0; i < 20; i++) firstLabels += imdb.train().labels()[i];
        assertTrue(firstLabels > 0 && firstLabels < 20);
    }

    @Test
    void lstmLearnsSentimentFromThreeThousandReviews() {
        assertLearns("lstm", 3);
    }

    @Test
    void transformerLearnsSentimentFromThreeThousandReviews() {
        assertLearns("transformer", 2);
    }

    /** Trains a text reference model on 3,000 real reviews; chance is 0.5, a broken model stays near it. */
    private static void assertLearns(String model, int epochs) {
        Imdb.Split train = imdb.train().head(3000);
        Imdb.Split test = imdb.test().head(1000);
        Vocabulary vocab = Vocabulary.build(train.texts(), 10_000);
        int length = 150;
        ArrayDataset trainData = TextClassification.binary(train.texts(), train.labels(), vocab, length);
        ArrayDataset testData = TextClassification.binary(test.texts(), test.labels(), vocab, length);
        try (Sequential m = ReferenceModels.textClassifier(model, vocab.size(), length)) {
            m.seed(1).compile(new Adam(1e-3), "binary_crossentropy", "accuracy");
            m.fit(trainData, new FitOptions().batchSize(32).epochs(epochs).verbose(0).seed(1));
            Map<String, Double> r = m.evaluate(testData, 250);
            assertTrue(r.get("accuracy") > 0.72, model + " test accuracy " + r);
        }
    }
}
