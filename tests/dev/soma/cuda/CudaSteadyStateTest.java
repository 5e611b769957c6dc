package dev.soma.cuda;

import dev.soma.backend.Backends;
import dev.soma.data.ArrayDataset;
import dev.soma.data.Batch;
import dev.soma.memory.PoolStats;
import dev.soma.model.Sequential;
import dev.soma.nn.Conv2D;
import dev.soma.nn.Dense;
import dev.soma.nn.Dropout;
import dev.soma.nn.Flatten;
import dev.soma.nn.MaxPooling2D;
import dev.soma.optim.Adam;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.SplittableRandom;
import java.util.stream.IntStream;

import static dev.soma.cuda.GpuTesting.GPU;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A steady training loop on cuda:0 asks the device allocator for nothing after its second step: every tensor,
 * workspace and scratch buffer of later steps comes from the caching pool (DESIGN.md, "Tensors and memory").
 */
@Tag("gpu")
@ExtendWith(NoLeaks.class)
class CudaSteadyStateTest {
    @Test
    void aSmallCnnMakesNoDeviceAllocationAfterTheSecondStep() {
        GpuTesting.gpu();
        SplittableRandom r = new SplittableRandom(3);
        int n = 8;
        float[] x = new float[n * 8 * 8];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        int[] y = new int[n];
        for (int i = 0; i < n; i++) y[i] = r.nextInt(4);
        Batch batch = ArrayDataset.withLabels(x, new long[] {8, 8, 1}, y).gather(IntStream.range(0, n).toArray());
        try (Sequential model = new Sequential(new Conv2D(4, 3, "relu").padding("same"), new MaxPooling2D(2),
                new Flatten(), new Dense(16, "relu"), new Dropout(0.2), new Dense(4, "softmax"))) {
            model.to(GPU).compile(new Adam(1e-3), "sparse_categorical_crossentropy", "accuracy");
            model.build(8, 8, 1);
            model.trainStep(batch);
            model.trainStep(batch);
            long after2 = Backends.get(GPU).pool().stats().nativeAllocations();
            double first = Double.NaN;
            double last = 0;
            for (int i = 0; i < 30; i++) {
                last = model.trainStep(batch);
                if (i == 0) first = last;
            }
            PoolStats s = Backends.get(GPU).pool().stats();
            assertEquals(after2, s.nativeAllocations(), "device allocations after step 2: " + s);
            assertTrue(last < first, "the loss fell: " + first + " -> " + last);
        }
    }
}
