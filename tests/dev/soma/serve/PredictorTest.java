package dev.soma.serve;

import dev.soma.autograd.Anomaly;
import dev.soma.errors.AnomalyException;
import dev.soma.errors.ShapeException;
import dev.soma.errors.SomaException;
import dev.soma.memory.Scope;
import dev.soma.model.FunctionalModel;
import dev.soma.model.Input;
import dev.soma.model.Sequential;
import dev.soma.model.SymbolicTensor;
import dev.soma.nn.Add;
import dev.soma.nn.Dense;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.*;

@ExtendWith(NoLeaks.class)
class PredictorTest {
    static final int FEATURES = 6;
    static final int EXAMPLES = 64;

    @TempDir
    Path dir;
    Path checkpoint;
    float[][] inputs = new float[EXAMPLES][FEATURES];
    float[][] expected = new float[EXAMPLES][];

    @BeforeEach
    void saveModelAndReference() throws Exception {
        SplittableRandom r = new SplittableRandom(5);
        for (float[] x : inputs) for (int j = 0; j < FEATURES; j++) x[j] = (float) r.nextGaussian();
        checkpoint = dir.resolve("model.safetensors");
        try (Sequential m = new Sequential(new Dense(16, "relu"), new Dense(3, "softmax"))) {
            m.seed(11).build(FEATURES);
            m.save(checkpoint);
            // Reference: each example alone through the model (what a direct predict computes).
            for (int i = 0; i < EXAMPLES; i++) {
                try (Scope s = Scope.open()) {
                    expected[i] = m.call(Tensor.of(inputs[i], 1, FEATURES)).toFloatArray();
                }
            }
        }
    }

    private void assertRow(int i, float[] got) {
        assertEquals(3, got.length);
        // Batching may change the summation blocking of matmul: allow float rounding, nothing more.
        for (int j = 0; j < 3; j++) assertEquals(expected[i][j], got[j], 1e-6, "example " + i + " class " + j);
    }

    @Test
    void directPredictionsMatchTheModel() throws Exception {
        try (Predictor p = Predictor.load(checkpoint)) {
            assertArrayEquals(new long[] {FEATURES}, p.inputShape());
            for (int i = 0; i < EXAMPLES; i++) assertArrayEquals(expected[i], p.predict(inputs[i]));
            assertEquals(EXAMPLES, p.stats().requests());
        }
    }

    private void hammer(Predictor p, int threads, int callsPerThread) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int seed = t;
                done.add(pool.submit(() -> {
                    SplittableRandom r = new SplittableRandom(seed);
                    for (int k = 0; k < callsPerThread; k++) {
                        int i = r.nextInt(EXAMPLES);
                        assertRow(i, p.predict(inputs[i]));
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) f.get();
        } finally {
            pool.shutdown();
        }
    }

    @Test
    void manyThreadsShareOneDirectPredictor() throws Exception {
        try (Predictor p = Predictor.load(checkpoint)) {
            hammer(p, 8, 150);
            assertEquals(1200, p.stats().requests());
            assertEquals(0, p.stats().failures());
        }
    }

    @Test
    void manyThreadsShareOneBatchingPredictor() throws Exception {
        try (Predictor p = Predictor.load(checkpoint, Predictor.Options.batched(16, Duration.ofMillis(1)))) {
            hammer(p, 8, 150);
            Predictor.Stats s = p.stats();
            assertEquals(1200, s.requests());
            assertEquals(0, s.failures());
        }
    }

    @Test
    void concurrentRequestsAreBatchedWithinTheLatencyCap() throws Exception {
        try (Predictor p = Predictor.load(checkpoint, Predictor.Options.batched(32, Duration.ofMillis(200)))) {
            List<CompletableFuture<float[]>> futures = new ArrayList<>();
            long start = System.nanoTime();
            for (int i = 0; i < 32; i++) futures.add(p.predictAsync(inputs[i]));
            for (int i = 0; i < 32; i++) assertRow(i, futures.get(i).get());
            assertTrue(p.stats().batches() <= 4, "32 requests in " + p.stats().batches() + " batches");
            // A lone request waits at most the cap for company, then runs alone.
            long t0 = System.nanoTime();
            assertRow(5, p.predict(inputs[5]));
            double waitedMs = (System.nanoTime() - t0) / 1e6;
            assertTrue(waitedMs >= 150, "a lone request waits for the cap (" + waitedMs + " ms)");
            assertTrue(waitedMs < 5_000, "but not much longer (" + waitedMs + " ms)");
            assertTrue((System.nanoTime() - start) / 1e6 > 0);
        }
    }

    @Test
    void aBadInputFailsOnlyItsCaller() throws Exception {
        try (Predictor p = Predictor.load(checkpoint, Predictor.Options.batched(8, Duration.ofMillis(1)))) {
            ShapeException e = assertThrows(ShapeException.class, () -> p.predict(new float[FEATURES + 1]));
            assertTrue(e.getMessage().contains("7 values, expected 6"), e.getMessage());
            assertThrows(NullPointerException.class, () -> p.predict(null));
            float[] nan = inputs[0].clone();
            nan[2] = Float.NaN;
            try (Anomaly.Guard g = Anomaly.enable()) {
                AnomalyException a = assertThrows(AnomalyException.class, () -> p.predict(nan));
                assertEquals("matmul", a.op());
            }
            assertRow(1, p.predict(inputs[1]));
            assertEquals(1, p.stats().failures());
        }
    }

    @Test
    void closeRefusesNewWorkAndFreesTheModel() throws Exception {
        Predictor direct = Predictor.load(checkpoint);
        direct.close();
        direct.close();
        SomaException e = assertThrows(SomaException.class, () -> direct.predict(inputs[0]));
        assertTrue(e.getMessage().contains("closed"));

        Predictor batched = Predictor.load(checkpoint, Predictor.Options.batched(4, Duration.ofSeconds(30)));
        CompletableFuture<float[]> waiting = batched.predictAsync(inputs[0]);
        batched.close();
        // The queued request either ran before the worker saw the close, or was failed: it never hangs.
        try {
            assertRow(0, waiting.get());
        } catch (java.util.concurrent.ExecutionException ex) {
            assertTrue(ex.getCause().getMessage().contains("closed"), ex.getCause().toString());
        }
        assertThrows(SomaException.class, () -> batched.predict(inputs[0]));
    }

    @Test
    void optionsAreValidated() {
        assertThrows(IllegalArgumentException.class, () -> Predictor.Options.batched(0, Duration.ZERO));
        assertThrows(IllegalArgumentException.class, () -> Predictor.Options.batched(4, Duration.ofMillis(-1)));
        try (Sequential unbuilt = new Sequential(new Dense(2))) {
            assertThrows(IllegalStateException.class, () -> Predictor.of(unbuilt, Predictor.Options.direct()));
        }
    }

    @Test
    void servesAFunctionalModelCheckpoint() throws Exception {
        Path functional = dir.resolve("functional.safetensors");
        float[][] want = new float[4][];
        Input in = Input.of(FEATURES);
        SymbolicTensor h = in.then(new Dense(FEATURES, "tanh"));
        try (FunctionalModel m = new FunctionalModel(List.of(in),
                List.of(SymbolicTensor.apply(new Add(), h, in).then(new Dense(3, "softmax"))))) {
            m.seed(3);
            m.save(functional);
            for (int i = 0; i < want.length; i++) {
                try (Scope s = Scope.open()) {
                    want[i] = m.call(Tensor.of(inputs[i], 1, FEATURES)).toFloatArray();
                }
            }
        }
        try (Predictor p = Predictor.load(functional)) {
            assertArrayEquals(new long[] {FEATURES}, p.inputShape());
            for (int i = 0; i < want.length; i++) assertArrayEquals(want[i], p.predict(inputs[i]), "example " + i);
        }
    }

    @Test
    void aModelWithTwoInputsIsRefusedWithItsShapes() throws Exception {
        Path twoInputs = dir.resolve("two-inputs.safetensors");
        Input a = Input.of(FEATURES);
        Input b = Input.of(FEATURES);
        try (FunctionalModel m = new FunctionalModel(List.of(a, b),
                List.of(SymbolicTensor.apply(new Add(), a, b).then(new Dense(2))))) {
            m.save(twoInputs);
        }
        SomaException e = assertThrows(SomaException.class, () -> Predictor.load(twoInputs));
        assertTrue(e.getMessage().contains("2 inputs") && e.getMessage().contains(twoInputs.toString()), e.getMessage());
    }
}
