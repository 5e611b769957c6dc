package dev.soma.model;

import dev.soma.data.ArrayDataset;
import dev.soma.nn.Dense;
import dev.soma.optim.Adam;
import dev.soma.tensor.Device;
import dev.soma.tensor.Precision;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.UsableGpu;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import static org.junit.jupiter.api.Assertions.*;

/** bf16 mixed precision is a CPU feature: fit on a CUDA device refuses it before any step, naming the device. */
@Tag("gpu")
@ExtendWith(NoLeaks.class)
class MixedPrecisionDeviceTest {
    @Test
    void fitInBf16OnACudaDeviceIsRefused() {
        UsableGpu.required();
        try (Sequential m = new Sequential(new Dense(3, "softmax"))) {
            m.seed(1).to(Device.cuda(0)).compile(new Adam(1e-3), "sparse_categorical_crossentropy");
            ArrayDataset data = ArrayDataset.withLabels(new float[8], new long[] {2}, new int[] {0, 1, 2, 0});
            UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class,
                    () -> m.fit(data, new FitOptions().precision(Precision.BF16).verbose(0)));
            assertTrue(e.getMessage().contains("CPU only") && e.getMessage().contains("cuda:0"), e.getMessage());
            assertEquals(0, m.history().epochs(), "no epoch ran");
        }
    }
}
