package dev.soma.cli;

import dev.soma.backend.CudaProbe;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** soma info on the emulated device (the gpu-emulated execution): it says plainly what the device is. */
@Tag("gpu")
class InfoEmulatedTest {
    @Test
    void infoSaysTheDeviceIsEmulated() {
        assumeTrue(CudaProbe.result().usable() && CudaProbe.result().emulated(), "no emulated CUDA device in this run");
        CliRun r = CliRun.of("info");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("CUDA           usable: 1 emulated device (CPU fibers; no cuBLAS/cuDNN; for testing "
                + "kernels, not speed)"), r.out());
        assertTrue(r.out().contains("CUDA kernels   emulated"), r.out());
        assertTrue(r.out().contains("pool[cuda:0]"), r.out());
        assertTrue(r.out().contains("NCCL           the emulated device's NCCL stand-in"), r.out());
    }
}
