package dev.soma.fuzz;

import dev.soma.data.ArrayDataset;
import dev.soma.model.FitOptions;
import dev.soma.model.Sequential;
import dev.soma.nn.Layer;
import dev.soma.optim.SGD;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * Several models trained at once, each on its own thread of one JVM (a service that trains per tenant, a test suite
 * run in parallel): random stacks of the model fuzzer (dropout, batch normalisation, masks and token ids included),
 * SGD with random rates and momentum, 1 or 2 epochs with random batches and shuffling, then evaluated and asked to
 * predict. Each must end bit for bit as the same model trained alone: its weights, history, evaluation and
 * predictions. Shared state between threads (a cache, a counter, a random stream, the memory pool, oneDNN's
 * primitives) that leaked from one model into another would show here. No native memory may be left.
 * {@code -Dsoma.fuzz.seed=S}, {@code -Dsoma.fuzz.concurrentRounds=N} (default 6 rounds of 2 to 4 models),
 * {@code -Dsoma.fuzz.model=SEED} (one round).
 */
@ExtendWith(NoLeaks.class)
class ConcurrentFitFuzzTest {
    static final long SEED = FuzzReports.seed(ConcurrentFitFuzzTest.class);
    static final int ROUNDS = Integer.getInteger("soma.fuzz.concurrentRounds", 6);

    private final Map<String, String> findings = new LinkedHashMap<>();
    private int trained, rounds;

    private Device device = Device.cpu();

    @Test
    void modelsTrainedAtOnceOnThreadsEndAsEachAlone() {
        run(Device.cpu(), ROUNDS);
    }

    /** {@code count} rounds with the models on {@code on}. */
    void run(Device on, int count) {
        device = on;
        int refused = FuzzReports.runTrials(SEED, count, Long.getLong("soma.fuzz.model"), on, findings, this::round);
        System.out.println("concurrent fit fuzzing on " + on + ", seed " + SEED + ": " + rounds + " rounds, " + trained
                + " models trained alone and at once, " + refused + " rounds refused, " + findings.size() + " findings");
        FuzzReports.failIfAny(findings, SEED);
    }

    /** What a model ended with. */
    private record Outcome(List<float[]> weights, Map<String, List<Double>> history, Map<String, Double> evaluation,
                           float[] predictions) {}

    /** 2 to 4 models: each trained alone, then all again from the same start at once. */
    private void round(long seed) throws Exception {
        SplittableRandom r = new SplittableRandom(seed);
        int count = 2 + r.nextInt(3);
        List<Long> seeds = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            long s = r.nextLong();
            try (Job probe = Job.make(s, device)) { // models that cannot be assembled are left out of the round
                seeds.add(s);
            } catch (RuntimeException e) {
                if (FuzzReports.unclearRefusal(e, false) != null) throw e;
            }
        }
        if (seeds.size() < 2) return;
        List<Outcome> alone = new ArrayList<>();
        for (long s : seeds) {
            try (Job j = Job.make(s, device)) {
                alone.add(j.run());
            }
        }
        List<Job> jobs = new ArrayList<>();
        ExecutorService pool = Executors.newFixedThreadPool(seeds.size());
        try {
            for (long s : seeds) jobs.add(Job.make(s, device));
            CountDownLatch go = new CountDownLatch(1);
            List<Future<Outcome>> together = new ArrayList<>();
            for (Job j : jobs) together.add(pool.submit(() -> {
                go.await();
                return j.run();
            }));
            go.countDown();
            for (int i = 0; i < jobs.size(); i++) {
                Outcome a = alone.get(i), t = together.get(i).get(300, TimeUnit.SECONDS);
                String where = "round seed " + seed + ", model seed " + seeds.get(i) + " of " + seeds.size() + ": " + jobs.get(i).where;
                if (!WeightLists.same(a.weights(), t.weights())) record("trained with others at once, other weights than alone", where);
                if (!a.history().equals(t.history())) {
                    record("trained with others at once, another history than alone", where + ": " + t.history() + " against " + a.history());
                }
                if (!a.evaluation().equals(t.evaluation())) {
                    record("trained with others at once, another evaluation than alone", where + ": " + t.evaluation() + " against "
                            + a.evaluation());
                }
                if (!Arrays.equals(a.predictions(), t.predictions())) record("trained with others at once, other predictions than alone", where);
                trained++;
            }
            rounds++;
        } finally {
            pool.shutdownNow();
            pool.awaitTermination(60, TimeUnit.SECONDS);
            for (Job j : jobs) j.close();
        }
    }

    /** One random model with its data and fit options, all drawn from {@code seed}. */
    private static final class Job implements AutoCloseable {
        final Sequential model;
        final List<Layer> layers;
        final ArrayDataset data;
        final FitOptions options;
        final String where;

        private Job(Sequential model, List<Layer> layers, ArrayDataset data, FitOptions options, String where) {
            this.model = model;
            this.layers = layers;
            this.data = data;
            this.options = options;
            this.where = where;
        }

        static Job make(long seed, Device device) throws RuntimeException {
            SplittableRandom r = new SplittableRandom(seed);
            ModelStacks.Stack stack;
            try {
                stack = ModelStacks.draw(r);
            } catch (Throwable e) {
                throw new IllegalStateException("drawing the stack failed: " + e, e);
            }
            Sequential m = new Sequential(stack.layers().toArray(new Layer[0]));
            try {
                double lr = 0.005 + 0.05 * r.nextDouble(), momentum = r.nextBoolean() ? 0 : 0.9 * r.nextDouble();
                m.seed(r.nextLong()).compile(new SGD(lr, momentum, r.nextBoolean()), "sparse_categorical_crossentropy", "accuracy");
                m.build(stack.input());
                if (!device.equals(Device.cpu())) m.to(device);
                int n = 8 + r.nextInt(40);
                ArrayDataset data = ModelFuzzTest.data(stack, n, r.nextLong());
                FitOptions options = new FitOptions().batchSize(1 + r.nextInt(16)).epochs(1 + r.nextInt(2))
                        .shuffle(r.nextBoolean()).seed(r.nextLong()).verbose(0);
                String where = stack.family() + " " + Arrays.toString(stack.input()) + ", " + n + " examples: "
                        + m.layers().stream().map(Layer::typeName).toList();
                return new Job(m, stack.layers(), data, options, where);
            } catch (RuntimeException e) {
                m.close();
                for (Layer l : stack.layers()) l.close();
                throw e;
            }
        }

        Outcome run() {
            Map<String, List<Double>> history = model.fit(data, options).all();
            Map<String, Double> evaluation = model.evaluate(data, 8);
            List<float[]> predictions = new ArrayList<>();
            for (Tensor t : model.predictAll(data, 8)) {
                try (t) {
                    predictions.add(t.toFloatArray());
                }
            }
            float[] flat = predictions.stream().reduce(new float[0], (a, b) -> {
                float[] c = Arrays.copyOf(a, a.length + b.length);
                System.arraycopy(b, 0, c, a.length, b.length);
                return c;
            });
            return new Outcome(WeightLists.of(model), history, evaluation, flat);
        }

        @Override
        public void close() {
            model.close();
            for (Layer l : layers) l.close();
        }
    }

    private void record(String what, String example) {
        findings.putIfAbsent(what, example);
    }
}
