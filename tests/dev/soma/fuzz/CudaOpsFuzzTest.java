package dev.soma.fuzz;

import dev.soma.backend.CudaProbe;
import dev.soma.tensor.Device;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@link OpsFuzzTest} on cuda:0 (the emulated device in CI's gpu-emulated step, a real one where present), with some
 * tensors left on the CPU so that every op's device check is tried too. The CUDA pool must also return to the live
 * bytes it had before each call.
 */
@Tag("gpu")
@ExtendWith(NoLeaks.class)
class CudaOpsFuzzTest {
    @Test
    void everyOpAnswersRandomArgumentsOnTheGpuWithAResultOrAClearError() throws Exception {
        CudaProbe.Result r = CudaProbe.result();
        assumeTrue(r.usable(), () -> "no usable CUDA device: " + r.reason());
        // Each new geometry logs the kernel path it takes (VendorPaths); the fuzzer's thousands would bury CI's log.
        java.util.logging.Logger paths = java.util.logging.Logger.getLogger("dev.soma.backend.cuda.VendorPaths");
        java.util.logging.Level level = paths.getLevel();
        paths.setLevel(java.util.logging.Level.WARNING);
        try {
            OpsFuzzTest.run(Device.cuda(0), Device.cpu());
        } finally {
            paths.setLevel(level);
        }
    }
}
