package dev.soma.model;

import dev.soma.backend.Backends;
import dev.soma.backend.CudaProbe;
import dev.soma.data.ArrayDataset;
import dev.soma.data.Batch;
import dev.soma.memory.Scope;
import dev.soma.nn.Activation;
import dev.soma.nn.BatchNormalization;
import dev.soma.nn.Dense;
import dev.soma.nn.Param;
import dev.soma.optim.Adam;
import dev.soma.serve.Predictor;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.UsableGpu;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Models, tensors, checkpoints and the predictor on a CUDA device (the emulated one in the gpu-emulated execution):
 * what runs with today's CUDA kernels (copies, fills, casts, elementwise). Training on the device is covered by
 * dev.soma.cuda.CudaTrainingStepTest once the other kernel families exist.
 */
@Tag("gpu")
@ExtendWith(NoLeaks.class)
class ModelDeviceTest {
    static final Device GPU = Device.cuda(0);

    static void gpu() {
        UsableGpu.required();
    }

    @AfterEach
    void gpuPoolEmpty() {
        if (CudaProbe.result().usable()) {
            assertEquals(0, Backends.get(GPU).pool().stats().allocatedBytes(), "live bytes left in the cuda:0 pool");
        }
    }

    /** Dense, BatchNormalization (moving statistics: non-trainable) and a softmax head, seeded. */
    static Sequential mlp(long seed) {
        Sequential m = new Sequential(new Dense(6, "relu"), new BatchNormalization(), new Dense(3, "softmax"));
        m.seed(seed);
        return m;
    }

    static Batch batch(SplittableRandom r, int n, int features) {
        float[] x = new float[n * features];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        int[] y = new int[n];
        for (int i = 0; i < n; i++) y[i] = r.nextInt(3);
        return ArrayDataset.withLabels(x, new long[] {features}, y).gather(IntStream.range(0, n).toArray());
    }

    static List<double[]> values(Model m) {
        List<double[]> out = new ArrayList<>();
        for (Param p : m.params()) out.add(p.value().toDoubleArray());
        return out;
    }

    @Test
    void toMovesEveryParameterAndTheOptimizerStateAndBack() {
        gpu();
        try (Sequential m = mlp(7)) {
            m.compile(new Adam(1e-2), "sparse_categorical_crossentropy", "accuracy");
            m.trainStep(batch(new SplittableRandom(1), 4, 5)); // on the CPU: Adam's moments and moving statistics exist
            List<double[]> before = values(m);
            Map<String, Tensor> stateBefore = m.optimizer().stateTensors(m.trainableTensors());
            assertEquals(12, stateBefore.size(), "Adam keeps two slots for each of 6 trainable weights");
            List<double[]> state = new ArrayList<>();
            for (Tensor t : stateBefore.values()) state.add(t.toDoubleArray());
            List<Tensor> identities = m.trainableTensors();

            assertSame(m, m.to(GPU));
            assertEquals(GPU, m.device());
            assertEquals(8, m.params().size()); // 6 trainable, 2 moving statistics
            for (int i = 0; i < m.params().size(); i++) {
                Param p = m.params().get(i);
                assertEquals(GPU, p.value().device(), p.name());
                assertArrayEquals(before.get(i), p.value().toDoubleArray(), p.name());
            }
            assertTrue(m.params().stream().anyMatch(p -> p.name().endsWith("moving_mean")));
            List<Tensor> after = m.trainableTensors();
            for (int i = 0; i < after.size(); i++) assertSame(identities.get(i), after.get(i), "moved in place");
            int k = 0;
            for (Tensor t : m.optimizer().stateTensors(m.trainableTensors()).values()) {
                assertEquals(GPU, t.device());
                assertArrayEquals(state.get(k++), t.toDoubleArray());
            }
            assertTrue(Backends.get(GPU).pool().stats().allocatedBytes() > 0);

            m.to(Device.cpu());
            for (int i = 0; i < m.params().size(); i++) {
                assertEquals(Device.cpu(), m.params().get(i).value().device());
                assertArrayEquals(before.get(i), m.params().get(i).value().toDoubleArray());
            }
            for (Tensor t : m.optimizer().stateTensors(m.trainableTensors()).values()) assertEquals(Device.cpu(), t.device());
        }
    }

    @Test
    void aModelMovedBeforeItIsBuiltCreatesItsWeightsOnTheDevice() {
        gpu();
        try (Sequential cpu = mlp(3); Sequential gpu = mlp(3).to(GPU)) {
            cpu.build(5);
            gpu.build(5);
            assertEquals(cpu.params().size(), gpu.params().size());
            for (int i = 0; i < cpu.params().size(); i++) {
                assertEquals(GPU, gpu.params().get(i).value().device());
                assertArrayEquals(cpu.params().get(i).value().toDoubleArray(), gpu.params().get(i).value().toDoubleArray());
            }
            gpu.add(new Dense(2)); // a layer added to a built model is built on the model's device too
            assertEquals(GPU, gpu.params().get(gpu.params().size() - 1).value().device());
        }
    }

    @Test
    void aFunctionalModelMovesToo() {
        gpu();
        Input in = Input.of(4);
        try (FunctionalModel m = new FunctionalModel(List.of(in), List.of(in.then(new Dense(3, "relu")).then(new Dense(2))))) {
            m.seed(5).build();
            List<double[]> before = values(m);
            assertSame(m, m.to(GPU));
            for (int i = 0; i < before.size(); i++) {
                assertEquals(GPU, m.params().get(i).value().device());
                assertArrayEquals(before.get(i), m.params().get(i).value().toDoubleArray());
            }
        }
    }

    @Test
    void tensorsGoToTheDeviceAndBackInEveryDType() {
        gpu();
        try (Scope s = Scope.open()) {
            Tensor f = Tensor.of(new float[] {1.5f, -2, 3, Float.NaN, 5, 6}, 2, 3);
            Tensor d = Tensor.of(new double[] {1e-300, -2, Math.PI, 4, 5, 6}, 3, 2);
            Tensor i = Tensor.ofInts(new int[] {Integer.MIN_VALUE, -1, 0, 7, Integer.MAX_VALUE, 3}, 6);
            for (Tensor t : List.of(f, d, i, f.transpose(0, 1))) {
                Tensor g = t.to(GPU);
                assertEquals(GPU, g.device());
                assertEquals(t.dtype(), g.dtype());
                assertArrayEquals(t.shape(), g.shape());
                Tensor back = g.to(Device.cpu());
                assertEquals(Device.cpu(), back.device());
                assertArrayEquals(t.toDoubleArray(), back.toDoubleArray(), 0.0, t.describe());
            }
            // In place: a view of a moved tensor follows its storage.
            Tensor w = Tensor.of(new float[] {1, 2, 3, 4}, 2, 2).keep();
            Tensor row = w.select(0, 1);
            assertSame(w, w.moveTo(GPU));
            assertEquals(GPU, row.device());
            assertArrayEquals(new float[] {3, 4}, row.toFloatArray());
            w.moveTo(Device.cpu());
            assertArrayEquals(new float[] {1, 2, 3, 4}, w.toFloatArray());
            w.close();
        }
    }

    @Test
    void gradientsFlowBackAcrossADeviceCopy() {
        gpu();
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(new float[] {1, -2, 3}).setRequiresGrad(true);
            Tensor y = x.to(GPU).mul(2.0).to(Device.cpu()).sum();
            y.backward();
            assertEquals(Device.cpu(), x.grad().device());
            assertArrayEquals(new float[] {2, 2, 2}, x.grad().toFloatArray());
            x.zeroGrad();
        }
    }

    @Test
    void batchesAreWrittenStraightToTheDevice() {
        gpu();
        Batch b = batch(new SplittableRandom(2), 3, 4);
        try (Scope s = Scope.open()) {
            Tensor x = b.featureTensors(GPU).get(0);
            Tensor y = b.targetTensors(GPU).get(0);
            assertEquals(GPU, x.device());
            assertEquals(DType.I32, y.dtype());
            assertArrayEquals(b.x(), x.toFloatArray());
            assertArrayEquals(b.yLabels(), y.toIntArray());
        }
    }

    @Test
    void aStepsLossAndMetricInputsComeBackInOneRead() {
        gpu();
        try (Scope s = Scope.open()) {
            Tensor loss = Tensor.full(0.25, DType.F32, GPU);
            Tensor out = Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3).to(GPU).transpose(0, 1); // not contiguous
            Tensor other = Tensor.of(new double[] {-1, 1e-300}).to(GPU);
            double[] host = CompiledLoss.readAll(List.of(loss, out, other));
            assertArrayEquals(new double[] {0.25, 1, 4, 2, 5, 3, 6, -1, 1e-300}, host);
            assertArrayEquals(new double[] {0.25}, CompiledLoss.readAll(List.of(loss)));
        }
    }

    @Test
    void aCheckpointSavedOnTheDeviceIsTheCpuFileAndLoadsOnTheCpu(@TempDir Path dir) throws Exception {
        gpu();
        Path onCpu = dir.resolve("cpu.safetensors");
        Path onGpu = dir.resolve("gpu.safetensors");
        List<double[]> weights;
        try (Sequential m = mlp(11)) {
            m.compile(new Adam(1e-2), "sparse_categorical_crossentropy", "accuracy");
            m.trainStep(batch(new SplittableRandom(3), 4, 5));
            weights = values(m);
            m.save(onCpu);
            m.to(GPU).save(onGpu);
        }
        assertArrayEquals(Files.readAllBytes(onCpu), Files.readAllBytes(onGpu), "the same file from either device");
        try (Sequential loaded = Checkpoint.load(onGpu)) {
            assertEquals(Device.cpu(), loaded.device());
            for (int i = 0; i < weights.size(); i++) {
                assertEquals(Device.cpu(), loaded.params().get(i).value().device());
                assertArrayEquals(weights.get(i), loaded.params().get(i).value().toDoubleArray());
            }
        }
        try (Sequential back = Checkpoint.load(onCpu, GPU)) {
            assertEquals(GPU, back.device());
            for (int i = 0; i < weights.size(); i++) {
                assertEquals(GPU, back.params().get(i).value().device());
                assertArrayEquals(weights.get(i), back.params().get(i).value().toDoubleArray());
            }
            for (Tensor t : back.optimizer().stateTensors(back.trainableTensors()).values()) assertEquals(GPU, t.device());
        }
    }

    @Test
    void aPredictorRunsOnTheDevice() {
        gpu();
        // Elementwise layers only: they run on today's CUDA kernels.
        Sequential m = new Sequential(new Activation("tanh"), new Activation("sigmoid"));
        m.build(3);
        float[] x = {0.5f, -1, 2};
        try (Predictor p = Predictor.of(m, Predictor.Options.direct().on(GPU))) {
            assertEquals(GPU, p.device());
            float[] y = p.predict(x);
            for (int i = 0; i < 3; i++) assertEquals(1 / (1 + Math.exp(-Math.tanh(x[i]))), y[i], 1e-6);
        }
        Sequential m2 = new Sequential(new Activation("relu"));
        m2.build(2);
        try (Predictor p = Predictor.of(m2, Predictor.Options.batched(4, java.time.Duration.ofMillis(1)).on(GPU))) {
            assertArrayEquals(new float[] {0, 3}, p.predict(new float[] {-1, 3}));
        }
    }

    @Test
    void callCopiesAHostInputToTheModelsDevice() {
        gpu();
        try (Sequential m = new Sequential(new Activation("relu")).to(GPU); Scope s = Scope.open()) {
            m.build(2);
            Tensor y = m.call(Tensor.of(new float[] {-1, 4}, 1, 2));
            assertEquals(GPU, y.device());
            assertArrayEquals(new float[] {0, 4}, y.toFloatArray());
        }
    }
}
