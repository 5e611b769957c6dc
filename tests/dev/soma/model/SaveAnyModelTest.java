package dev.soma.model;

import dev.soma.data.ArrayDataset;
import dev.soma.data.MultiArrayDataset;
import dev.soma.errors.SomaException;
import dev.soma.memory.Scope;
import dev.soma.nn.Add;
import dev.soma.nn.BatchNormalization;
import dev.soma.nn.Concatenate;
import dev.soma.nn.Dense;
import dev.soma.nn.Dropout;
import dev.soma.nn.LSTM;
import dev.soma.nn.Param;
import dev.soma.nn.Reshape;
import dev.soma.optim.Adam;
import dev.soma.optim.SGD;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Any model built from registered layers saves and loads (architecture, weights, compile arguments, optimizer):
 * functional graphs with several inputs and outputs, shared layers, merges, nested models and GAN pairs. Loaded
 * models predict bit for bit as the saved ones on the CPU and train on.
 */
@ExtendWith(NoLeaks.class)
class SaveAnyModelTest {
    /** Two inputs of 4 features; a class (0..2) and a regression target that depend on both. */
    static MultiArrayDataset data(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[n * 4], b = new float[n * 4], t = new float[n];
        int[] y = new int[n];
        for (int i = 0; i < n; i++) {
            for (int d = 0; d < 4; d++) {
                a[i * 4 + d] = (float) r.nextGaussian();
                b[i * 4 + d] = (float) r.nextGaussian();
            }
            y[i] = (a[i * 4] > b[i * 4] ? 1 : 0) + (a[i * 4 + 1] + b[i * 4 + 2] > 0.5 ? 1 : 0);
            t[i] = 0.5f * a[i * 4 + 3] - b[i * 4 + 1];
        }
        return MultiArrayDataset.builder().input(a, 4).input(b, 4).labels(y).targets(t, 1).build();
    }

    /**
     * Two inputs through one shared Dense, a nested Sequential (Reshape, LSTM with input dropout) on one of them,
     * a Concatenate and an Add, Dropout and BatchNormalization, and two heads.
     */
    static FunctionalModel graph(long seed) {
        Input a = Input.of(4).named("a");
        Input b = Input.of(4).named("b");
        Dense shared = new Dense(8, "relu");
        SymbolicTensor ha = a.then(shared);
        SymbolicTensor hb = b.then(shared);
        Sequential encoder = new Sequential(new Reshape(2, 2), new LSTM(8).dropout(0.25));
        SymbolicTensor sum = SymbolicTensor.apply(new Add(), ha, a.then(encoder.asLayer()));
        SymbolicTensor h = SymbolicTensor.apply(new Concatenate(), sum, hb)
                .then(new Dropout(0.3)).then(new BatchNormalization()).then(new Dense(8, "relu"));
        SymbolicTensor cls = h.then(new Dense(3, "softmax")).named("cls");
        SymbolicTensor reg = h.then(new Dense(1)).named("reg");
        FunctionalModel m = new FunctionalModel(List.of(a, b), List.of(cls, reg));
        m.seed(seed);
        return m;
    }

    static void compile(Model m, Adam adam) {
        m.compile(adam, List.of(Loss.byName("sparse_categorical_crossentropy"), Loss.byName("mse")), List.of(1.0, 0.5),
                List.of(List.of("accuracy"), List.of()));
    }

    static FitOptions options(int epochs) {
        return new FitOptions().batchSize(16).epochs(epochs).seed(3).verbose(0);
    }

    static List<float[]> predictions(Model m, dev.soma.data.Dataset d) {
        List<float[]> out = new ArrayList<>();
        for (Tensor t : m.predictAll(d, 32)) {
            try (t) {
                out.add(t.toFloatArray());
            }
        }
        return out;
    }

    static void assertSamePredictions(List<float[]> expected, List<float[]> actual) {
        assertEquals(expected.size(), actual.size());
        for (int i = 0; i < expected.size(); i++) assertArrayEquals(expected.get(i), actual.get(i), "output " + i);
    }

    static List<float[]> weights(Model m) {
        List<float[]> out = new ArrayList<>();
        for (Param p : m.params()) out.add(p.value().toFloatArray());
        return out;
    }

    @Test
    void aFunctionalGraphWithSharedMergedAndNestedLayersSavesAndLoadsBitForBit(@TempDir Path dir) throws Exception {
        MultiArrayDataset train = data(96, 1), test = data(40, 2);
        Path file = dir.resolve("graph.safetensors");
        List<float[]> before;
        try (FunctionalModel m = graph(5)) {
            compile(m, new Adam(0.01));
            m.fit(train, options(1));
            before = predictions(m, test);
            m.save(file);
        }
        try (FunctionalModel loaded = FunctionalModel.load(file)) {
            assertSamePredictions(before, predictions(loaded, test));
            assertEquals(List.of("cls", "reg"), loaded.outputNames());
            assertEquals(List.of("a", "b"), loaded.inputs().stream().map(Input::name).toList());
            assertEquals(List.of(1.0, 0.5), loaded.lossWeights());
            assertEquals("mean_squared_error", loaded.losses().get(1).name());
            // The shared Dense is one layer applied twice, as in the saved graph.
            assertEquals(2, loaded.nodes().stream().filter(n -> n.layer() == loaded.nodes().get(0).layer()).count());
            assertTrue(loaded.layers().stream().anyMatch(l -> l instanceof NestedModel));
            assertEquals(1, loaded.completedEpochs());
            // ... and it trains on.
            History h = loaded.fit(train, options(2).initialEpoch(1));
            assertEquals(2, h.epochs(), "the history continues the saved run's: " + h.all());
            assertTrue(Double.isFinite(h.last("loss")));
            assertNotEquals(before.get(0)[0], predictions(loaded, test).get(0)[0], "training changed the model");
        }
    }

    /** A node with several outputs (an LSTM's [sequence, h, c]) whose states feed other layers: saved as such. */
    @Test
    void aGraphUsingRecurrentStatesSavesAndLoadsBitForBit(@TempDir Path dir) throws Exception {
        MultiArrayDataset test = data(24, 4);
        Path file = dir.resolve("states.safetensors");
        List<float[]> before;
        try (FunctionalModel m = statesGraph()) {
            compile(m, new Adam(0.01));
            m.fit(data(64, 3), options(1));
            before = predictions(m, test);
            m.save(file);
        }
        try (FunctionalModel loaded = FunctionalModel.load(file)) {
            assertSamePredictions(before, predictions(loaded, test));
            assertEquals(3, loaded.nodes().stream().filter(n -> n.layer() instanceof LSTM).findFirst().orElseThrow()
                    .outputs().size(), "the LSTM node keeps its three outputs");
        }
    }

    /** a -> Reshape -> LSTM(returnState) -> [seq, h, c]; cls from h + Dense(b), reg from c. */
    static FunctionalModel statesGraph() {
        Input a = Input.of(4).named("a");
        Input b = Input.of(4).named("b");
        List<SymbolicTensor> lstm = a.then(new Reshape(2, 2)).thenAll(new LSTM(6).returnState(true));
        SymbolicTensor h = SymbolicTensor.apply(new Add(), lstm.get(1), b.then(new Dense(6, "tanh")));
        SymbolicTensor cls = h.then(new Dense(3, "softmax")).named("cls");
        SymbolicTensor reg = lstm.get(2).then(new Dense(1)).named("reg");
        FunctionalModel m = new FunctionalModel(List.of(a, b), List.of(cls, reg));
        m.seed(7);
        return m;
    }

    @Test
    void sequentialWithNestedModelsSavesAndLoads(@TempDir Path dir) throws Exception {
        ArrayDataset d = TrainingLoopTest.blobs(64, 4);
        Path file = dir.resolve("seq.safetensors");
        Input in = Input.of(8);
        FunctionalModel head = new FunctionalModel(List.of(in), List.of(in.then(new Dense(3, "softmax"))));
        Sequential body = new Sequential(new Dense(8, "tanh"), new Dropout(0.2));
        List<float[]> before;
        try (Sequential m = new Sequential(body.asLayer(), head.asLayer())) {
            m.seed(2).compile(new SGD(0.1), "sparse_categorical_crossentropy", "accuracy");
            m.fit(d, new FitOptions().batchSize(16).epochs(1).verbose(0));
            before = predictions(m, d);
            m.save(file);
        }
        try (Sequential loaded = Checkpoint.load(file)) {
            assertSamePredictions(before, predictions(loaded, d));
            assertEquals("sgd", loaded.optimizer().name());
            assertTrue(loaded.layers().get(1) instanceof NestedModel n && n.model() instanceof FunctionalModel);
        }
    }

    @Test
    void aGanPairAndItsCombinedModelSaveAndLoad(@TempDir Path dir) throws Exception {
        Sequential generator = new Sequential(new Dense(8, "relu"), new Dense(4, "tanh"));
        Input x = Input.of(4);
        FunctionalModel discriminator = new FunctionalModel(List.of(x),
                List.of(x.then(new Dense(6, "relu")).then(new Dense(1, "sigmoid"))));
        try (Sequential combined = new Sequential(generator.asLayer(), discriminator.asLayer())) {
            combined.seed(1).build(3);
            try (Scope s = Scope.open()) {
                Tensor z = Tensor.rand(7, 5, 3);
                Tensor score = discriminator.call(generator.call(z));
                Tensor both = combined.call(z);
                assertArrayEquals(score.toFloatArray(), both.toFloatArray(), "the combined model shares G and D");
            }
            generator.save(dir.resolve("g.safetensors"));
            discriminator.save(dir.resolve("d.safetensors"));
            combined.save(dir.resolve("gan.safetensors"));
            try (Model g = Checkpoint.loadModel(dir.resolve("g.safetensors"));
                 Model d = Checkpoint.loadModel(dir.resolve("d.safetensors"));
                 Model c = Checkpoint.loadModel(dir.resolve("gan.safetensors"));
                 Scope s = Scope.open()) {
                Tensor z = Tensor.rand(8, 5, 3);
                Tensor expected = combined.call(z), viaPair = d.call(g.call(z)), viaCombined = c.call(z);
                {
                    assertArrayEquals(expected.toFloatArray(), viaPair.toFloatArray());
                    assertArrayEquals(expected.toFloatArray(), viaCombined.toFloatArray());
                }
            }
        }
    }

    @Test
    void modelCheckpointWritesFunctionalModels(@TempDir Path dir) throws Exception {
        MultiArrayDataset train = data(64, 6);
        Path file = dir.resolve("ckpt.safetensors");
        List<float[]> before;
        try (FunctionalModel m = graph(8)) {
            compile(m, new Adam(0.01));
            m.fit(train, options(2).callbacks(new ModelCheckpoint(file)));
            before = predictions(m, train);
        }
        try (Model loaded = Checkpoint.loadModel(file)) {
            assertEquals(2, loaded.completedEpochs());
            assertEquals(2, loaded.history().epochs());
            assertSamePredictions(before, predictions(loaded, train));
        }
    }

    @Test
    void wrongKindsOfModelAreNamed(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("f.safetensors");
        try (FunctionalModel m = graph(1)) {
            m.build();
            m.save(file);
        }
        SomaException e = assertThrows(SomaException.class, () -> Checkpoint.load(file));
        assertTrue(e.getMessage().contains("FunctionalModel") && e.getMessage().contains("loadModel"), e.getMessage());
        Input a = Input.of(2), b = Input.of(2);
        try (FunctionalModel two = new FunctionalModel(List.of(a, b), List.of(SymbolicTensor.apply(new Add(), a, b)))) {
            UnsupportedOperationException u = assertThrows(UnsupportedOperationException.class, two::asLayer);
            assertTrue(u.getMessage().contains("2 input(s)"), u.getMessage());
        }
        assertFalse(Files.list(dir).anyMatch(p -> p.getFileName().toString().endsWith(".tmp")));
    }
}
