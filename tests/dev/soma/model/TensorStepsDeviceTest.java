package dev.soma.model;

import dev.soma.backend.Backends;
import dev.soma.backend.CudaProbe;
import dev.soma.data.Batch;
import dev.soma.memory.Scope;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.UsableGpu;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.*;

/** trainStep / testStep on tensors already on cuda:0 (used in place) equal the CPU steps. */
@Tag("gpu")
@ExtendWith(NoLeaks.class)
class TensorStepsDeviceTest {
    static final Device GPU = Device.cuda(0);

    @AfterEach
    void gpuPoolEmpty() {
        if (CudaProbe.result().usable()) {
            assertEquals(0, Backends.get(GPU).pool().stats().allocatedBytes(), "live bytes left in the cuda:0 pool");
        }
    }

    @Test
    void stepsOnDeviceTensorsEqualTheCpuSteps() {
        UsableGpu.required();
        Batch batch = TrainingLoopTest.blobs(16, 3).gather(IntStream.range(0, 16).toArray());
        try (Sequential cpu = TensorStepsTest.model(); Sequential gpu = TensorStepsTest.model();
             Scope s = Scope.open()) {
            gpu.to(GPU);
            Tensor x = batch.features();
            Tensor y = batch.targets();
            Tensor gx = x.to(GPU);
            Tensor gy = y.to(GPU);
            for (int step = 0; step < 3; step++) {
                double want = cpu.trainStep(x, y);
                double got = gpu.trainStep(gx, gy);
                assertEquals(want, got, 1e-4 * Math.abs(want), "step " + step);
            }
            assertEquals(cpu.metricResults().get("accuracy"), gpu.metricResults().get("accuracy"), 0.0);
            assertEquals(cpu.testStep(x, y), gpu.testStep(gx, gy), 1e-4);
            assertEquals(GPU, gx.device(), "the caller's device tensors stay where they are");
            assertFalse(gx.isClosed());
        }
    }
}
