package dev.soma.serve;

import dev.soma.autograd.GradMode;
import dev.soma.backend.ComputeThreads;
import dev.soma.backend.ThreadTuner;
import dev.soma.errors.ShapeException;
import dev.soma.errors.SomaException;
import dev.soma.memory.Scope;
import dev.soma.model.Checkpoint;
import dev.soma.model.Model;
import dev.soma.ops.Shapes;
import dev.soma.data.Batch;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * An inference session for services: a model loaded once (from a checkpoint), shared by any number of caller
 * threads. Each request runs in its own {@link Scope} with gradients off, so nothing it allocates outlives it.
 *
 * <p>Two modes. Direct (the default): each {@link #predict} runs the model on the caller's thread, one example at
 * a time. Batched ({@link Options#maxBatch} &gt; 1): requests go to a queue; one worker thread takes the first
 * waiting request, gathers more until it has {@code maxBatch} or {@code maxDelay} has passed since that first
 * request arrived, runs them as one batch and hands each caller its row. Batching trades a bounded wait for fewer,
 * larger kernel calls (the CPU's oneDNN primitives run one at a time under a lock anyway).
 *
 * <p>{@link #close()} refuses new requests, fails queued ones, waits for running ones and frees the model.
 * Inputs are validated on the caller's thread: a wrong length throws {@link ShapeException} there.
 *
 * <pre>{@code
 * try (Predictor p = Predictor.load(Path.of("mnist.safetensors"), Predictor.Options.batched(32, Duration.ofMillis(2)))) {
 *     float[] probabilities = p.predict(pixels);   // from any thread
 * }
 * }</pre>
 */
public final class Predictor implements AutoCloseable {
    /** How requests are run (see {@link Predictor}) and on which device (the CPU unless {@link #on} says otherwise). */
    public record Options(int maxBatch, Duration maxDelay, int queueCapacity, Device device) {
        public Options(int maxBatch, Duration maxDelay, int queueCapacity) {
            this(maxBatch, maxDelay, queueCapacity, Device.cpu());
        }

        public Options {
            if (device == null) throw new IllegalArgumentException("Predictor: device is null");
            if (maxBatch < 1) throw new IllegalArgumentException("Predictor: maxBatch must be >= 1, got " + maxBatch);
            if (maxDelay == null || maxDelay.isNegative()) {
                throw new IllegalArgumentException("Predictor: maxDelay must be >= 0, got " + maxDelay);
            }
            if (queueCapacity < 1) throw new IllegalArgumentException("Predictor: queueCapacity must be >= 1, got " + queueCapacity);
        }

        /** Each request runs alone on its caller's thread. */
        public static Options direct() {
            return new Options(1, Duration.ZERO, 1);
        }

        /** Up to {@code maxBatch} concurrent requests run together; none waits more than {@code maxDelay} for others. */
        public static Options batched(int maxBatch, Duration maxDelay) {
            return new Options(maxBatch, maxDelay, 65_536);
        }

        /**
         * These options with the model on {@code device} ({@code Device.cuda(0)}, say): the predictor moves the model
         * there, copies each batch of requests there from the host and reads the outputs back.
         */
        public Options on(Device device) {
            return new Options(maxBatch, maxDelay, queueCapacity, device);
        }
    }

    /** Counters since the predictor opened. */
    public record Stats(long requests, long batches, long failures) {
        public double meanBatchSize() {
            return batches == 0 ? 0 : (double) requests / batches;
        }
    }

    private record Request(float[] input, CompletableFuture<float[]> result, long arrivalNanos) {}

    private final Model model;
    private final long[] inputShape;
    private final int inputSize;
    private final Options options;
    private final ReentrantReadWriteLock lifecycle = new ReentrantReadWriteLock();
    private final BlockingQueue<Request> queue;
    private final Thread worker;
    private final AtomicLong requests = new AtomicLong();
    private final AtomicLong batches = new AtomicLong();
    private final AtomicLong failures = new AtomicLong();
    private final AtomicInteger directInFlight = new AtomicInteger();
    private final ThreadTuner batchTuner = new ThreadTuner(); // the worker thread's only
    private volatile boolean closed;

    private Predictor(Model model, long[] inputShape, Options options) {
        this.model = model;
        this.inputShape = Shapes.checkShape("Predictor", inputShape);
        long n = Shapes.numel(this.inputShape);
        if (n <= 0 || n > Integer.MAX_VALUE - 8) {
            throw new ShapeException("Predictor: input shape " + Arrays.toString(inputShape) + " has " + n
                    + " elements; expected 1 to " + (Integer.MAX_VALUE - 8));
        }
        this.inputSize = (int) n;
        this.options = options;
        model.to(options.device()); // fails with the reason when the device is not usable
        if (options.maxBatch() > 1) {
            queue = new LinkedBlockingQueue<>(options.queueCapacity());
            worker = new Thread(this::serveBatches, "soma-predictor");
            worker.setDaemon(true);
            worker.start();
        } else {
            queue = null;
            worker = null;
        }
    }

    /** Loads a checkpoint of any single-input model ({@code model.save}, Sequential or functional); requests run directly on the callers' threads, on the CPU. */
    public static Predictor load(Path checkpoint) throws IOException {
        return load(checkpoint, Options.direct());
    }

    public static Predictor load(Path checkpoint, Options options) throws IOException {
        Model model = Checkpoint.loadModel(checkpoint);
        try {
            long[] in;
            try {
                in = model.exampleInputShape();
            } catch (IllegalStateException e) {
                throw new SomaException("Predictor: checkpoint " + checkpoint + " cannot be served: " + e.getMessage(), e);
            }
            if (in == null) {
                throw new SomaException("Predictor: checkpoint " + checkpoint + " holds an unbuilt model (no input shape)");
            }
            return new Predictor(model, in, options);
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    /** Serves a built model, which the predictor now owns (closes) and moves to {@code options.device()}. */
    public static Predictor of(Model model, Options options) {
        long[] in = model.exampleInputShape();
        if (in == null) throw new IllegalStateException("Predictor.of: build the model first (build(inputShape))");
        return new Predictor(model, in, options);
    }

    /** The device the model runs on. */
    public Device device() {
        return model.device();
    }

    /** The per-example input shape (no batch dimension). */
    public long[] inputShape() {
        return inputShape.clone();
    }

    public Options options() {
        return options;
    }

    public Stats stats() {
        return new Stats(requests.get(), batches.get(), failures.get());
    }

    /**
     * The model's output for one example: {@code input} holds the values of one input of {@link #inputShape()},
     * row-major. Thread-safe; blocks until the result is ready.
     */
    public float[] predict(float[] input) {
        checkInput(input);
        if (worker == null) return predictDirect(input);
        try {
            return submit(input).get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new SomaException("Predictor: interrupted while waiting for a prediction", e);
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof RuntimeException r) throw r;
            throw new SomaException("Predictor: prediction failed: " + c, c);
        }
    }

    /** As {@link #predict}, without blocking the caller: the future completes when the batch ran. */
    public CompletableFuture<float[]> predictAsync(float[] input) {
        checkInput(input);
        if (worker == null) {
            try {
                return CompletableFuture.completedFuture(predictDirect(input));
            } catch (RuntimeException e) {
                return CompletableFuture.failedFuture(e);
            }
        }
        return submit(input);
    }

    private void checkInput(float[] input) {
        if (input == null) throw new NullPointerException("Predictor.predict: input is null");
        if (input.length != inputSize) {
            throw new ShapeException("Predictor.predict: input has " + input.length + " values, expected " + inputSize
                    + " (one example of shape " + Arrays.toString(inputShape) + ")");
        }
    }

    private float[] predictDirect(float[] input) {
        ReentrantReadWriteLock.ReadLock lock = lifecycle.readLock();
        lock.lock();
        try {
            checkOpen();
            requests.incrementAndGet();
            batches.incrementAndGet();
            // Concurrent direct calls share the cores rather than each waking a full team (unless counts are pinned
            // for reproducible bits: ThreadTuner.PROPERTY).
            int sharing = directInFlight.incrementAndGet();
            int threads = ThreadTuner.adaptive() ? Math.max(1, ComputeThreads.max() / sharing) : ComputeThreads.max();
            try (var limit = ComputeThreads.atMost(threads)) {
                return run(List.of(input)).get(0);
            } finally {
                directInFlight.decrementAndGet();
            }
        } catch (RuntimeException e) {
            failures.incrementAndGet();
            throw e;
        } finally {
            lock.unlock();
        }
    }

    private CompletableFuture<float[]> submit(float[] input) {
        checkOpen();
        Request r = new Request(input, new CompletableFuture<>(), System.nanoTime());
        if (!queue.offer(r)) {
            throw new SomaException("Predictor: the request queue is full (" + options.queueCapacity() + " waiting)");
        }
        if (closed && queue.remove(r)) {
            r.result().completeExceptionally(closedException());
        }
        return r.result();
    }

    private void checkOpen() {
        if (closed) throw closedException();
    }

    private static SomaException closedException() {
        return new SomaException("Predictor: closed");
    }

    /** Runs examples as one batch in a fresh scope; returns one output row per example. */
    private List<float[]> run(List<float[]> inputs) {
        int n = inputs.size();
        float[] flat = new float[n * inputSize];
        for (int i = 0; i < n; i++) System.arraycopy(inputs.get(i), 0, flat, i * inputSize, inputSize);
        long[] shape = new long[inputShape.length + 1];
        shape[0] = n;
        System.arraycopy(inputShape, 0, shape, 1, inputShape.length);
        try (Scope scope = Scope.open(); GradMode.Guard g = GradMode.disable()) {
            // Written from the host array straight into the model's device memory.
            Tensor out = model.call(new Batch.HostArray(flat, null, shape).tensor(model.device()));
            if (out.dtype() != DType.F32) out = out.to(DType.F32);
            float[] all = out.toFloatArray();
            int per = all.length / n;
            List<float[]> rows = new ArrayList<>(n);
            for (int i = 0; i < n; i++) rows.add(Arrays.copyOfRange(all, i * per, (i + 1) * per));
            return rows;
        }
    }

    /** The worker: gather a batch (bounded by maxBatch and the first request's deadline), run it, repeat. */
    private void serveBatches() {
        long maxDelay = options.maxDelay().toNanos();
        List<Request> batch = new ArrayList<>(options.maxBatch());
        while (true) {
            batch.clear();
            try {
                Request first = queue.take();
                if (first.input() == null) break; // poison: close() was called
                batch.add(first);
                long deadline = first.arrivalNanos() + maxDelay;
                while (batch.size() < options.maxBatch()) {
                    Request next = queue.poll();
                    if (next == null) {
                        long wait = deadline - System.nanoTime();
                        if (wait <= 0) break;
                        next = queue.poll(wait, TimeUnit.NANOSECONDS);
                        if (next == null) break;
                    }
                    if (next.input() == null) {
                        queue.offer(next); // keep the poison for after this batch
                        break;
                    }
                    batch.add(next);
                }
            } catch (InterruptedException e) {
                break;
            }
            runBatch(batch);
        }
        batch.clear();
        for (Request r; (r = queue.poll()) != null; ) {
            if (r.input() != null) r.result().completeExceptionally(closedException());
        }
    }

    private void runBatch(List<Request> batch) {
        List<float[]> inputs = new ArrayList<>(batch.size());
        for (Request r : batch) inputs.add(r.input());
        requests.addAndGet(batch.size());
        batches.incrementAndGet();
        try {
            // The worker's batches run on the thread count measured fastest.
            List<float[]> rows = model.device().isCpu() ? batchTuner.run(inputs.size(), () -> run(inputs)) : run(inputs);
            for (int i = 0; i < batch.size(); i++) batch.get(i).result().complete(rows.get(i));
        } catch (RuntimeException | Error e) {
            failures.addAndGet(batch.size());
            for (Request r : batch) r.result().completeExceptionally(e);
        }
    }

    /** Refuses new requests, fails queued ones, waits for running ones, frees the model. Idempotent. */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) return;
            closed = true;
        }
        if (worker != null) {
            // Wait for room rather than drop the poison: the worker keeps taking requests until it sees it.
            boolean poisoned = false;
            while (!poisoned && worker.isAlive()) {
                try {
                    poisoned = queue.offer(new Request(null, null, 0), 10, TimeUnit.MILLISECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            try {
                worker.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        ReentrantReadWriteLock.WriteLock lock = lifecycle.writeLock();
        lock.lock();
        try {
            model.close();
        } finally {
            lock.unlock();
        }
    }
}
