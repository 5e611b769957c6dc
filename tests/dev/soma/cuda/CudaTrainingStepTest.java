package dev.soma.cuda;

import dev.soma.backend.Backends;
import dev.soma.backend.CudaProbe;
import dev.soma.cli.SomaCli;
import dev.soma.data.ArrayDataset;
import dev.soma.data.Batch;
import dev.soma.data.DatasetFetcher;
import dev.soma.gan.GanTrainer;
import dev.soma.memory.Scope;
import dev.soma.model.Model;
import dev.soma.model.Sequential;
import dev.soma.nn.BatchNormalization;
import dev.soma.nn.Conv2D;
import dev.soma.nn.Conv2DTranspose;
import dev.soma.nn.Dense;
import dev.soma.nn.Embedding;
import dev.soma.nn.Flatten;
import dev.soma.nn.GlobalAveragePooling1D;
import dev.soma.nn.LSTM;
import dev.soma.nn.LeakyReLU;
import dev.soma.nn.MaxPooling2D;
import dev.soma.nn.Reshape;
import dev.soma.nn.TokenAndPositionEmbedding;
import dev.soma.nn.TransformerEncoder;
import dev.soma.optim.Adam;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.UsableGpu;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.function.Supplier;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * One full training step of each model family on cuda:0 (forward, loss, backward, Adam) equals the same step on the
 * CPU: the loss and every parameter after the step within 1e-4 relative. Tiny shapes (batch 4, 8x8 images), so the
 * emulated device runs them in seconds.
 */
@Tag("gpu")
@ExtendWith(NoLeaks.class)
class CudaTrainingStepTest {
    static final Device GPU = Device.cuda(0);
    static final double BOUND = 1e-4;

    static void gpu() {
        UsableGpu.required();
    }

    @AfterEach
    void gpuPoolEmpty() {
        if (CudaProbe.result().usable()) {
            assertEquals(0, Backends.get(GPU).pool().stats().allocatedBytes(), "live bytes left in the cuda:0 pool");
        }
    }

    static double relative(double[] got, double[] ref) {
        double num = 0;
        double den = 0;
        for (int i = 0; i < ref.length; i++) {
            num += (got[i] - ref[i]) * (got[i] - ref[i]);
            den += ref[i] * ref[i];
        }
        return den == 0 ? Math.sqrt(num) : Math.sqrt(num / den);
    }

    static void assertClose(double ref, double got, String what) {
        assertTrue(Double.isFinite(got), what + " is " + got);
        assertTrue(Math.abs(got - ref) <= BOUND * Math.max(Math.abs(ref), 1e-6), what + ": cuda " + got + " cpu " + ref);
    }

    /** Every parameter (trainable or not: BatchNormalization's moving statistics too) of the two twins. */
    static void assertSameParams(Model cpu, Model gpu) {
        assertEquals(cpu.params().size(), gpu.params().size());
        for (int i = 0; i < cpu.params().size(); i++) {
            String name = cpu.params().get(i).name();
            assertEquals(GPU, gpu.params().get(i).value().device(), name);
            double[] ref = cpu.params().get(i).value().toDoubleArray();
            double[] got = gpu.params().get(i).value().toDoubleArray();
            for (double v : got) assertFalse(Double.isNaN(v), name + " has NaN on cuda:0");
            // An attention key bias has a zero gradient in exact arithmetic (it adds q . b_k to every score of a
            // query row, which the softmax over keys ignores): its computed gradient is rounding noise (~1e-9),
            // which Adam's g / (|g| + eps) turns into steps of ~1e-5 with a different random sign on each device.
            if (name.endsWith("/attention/key/bias")) continue;
            double rel = relative(got, ref);
            assertTrue(rel < BOUND, name + ": |cuda - cpu| / |cpu| = " + rel);
        }
    }

    static Batch images(SplittableRandom r, int n, long[] shape, int classes) {
        int per = (int) IntStream.range(0, shape.length).mapToLong(i -> shape[i]).reduce(1, (a, b) -> a * b);
        float[] x = new float[n * per];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        int[] y = new int[n];
        for (int i = 0; i < n; i++) y[i] = r.nextInt(classes);
        return ArrayDataset.withLabels(x, shape, y).gather(IntStream.range(0, n).toArray());
    }

    static Batch tokens(SplittableRandom r, int n, int steps, int vocabulary, int classes) {
        float[] x = new float[n * steps];
        for (int i = 0; i < x.length; i++) x[i] = 1 + r.nextInt(vocabulary - 1);
        int[] y = new int[n];
        for (int i = 0; i < n; i++) y[i] = r.nextInt(classes);
        return new Batch(x, new long[] {n, steps}, y, null, new long[] {n});
    }

    /**
     * Builds a CPU model and its twin on cuda:0 (same seed, so the same initial weights), runs one training step of
     * each on {@code batch} and compares the losses and every parameter after the step.
     */
    static void compareStep(Supplier<Sequential> make, long[] inputShape, Batch batch) {
        gpu();
        try (Sequential cpu = make.get(); Sequential gpu = make.get().to(GPU)) {
            cpu.seed(5).compile(new Adam(1e-3), "sparse_categorical_crossentropy", "accuracy");
            gpu.seed(5).compile(new Adam(1e-3), "sparse_categorical_crossentropy", "accuracy");
            cpu.build(inputShape);
            gpu.build(inputShape);
            assertSameParams(cpu, gpu); // same initial weights, on the device
            double ref = cpu.trainStep(batch);
            double got = gpu.trainStep(batch);
            assertClose(ref, got, "loss");
            assertSameParams(cpu, gpu);
            assertClose(cpu.metrics().get(0).result(), gpu.metrics().get(0).result(), "accuracy");
            double ref2 = cpu.trainStep(batch); // a second step reads Adam's moments from the first
            double got2 = gpu.trainStep(batch);
            assertClose(ref2, got2, "second loss");
            assertSameParams(cpu, gpu);
        }
    }

    @Test
    void mlp() {
        compareStep(() -> new Sequential(new Dense(16, "relu"), new Dense(5, "softmax")), new long[] {12},
                images(new SplittableRandom(1), 4, new long[] {12}, 5));
    }

    @Test
    void cnn() {
        compareStep(() -> new Sequential(new Conv2D(4, 3, "relu"), new MaxPooling2D(2), new Flatten(), new Dense(3, "softmax")),
                new long[] {8, 8, 1}, images(new SplittableRandom(2), 4, new long[] {8, 8, 1}, 3));
    }

    @Test
    void lstm() {
        compareStep(() -> new Sequential(new Embedding(20, 8), new LSTM(8), new Dense(3, "softmax")), new long[] {6},
                tokens(new SplittableRandom(3), 4, 6, 20, 3));
    }

    @Test
    void attention() {
        // A small transformer encoder classifier, dropout off (the step is compared, not sampled).
        compareStep(() -> new Sequential(new TokenAndPositionEmbedding(20, 6, 8), new TransformerEncoder(2, 16, 0.0),
                        new GlobalAveragePooling1D(), new Dense(2, "softmax")), new long[] {6},
                tokens(new SplittableRandom(4), 4, 6, 20, 2));
    }

    /** One GanTrainer step (one D update on the real batch, one G update) on the CPU and on cuda:0. */
    static void compareGanStep(Supplier<Sequential> generator, Supplier<Sequential> discriminator, long[] latent,
                               long[] imageShape) {
        gpu();
        long[] shape = new long[imageShape.length + 1];
        shape[0] = 4;
        System.arraycopy(imageShape, 0, shape, 1, imageShape.length);
        SplittableRandom r = new SplittableRandom(6);
        float[] real = new float[(int) IntStream.range(0, shape.length).mapToLong(i -> shape[i]).reduce(1, (a, b) -> a * b)];
        for (int i = 0; i < real.length; i++) real[i] = (float) Math.tanh(r.nextGaussian());
        try (Sequential gc = generator.get(); Sequential dc = discriminator.get();
             Sequential gg = generator.get(); Sequential dg = discriminator.get()) {
            gc.seed(1).build(latent);
            dc.seed(2).build(imageShape);
            gg.seed(1).build(latent);
            dg.seed(2).build(imageShape);
            try (GanTrainer cpu = new GanTrainer(gc, new Adam(2e-4, 0.5, 0.999, 1e-7), dc, new Adam(2e-4, 0.5, 0.999, 1e-7),
                    latent[0]).seed(3);
                 GanTrainer gpu = new GanTrainer(gg, new Adam(2e-4, 0.5, 0.999, 1e-7), dg, new Adam(2e-4, 0.5, 0.999, 1e-7),
                         latent[0]).seed(3).to(GPU);
                 Scope s = Scope.open()) {
                assertSameParams(gc, gg);
                assertSameParams(dc, dg);
                Tensor x = Tensor.of(real, shape);
                GanTrainer.StepResult ref = cpu.trainStep(x);
                GanTrainer.StepResult got = gpu.trainStep(x.to(GPU));
                assertClose(ref.dLoss(), got.dLoss(), "d_loss");
                assertClose(ref.gLoss(), got.gLoss(), "g_loss");
                assertSameParams(gc, gg);
                assertSameParams(dc, dg);
            }
        }
    }

    @Test
    void mlpGan() {
        compareGanStep(() -> new Sequential(new Dense(16, "leaky_relu"), new Dense(12, "tanh")),
                () -> new Sequential(new Dense(16, "leaky_relu"), new Dense(1, "sigmoid")), new long[] {4}, new long[] {12});
    }

    @Test
    void dcgan() {
        compareGanStep(() -> new Sequential(new Dense(2 * 2 * 8, "relu"), new Reshape(2, 2, 8),
                        new Conv2DTranspose(4, 3).strides(2).padding("same").useBias(false), new BatchNormalization(),
                        new LeakyReLU(0.2), new Conv2DTranspose(1, 3, "tanh").strides(2).padding("same")),
                () -> new Sequential(new Conv2D(4, 3).strides(2).padding("same"), new LeakyReLU(0.2), new Flatten(),
                        new Dense(1, "sigmoid")),
                new long[] {4}, new long[] {8, 8, 1});
    }

    /**
     * {@code soma train cnn --dataset mnist --device cuda:0 --limit 256 --epochs 1} completes (slowly when emulated;
     * evaluated on 512 test images so the emulated run stays short). Where MNIST has not been fetched (a clean CI
     * clone), the same command runs on a folder of random images in MNIST's files ({@code --dataset DIR}), so the
     * CLI's path to the device is exercised in CI either way.
     */
    @Test
    void cliTrainsTheCnnOnMnistOnTheDevice(@TempDir Path dir) throws Exception {
        gpu();
        Path mnist = DatasetFetcher.defaultDataRoot().resolve("mnist");
        String dataset = Files.isDirectory(mnist) ? "mnist" : randomDigits(dir.resolve("digits")).toString();
        CommandLine cl = SomaCli.commandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        int exit = cl.execute("train", "cnn", "--dataset", dataset, "--device", "cuda:0", "--limit", "256", "--epochs", "1",
                "--test-limit", "512", "--quiet", "--out", dir.toString());
        assertEquals(0, exit, err.toString());
        assertTrue(out.toString().contains("on cuda:0"), out.toString());
        assertTrue(out.toString().contains("test_accuracy="), out.toString());
        assertTrue(Files.exists(dir.resolve("model.safetensors")));
    }

    /** MNIST's four IDX files (256 training and 512 test images of random pixels, labels i % 10) in folder. */
    private static Path randomDigits(Path folder) throws java.io.IOException {
        Files.createDirectories(folder);
        java.util.SplittableRandom r = new java.util.SplittableRandom(8);
        for (String[] split : new String[][] {{"train", "256"}, {"t10k", "512"}}) {
            int n = Integer.parseInt(split[1]);
            byte[] px = new byte[n * 28 * 28];
            for (int i = 0; i < px.length; i++) px[i] = (byte) r.nextInt(256);
            byte[] labels = new byte[n];
            for (int i = 0; i < n; i++) labels[i] = (byte) (i % 10);
            dev.soma.data.Idx.writeUbyte(folder.resolve(split[0] + "-images-idx3-ubyte"), new int[] {n, 28, 28}, px);
            dev.soma.data.Idx.writeUbyte(folder.resolve(split[0] + "-labels-idx1-ubyte"), new int[] {n}, labels);
        }
        return folder;
    }
}
