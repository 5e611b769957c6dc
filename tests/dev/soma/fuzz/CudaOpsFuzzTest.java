package dev.soma.fuzz;

import dev.soma.tensor.Device;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * {@link OpsFuzzTest} on cuda:0 (the emulated device in CI's gpu-emulated step, a real one where present), with some
 * tensors left on the CPU so that every op's device check is tried too. The CUDA pool must also return to the live
 * bytes it had before each call.
 */
@Tag("gpu")
@ExtendWith(NoLeaks.class)
class CudaOpsFuzzTest {
    @Test
    void everyOpAnswersRandomArgumentsOnTheGpuWithAResultOrAClearError() throws Throwable {
        FuzzReports.onTheGpu(() -> OpsFuzzTest.run(Device.cuda(0), Device.cpu()));
    }
}
