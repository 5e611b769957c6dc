package dev.soma.fuzz;

import dev.soma.tensor.Device;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * {@link LayerFuzzTest} on cuda:0 (the emulated device in CI's gpu-emulated step, a real one where present): layers
 * first called on GPU tensors build there, and their outputs and gradients are judged against float64 on the CPU with
 * the CPU's own float32 error as a yardstick. The CUDA pool must also return to the live bytes it had before.
 */
@Tag("gpu")
@ExtendWith(NoLeaks.class)
class CudaLayerFuzzTest {
    @Test
    void everyLayerAnswersRandomOptionsAndInputsOnTheGpu() throws Throwable {
        FuzzReports.onTheGpu(() -> LayerFuzzTest.run(Device.cuda(0)));
    }
}
