package dev.soma.fuzz;

import dev.soma.autograd.GradMode;
import dev.soma.memory.Scope;
import dev.soma.model.FunctionalModel;
import dev.soma.model.Model;
import dev.soma.model.Sequential;
import dev.soma.nn.Layer;
import dev.soma.serve.Predictor;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * {@link Predictor} on random models (the model fuzzer's image, sequence, token-id and feature stacks and its one-input
 * functional graphs; untrained, so dropout, batch normalisation and masks are in their inference form), served directly
 * or in batches to 2 to 8 threads at once, each sending random examples, some through {@code predictAsync}, some of the
 * wrong length or with a non-finite value. Judged:
 * <ul>
 * <li>each answer is the model's own output for that example alone, computed here on the CPU before serving (batches
 *     in any company may differ by rounding only: 1e-5 of the output's scale; 1e-3 on a GPU);</li>
 * <li>a wrong length fails only its caller, clearly; the stats count every request and failure;</li>
 * <li>after close: new requests are refused, the model is freed, no native memory is left.</li>
 * </ul>
 * Concurrent calls on one model is where a layer's shared state (a cache, a counter, a workspace) would show.
 * {@code -Dsoma.fuzz.seed=S}, {@code -Dsoma.fuzz.predictorModels=N} (default 16), {@code -Dsoma.fuzz.model=SEED}.
 */
@ExtendWith(NoLeaks.class)
class PredictorFuzzTest {
    static final long SEED = FuzzReports.seed(PredictorFuzzTest.class);
    static final int MODELS = Integer.getInteger("soma.fuzz.predictorModels", 16);

    private final Map<String, String> findings = new ConcurrentHashMap<>();
    private int judged, batched, answers;
    private Device device = Device.cpu();
    private double tolerance = 1e-5;

    @Test
    void predictorsAnswerEveryCallerWithItsOwnExamplesOutput() {
        run(Device.cpu(), 1e-5, MODELS);
    }

    /**
     * Serves {@code models} random models on {@code device}; answers must be within {@code tolerance} of the CPU's
     * output for the example alone.
     */
    void run(Device on, double within, int models) {
        device = on;
        tolerance = within;
        Map<String, String> ordered = new LinkedHashMap<>();
        int refused = FuzzReports.runTrials(SEED, models, Long.getLong("soma.fuzz.model"), on, ordered, this::trial);
        ordered.putAll(findings);
        System.out.println("predictor fuzzing on " + on + ", seed " + SEED + ": " + judged + " models served (" + batched
                + " batched), " + answers + " answers checked, " + refused + " refused, " + ordered.size() + " findings");
        FuzzReports.failIfAny(ordered, SEED);
    }

    private void trial(long seed) throws Throwable {
        SplittableRandom r = new SplittableRandom(seed);
        if (r.nextInt(4) == 0) {
            ModelGraphs.Graph g = ModelGraphs.draw(r);
            for (int tries = 0; (g.inputs().size() > 1 || g.losses().size() > 1) && tries < 20; tries++) {
                g.model().close();
                g = ModelGraphs.draw(r);
            }
            if (g.inputs().size() > 1 || g.losses().size() > 1) {
                g.model().close();
                return;
            }
            FunctionalModel m = g.model();
            m.seed(r.nextLong());
            m.build(g.inputs().get(0));
            serve(m, g.inputs().get(0), 0, r, "model seed " + seed + " (graph on " + Arrays.toString(g.inputs().get(0)) + ")");
            return;
        }
        ModelStacks.Stack stack = ModelStacks.draw(r);
        Sequential m = new Sequential(stack.layers().toArray(new Layer[0]));
        try {
            m.seed(r.nextLong());
            m.build(stack.input());
        } catch (RuntimeException e) {
            m.close();
            for (Layer l : stack.layers()) l.close();
            throw e;
        }
        serve(m, stack.input(), stack.vocabulary(), r, "model seed " + seed + " (" + stack.family() + " "
                + Arrays.toString(stack.input()) + "): " + m.layers().stream().map(Layer::typeName).toList());
    }

    /** Serves {@code m} (the predictor owns it from here) to several threads at once and judges every answer. */
    private void serve(Model m, long[] shape, int vocabulary, SplittableRandom r, String where) throws Exception {
        int per = Math.toIntExact(Arrays.stream(shape).reduce(1, Math::multiplyExact));
        int count = 2 + r.nextInt(10);
        float[][] examples = new float[count][per];
        for (float[] e : examples) for (int i = 0; i < per; i++) e[i] = vocabulary > 0 ? r.nextInt(vocabulary) : (float) r.nextGaussian();
        float[][] alone = new float[count][];
        for (int k = 0; k < count; k++) alone[k] = outputAlone(m, examples[k], shape);

        boolean inBatches = r.nextBoolean();
        Predictor.Options options = inBatches
                ? Predictor.Options.batched(2 + r.nextInt(7), Duration.ofNanos(r.nextInt(2_000_000)))
                : Predictor.Options.direct();
        options = options.on(device);
        where += inBatches ? ", batched " + options.maxBatch() + " within " + options.maxDelay() : ", direct";
        int threads = 2 + r.nextInt(7), requestsEach = 5 + r.nextInt(20);
        long[] threadSeeds = new long[threads];
        for (int t = 0; t < threads; t++) threadSeeds[t] = r.nextLong();
        AtomicInteger good = new AtomicInteger(), bad = new AtomicInteger();
        String at = where + ", " + threads + " threads";
        Predictor p;
        try {
            p = Predictor.of(m, options);
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
        try {
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            CountDownLatch go = new CountDownLatch(1);
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                SplittableRandom tr = new SplittableRandom(threadSeeds[t]);
                done.add(pool.submit(() -> {
                    go.await();
                    for (int q = 0; q < requestsEach; q++) request(p, examples, alone, tr, good, bad, at);
                    return null;
                }));
            }
            go.countDown();
            for (Future<?> f : done) f.get(120, TimeUnit.SECONDS);
            pool.shutdown();
            Predictor.Stats stats = p.stats(); // a wrong length is refused on the caller's thread, before it counts
            if (stats.requests() != good.get() || stats.failures() != 0) {
                record("the predictor's stats are not the requests answered", at + ": " + stats + " after " + good
                        + " answers and " + bad + " refusals");
            }
        } finally {
            p.close();
        }
        try {
            p.predict(examples[0]);
            record("a closed predictor answered", where);
        } catch (RuntimeException e) {
            if (e.getMessage() == null || !e.getMessage().contains("closed")) record("a closed predictor failed unclearly", where + ": " + e);
        }
        synchronized (this) {
            judged++;
            if (inBatches) batched++;
            answers += good.get();
        }
    }

    /** One request of a random example (one in eight malformed), sync or async, judged. */
    private void request(Predictor p, float[][] examples, float[][] alone, SplittableRandom r, AtomicInteger good,
                         AtomicInteger bad, String where) throws Exception {
        int k = r.nextInt(examples.length);
        boolean async = r.nextBoolean();
        if (r.nextInt(8) == 0) {
            float[] wrong = Arrays.copyOf(examples[k], examples[k].length + (r.nextBoolean() ? 1 : -1));
            try {
                if (async) p.predictAsync(wrong).get(60, TimeUnit.SECONDS);
                else p.predict(wrong);
                record("a request of the wrong length was answered", where);
            } catch (Exception e) {
                Throwable c = e instanceof java.util.concurrent.ExecutionException ? e.getCause() : e;
                String unclear = FuzzReports.unclearRefusal(c, false);
                if (unclear != null) record("a request of the wrong length " + unclear, where + ": " + c);
                bad.incrementAndGet();
            }
            return;
        }
        float[] got;
        if (async) {
            CompletableFuture<float[]> f = p.predictAsync(examples[k]);
            got = f.get(60, TimeUnit.SECONDS);
        } else {
            got = p.predict(examples[k]);
        }
        if (got.length != alone[k].length) {
            record("an answer has another length than the example's output", where + ": " + got.length + " against " + alone[k].length);
        } else {
            String difference = ExplainFuzzTest.firstDifference(got, alone[k], tolerance);
            if (difference != null) record("an answer is not its example's output", where + ", example " + k + ": " + difference);
        }
        good.incrementAndGet();
    }

    /** The model's output for one example, as a batch of one. */
    private static float[] outputAlone(Model m, float[] example, long[] shape) {
        long[] batch = new long[shape.length + 1];
        batch[0] = 1;
        System.arraycopy(shape, 0, batch, 1, shape.length);
        try (Scope s = Scope.open(); GradMode.Guard g = GradMode.disable()) {
            return m.call(Tensor.of(example, batch)).toFloatArray();
        }
    }

    private void record(String what, String example) {
        findings.putIfAbsent(what, example);
    }
}
