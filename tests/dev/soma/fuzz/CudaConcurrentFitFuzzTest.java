package dev.soma.fuzz;

import dev.soma.tensor.Device;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * {@link ConcurrentFitFuzzTest} with the models on cuda:0 (the emulated device in CI's gpu-emulated step, a real one
 * where present): trained at once on threads sharing the device, its pool and its stream, each must end bit for bit
 * as trained alone there. {@code -Dsoma.fuzz.gpuConcurrentRounds=N} (default 4).
 */
@Tag("gpu")
@ExtendWith(NoLeaks.class)
class CudaConcurrentFitFuzzTest {
    @Test
    void modelsTrainedAtOnceOnTheGpuEndAsEachAlone() throws Throwable {
        FuzzReports.onTheGpu(() -> new ConcurrentFitFuzzTest().run(Device.cuda(0),
                Integer.getInteger("soma.fuzz.gpuConcurrentRounds", 4)));
    }
}
