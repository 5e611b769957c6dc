package dev.soma.cuda;

import dev.soma.backend.cuda.CudaProfilerRange;
import dev.soma.memory.Scope;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.TemporaryProperties;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import static dev.soma.cuda.GpuTesting.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The profiler range that bench/gpu/ncu-steps.sh records: the steps run inside it as many times as asked, their
 * device work finished when it returns, nothing when none are asked for, and a CPU device refused by name.
 */
@Tag("gpu")
@ExtendWith(NoLeaks.class)
class CudaProfilerRangeTest {
    private final TemporaryProperties properties = new TemporaryProperties();

    @BeforeEach
    void noStepsAsked() {
        properties.clear("soma.cuda.profilerSteps");
    }

    @AfterEach
    void restore() {
        properties.close();
    }

    @Test
    void stepsRunInsideTheRangeAndTheirWorkIsDoneOnReturn() {
        gpu();
        int[] calls = {0};
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.ones(1 << 16).to(GPU);
            Tensor[] y = {x};
            CudaProfilerRange.run(GPU, 3, () -> {
                calls[0]++;
                y[0] = y[0].add(x);
            });
            assertEquals(3, calls[0]);
            assertEquals(4.0, y[0].to(Device.cpu()).toDoubleArray()[12345], 0.0);
        }
        CudaProfilerRange.run(GPU, 0, () -> fail("no steps were asked for"));
    }

    @Test
    void theRequestComesFromTheSystemPropertyAndACpuDeviceIsRefused() {
        assertEquals(0, CudaProfilerRange.requestedSteps());
        properties.set("soma.cuda.profilerSteps", "7");
        assertEquals(7, CudaProfilerRange.requestedSteps());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CudaProfilerRange.run(Device.cpu(), 1, () -> {}));
        assertTrue(e.getMessage().contains("cpu") && e.getMessage().contains("CUDA device expected"), e.getMessage());
    }
}
