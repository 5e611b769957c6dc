package dev.soma.fuzz;

import dev.soma.tensor.Device;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * {@link PredictorFuzzTest} with the models served on cuda:0 (the emulated device in CI's gpu-emulated step, a real
 * one where present) to several threads at once, each answer within 1e-3 of the CPU's output for its example alone.
 * {@code -Dsoma.fuzz.gpuPredictorModels=N} (default 12).
 */
@Tag("gpu")
@ExtendWith(NoLeaks.class)
class CudaPredictorFuzzTest {
    @Test
    void predictorsOnTheGpuAnswerEveryCallerWithItsOwnExamplesOutput() throws Throwable {
        FuzzReports.onTheGpu(() -> new PredictorFuzzTest().run(Device.cuda(0), 1e-3,
                Integer.getInteger("soma.fuzz.gpuPredictorModels", 12)));
    }
}
