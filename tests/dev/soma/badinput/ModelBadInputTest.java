package dev.soma.badinput;

import dev.soma.data.ArrayDataset;
import dev.soma.data.Batch;
import dev.soma.data.DataLoader;
import dev.soma.errors.OutOfMemoryException;
import dev.soma.errors.ShapeException;
import dev.soma.errors.SomaException;
import dev.soma.memory.Scope;
import dev.soma.model.FitOptions;
import dev.soma.model.Sequential;
import dev.soma.nn.Dense;
import dev.soma.nn.LayerRegistry;
import dev.soma.optim.Adam;
import dev.soma.optim.SGD;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.Map;

import static dev.soma.badinput.Expect.thrown;
import static org.junit.jupiter.api.Assertions.*;

/** Bad inputs at the model level: shapes that do not fit a built model, empty data, bad configuration. */
@ExtendWith(NoLeaks.class)
class ModelBadInputTest {
    private static Sequential built() {
        Sequential m = new Sequential(new Dense(3, "relu"), new Dense(2, "softmax"));
        m.seed(1).build(4);
        m.compile(new SGD(0.1), "sparse_categorical_crossentropy", "accuracy");
        return m;
    }

    @Test
    void inputOfTheWrongFeatureSizeNamesTheLayer() {
        try (Sequential m = built(); Scope s = Scope.open()) {
            String layer = m.layers().get(0).name();
            thrown(ShapeException.class, () -> m.call(Tensor.zeros(2, 5)), layer, "[batch, 4]", "float32[2, 5]");
        }
    }

    @Test
    void inputWithoutABatchDimension() {
        try (Sequential m = built(); Scope s = Scope.open()) {
            thrown(ShapeException.class, () -> m.call(Tensor.scalar(1)), "no batch dimension");
        }
    }

    @Test
    void emptyBatchGivesAnEmptyPredictionButCannotTrain() {
        try (Sequential m = built(); Scope s = Scope.open()) {
            assertArrayEquals(new long[] {0, 2}, m.call(Tensor.zeros(0, 4)).shape());
            Batch empty = new Batch(new float[0], new long[] {0, 4}, new int[0], null, new long[] {0});
            thrown(ShapeException.class, () -> m.trainStep(empty), "sparseCategoricalCrossEntropy", "non-empty");
        }
    }

    @Test
    void trainingOnLabelsOutOfRangeFailsCleanlyAndTheModelTrainsOnAfterwards() {
        try (Sequential m = built()) {
            Batch bad = new Batch(new float[8], new long[] {2, 4}, new int[] {0, 7}, null, new long[] {2});
            thrown(ShapeException.class, () -> m.trainStep(bad), "sparseCategoricalCrossEntropy", "label 7", "2 classes");
            Batch good = new Batch(new float[8], new long[] {2, 4}, new int[] {0, 1}, null, new long[] {2});
            assertTrue(Double.isFinite(m.trainStep(good)));
        }
    }

    @Test
    void emptyDatasetAndZeroBatchSize() {
        ArrayDataset none = ArrayDataset.withLabels(new float[0], new long[] {4}, new int[0]);
        thrown(IllegalArgumentException.class, () -> new DataLoader(none, 8, false, 0), "DataLoader", "empty");
        ArrayDataset one = ArrayDataset.withLabels(new float[4], new long[] {4}, new int[1]);
        thrown(IllegalArgumentException.class, () -> new DataLoader(one, 0, false, 0), "batchSize must be > 0");
        try (Sequential m = built()) {
            thrown(IllegalArgumentException.class, () -> m.fit(none, new FitOptions().epochs(1).verbose(0)), "empty");
        }
    }

    @Test
    void batchArraysThatDoNotFillTheirShape() {
        thrown(ShapeException.class, () -> new Batch(new float[3], new long[] {2, 4}, new int[] {0, 1}, null, new long[] {2}),
                "Batch", "3 values", "[2, 4]");
        thrown(ShapeException.class, () -> new Batch(new float[8], new long[] {2, 4}, new int[] {0, 1, 1}, null, new long[] {2}),
                "Batch", "3 values", "[2]");
        thrown(ShapeException.class, () -> new Batch(new float[8], new long[] {2, -4}, new int[] {0, 1}, null, new long[] {2}),
                "Batch", "negative");
    }

    @Test
    void datasetWhoseFeaturesAndLabelsDisagree() {
        thrown(ShapeException.class, () -> ArrayDataset.withLabels(new float[10], new long[] {4}, new int[2]),
                "ArrayDataset", "10 feature values", "[4]");
        thrown(ShapeException.class, () -> ArrayDataset.withLabels(new float[8], new long[] {4}, new int[3]),
                "ArrayDataset", "2 examples but 3 targets");
    }

    @Test
    void useBeforeCompileAndUnknownNames() {
        try (Sequential m = new Sequential(new Dense(2))) {
            Batch b = new Batch(new float[4], new long[] {1, 4}, new int[] {0}, null, new long[] {1});
            thrown(IllegalStateException.class, () -> m.trainStep(b), "trainStep", "compile");
            thrown(IllegalArgumentException.class, () -> m.compile(new SGD(0.1), "hinge"), "unknown loss 'hinge'");
            thrown(IllegalArgumentException.class, () -> m.compile(new SGD(0.1), "mse", "auc"), "unknown metric 'auc'");
        }
        thrown(IllegalArgumentException.class, () -> new Dense(0), "Dense", "units must be > 0");
        thrown(IllegalArgumentException.class, () -> new Dense(2, "swishy"), "unknown activation 'swishy'");
        thrown(IllegalArgumentException.class, () -> LayerRegistry.create("conv9d", Map.of()), "unknown layer type 'conv9d'");
    }

    @Test
    void optimizerHyperParametersOutOfRange() {
        thrown(IllegalArgumentException.class, () -> new SGD(0.1, 1.0, false), "SGD", "momentum");
        thrown(IllegalArgumentException.class, () -> new Adam(0.1, 0.9, 1.5, 1e-7), "betas");
        thrown(IllegalArgumentException.class, () -> new Adam(0.1, 0.9, 0.999, 0), "epsilon");
        thrown(IllegalArgumentException.class, () -> new SGD(Double.NaN), "sgd", "learning rate", "NaN");
        thrown(IllegalArgumentException.class, () -> new Adam(0.1).learningRate(Double.POSITIVE_INFINITY), "adam",
                "learning rate", "Infinity");
        thrown(IllegalArgumentException.class, () -> new SGD(0.1).clipValue(Double.NaN), "clipValue");
    }

    @Test
    void rebuildingForAnotherShapeIsRefused() {
        try (Sequential m = built()) {
            thrown(ShapeException.class, () -> m.build(5), m.layers().get(0).name(), "already built", "[4]", "[5]");
        }
    }

    @Test
    void closedModelCannotPredict() {
        Sequential m = built();
        m.close();
        try (Scope s = Scope.open()) {
            thrown(SomaException.class, () -> m.call(Tensor.zeros(1, 4)), "matmul", "closed");
        }
    }

    @Test
    void hugeLayersAreRefusedWithSomasExceptionsNotJavaErrors() {
        // 784 x 2^31-1 weights: no array or allocation can hold them.
        try (Sequential m = new Sequential(new Dense(Integer.MAX_VALUE))) {
            SomaException e = assertThrows(SomaException.class, () -> m.build(784));
            assertTrue(e instanceof ShapeException || e instanceof OutOfMemoryException, e.toString());
            assertTrue(e.getMessage().contains("kernel"), e.getMessage());
        }
        // 784 x 2^20 weights: 3.2 GB of float32, 6.4 GB to draw in double precision; beyond this JVM's heap here.
        long draw = 8L * 784 * (1 << 20);
        org.junit.jupiter.api.Assumptions.assumeTrue(draw > Runtime.getRuntime().maxMemory(), "heap large enough");
        try (Sequential m = new Sequential(new Dense(1 << 20))) {
            thrown(OutOfMemoryException.class, () -> m.build(784), "kernel", "[784, 1048576]", "heap");
            assertTrue(m.layers().get(0).params().isEmpty());
        }
    }

    @Test
    void optimizerConstructorsRefuseBadLearningRates() {
        thrown(IllegalArgumentException.class, () -> new Adam(-1), "adam", "learning rate", "-1");
        thrown(IllegalArgumentException.class, () -> new SGD(-0.5), "sgd", "learning rate", "-0.5");
        thrown(IllegalArgumentException.class, () -> new Adam(Double.NaN), "adam", "learning rate", "NaN");
        thrown(IllegalArgumentException.class, () -> new SGD(Double.NEGATIVE_INFINITY), "sgd", "learning rate");
        thrown(IllegalArgumentException.class, () -> new Adam(0.1).learningRate(-3), "adam", "learning rate", "-3");
        for (Class<?> c : new Class<?>[] {dev.soma.optim.RMSprop.class, dev.soma.optim.AdamW.class}) {
            java.lang.reflect.InvocationTargetException e = assertThrows(java.lang.reflect.InvocationTargetException.class,
                    () -> c.getConstructor(double.class).newInstance(-1.0));
            assertInstanceOf(IllegalArgumentException.class, e.getCause(), c.getSimpleName());
            assertTrue(e.getCause().getMessage().contains("learning rate"), e.getCause().getMessage());
        }
    }
}
