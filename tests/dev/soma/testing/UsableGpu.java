package dev.soma.testing;

import dev.soma.backend.CudaProbe;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The one assumption every GPU test starts from. */
public final class UsableGpu {
    private UsableGpu() {}

    /**
     * Skips the calling test (JUnit assumption) unless a CUDA device and our kernels are usable: a real one, or the
     * emulated one under SOMA_CUDA_EMULATE=1 (CI's gpu-emulated step). Returns the probe's result for tests that
     * also ask whether the device is emulated.
     */
    public static CudaProbe.Result required() {
        CudaProbe.Result r = CudaProbe.result();
        assumeTrue(r.usable(), () -> "no usable CUDA device: " + r.reason());
        return r;
    }
}
