package dev.soma.cuda;

import dev.soma.backend.Backend;
import dev.soma.backend.Backends;
import dev.soma.backend.Prefetched;
import dev.soma.data.ArrayDataset;
import dev.soma.data.Batch;
import dev.soma.memory.PoolStats;
import dev.soma.model.Callback;
import dev.soma.model.FitOptions;
import dev.soma.model.History;
import dev.soma.model.Model;
import dev.soma.model.Sequential;
import dev.soma.nn.Dense;
import dev.soma.optim.Adam;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static dev.soma.cuda.GpuTesting.GPU;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Streams on cuda:0: kernels run on the device's own compute stream, host transfers go through pinned staging
 * buffers, fit uploads the next batch on the copy stream, and the pool keeps blocks that the compute stream uses
 * away from the copy stream until it is done with them. In the gpu-emulated run SOMA_EMU_EVENT_LAG makes events
 * finish late, so the waiting paths run.
 */
@Tag("gpu")
@ExtendWith({NoLeaks.class, GpuSeeds.class})
class CudaStreamsTest {
    private static final boolean EVENTS_LAG = System.getenv("SOMA_EMU_EVENT_LAG") != null;

    @AfterEach
    void gpuPoolEmpty() {
        if (dev.soma.backend.CudaProbe.result().usable()) {
            assertEquals(0, Backends.get(GPU).pool().stats().allocatedBytes(), "live bytes left in the cuda:0 pool");
        }
    }

    @Test
    void workRunsOnTheDevicesOwnStreamAndPrefetchUsesAnother() {
        Backend gpu = GpuTesting.gpu();
        long compute = gpu.currentStream();
        assertNotEquals(0L, compute, "kernels must not run on the legacy default stream");
        long[] inside = new long[1];
        try (Prefetched p = gpu.prefetch(() -> {
            inside[0] = gpu.currentStream();
            return List.of();
        })) {
            p.use();
        }
        assertNotEquals(0L, inside[0]);
        assertNotEquals(compute, inside[0], "prefetch must enqueue on the copy stream");
        assertEquals(compute, gpu.currentStream(), "the compute stream is current again after prefetch");
    }

    @Test
    void prefetchedTensorsHoldTheirDataAndTheirBlocksWaitForTheComputeStream() {
        Backend gpu = GpuTesting.gpu();
        SplittableRandom r = GpuTesting.random();
        float[] data = GpuTesting.gaussian(r, 3000);
        int[] ids = new int[64];
        for (int i = 0; i < ids.length; i++) ids[i] = r.nextInt(1000);
        Batch.HostArray xs = new Batch.HostArray(data, null, new long[] {30, 100});
        Batch.HostArray ys = new Batch.HostArray(null, ids, new long[] {64});
        long pendingBefore = gpu.pool().stats().pendingBlocks();
        try (Prefetched p = gpu.prefetch(() -> List.of(xs.tensor(GPU), ys.tensor(GPU)))) {
            List<Tensor> t = p.use();
            try (Tensor doubled = t.get(0).mul(2.0)) { // compute-stream work on the copy stream's upload
                float[] got = doubled.toFloatArray();
                for (int i = 0; i < data.length; i++) assertEquals(2 * data[i], got[i], 0.0, "element " + i);
            }
            assertArrayEquals(ids, t.get(1).toIntArray());
        }
        if (EVENTS_LAG) {
            assertTrue(gpu.pool().stats().pendingBlocks() > pendingBefore,
                    "a released upload used by the compute stream must wait for its event: " + gpu.pool().stats());
        }
    }

    @Test
    void closingAnUnusedPrefetchFreesItsTensors() {
        Backend gpu = GpuTesting.gpu();
        long live = gpu.pool().stats().allocatedBytes();
        Batch.HostArray xs = new Batch.HostArray(new float[512], null, new long[] {512});
        Prefetched p = gpu.prefetch(() -> List.of(xs.tensor(GPU)));
        assertTrue(gpu.pool().stats().allocatedBytes() > live);
        p.close();
        assertEquals(live, gpu.pool().stats().allocatedBytes());
        assertThrows(IllegalStateException.class, p::use);
    }

    @Test
    void manyWritesInARowKeepTheirOwnStagingBuffers() {
        // Each write returns before its copy has run; reusing a staging buffer early would corrupt earlier copies.
        GpuTesting.gpu();
        SplittableRandom r = GpuTesting.random();
        int n = 20;
        float[][] data = new float[n][];
        Tensor[] ts = new Tensor[n];
        try {
            for (int i = 0; i < n; i++) {
                data[i] = GpuTesting.gaussian(r, 257 + 31 * i);
                ts[i] = Tensor.empty(dev.soma.tensor.DType.F32, GPU, data[i].length);
                ts[i].backend().memory().write(ts[i], data[i]);
            }
            for (int i = 0; i < n; i++) assertArrayEquals(data[i], ts[i].toFloatArray(), "tensor " + i);
        } finally {
            for (Tensor t : ts) if (t != null) t.close();
        }
    }

    /** Same seed, same data, no shuffle: fit on cuda:0 (with prefetching) follows fit on the CPU. */
    @Test
    void fitWithPrefetchingEqualsTheCpuAndAllocatesNothingAfterItsFirstEpoch() {
        GpuTesting.gpu();
        SplittableRandom r = new SplittableRandom(17);
        int n = 40;
        float[] x = GpuTesting.gaussian(r, n * 6);
        int[] y = new int[n];
        for (int i = 0; i < n; i++) y[i] = r.nextInt(3);
        ArrayDataset data = ArrayDataset.withLabels(x, new long[] {6}, y);
        long[] allocationsAfterEpoch = new long[3];
        Callback watch = new Callback() {
            @Override
            public void onEpochEnd(Model model, int epoch, Map<String, Double> logs) {
                allocationsAfterEpoch[epoch] = Backends.get(GPU).pool().stats().nativeAllocations();
            }
        };
        try (Sequential cpu = new Sequential(new Dense(8, "relu"), new Dense(3, "softmax"));
             Sequential gpu = new Sequential(new Dense(8, "relu"), new Dense(3, "softmax")).to(GPU)) {
            cpu.seed(9).compile(new Adam(1e-2), "sparse_categorical_crossentropy", "accuracy");
            gpu.seed(9).compile(new Adam(1e-2), "sparse_categorical_crossentropy", "accuracy");
            History ref = cpu.fit(data, new FitOptions().batchSize(8).epochs(3).shuffle(false).verbose(0));
            History got = gpu.fit(data, new FitOptions().batchSize(8).epochs(3).shuffle(false).verbose(0).callbacks(watch));
            List<Double> refLoss = ref.get("loss");
            List<Double> gotLoss = got.get("loss");
            for (int e = 0; e < 3; e++) {
                assertEquals(refLoss.get(e), gotLoss.get(e), 1e-4 * Math.abs(refLoss.get(e)), "epoch " + e + " loss");
            }
            CudaTrainingStepTest.assertSameParams(cpu, gpu);
            PoolStats s = Backends.get(GPU).pool().stats();
            assertEquals(allocationsAfterEpoch[0], allocationsAfterEpoch[2], "device allocations after epoch 1: " + s);
        }
    }
}
