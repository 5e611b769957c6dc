package dev.soma.backend.cuda;

import dev.soma.memory.Scope;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.UsableGpu;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * On a real GPU (the emulated device has no vendor libraries): matrix products from 24 short-lived threads make a
 * cuBLAS handle each, and once those threads have ended and been collected their handles are destroyed, so a service
 * answering from short-lived threads does not keep one (with its device memory) per thread it ever ran.
 */
@Tag("gpu")
@ExtendWith(NoLeaks.class)
class VendorHandleReleaseGpuTest {
    @Test
    void handlesOfEndedThreadsAreDestroyed() throws Exception {
        assumeFalse(UsableGpu.required().emulated(), "the emulated device has no cuBLAS or cuDNN handles");
        int before = PerThreadHandles.liveEverywhere();
        int threads = 24, peak = before;
        for (int t = 0; t < threads; t++) {
            Thread th = new Thread(VendorHandleReleaseGpuTest::multiply);
            th.start();
            th.join();
            peak = Math.max(peak, PerThreadHandles.liveEverywhere());
        }
        assumeTrue(peak > before, "no vendor handle was made: cuBLAS did not load or take the shape");
        for (int i = 0; i < 200 && PerThreadHandles.liveEverywhere() > before; i++) {
            System.gc();
            Thread.sleep(20);
        }
        int after = PerThreadHandles.liveEverywhere();
        System.out.println("vendor handles: " + before + " before, up to " + peak + " with " + threads
                + " short-lived threads, " + after + " after they ended");
        assertTrue(after <= before, "handles of ended threads still live: " + after + " against " + before + " before");
    }

    private static void multiply() {
        try (Scope s = Scope.open()) {
            Tensor a = Tensor.of(new float[256 * 256], 256, 256).to(Device.cuda(0));
            a.matmul(a).toFloatArray();
        }
    }
}
