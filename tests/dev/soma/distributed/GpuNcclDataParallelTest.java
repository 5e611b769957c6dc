package dev.soma.distributed;

import org.junit.jupiter.api.Tag;

import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * GpuDataParallelTest's job and checks with SOMA_GPU_COLLECTIVES=nccl: the gradient buckets live on cuda:0 and NCCL
 * reduces them there, the initial weights and the synchronised batch statistics are broadcast and summed by NCCL too.
 * In CI both ranks share the emulated cuda:0 (the emulation's NCCL allows it); on real GPUs rank r uses cuda:r, since
 * NVIDIA's NCCL refuses two ranks on one GPU, so a machine with one GPU skips this job (NcclTest's one rank runs).
 */
@Tag("gpu")
class GpuNcclDataParallelTest extends GpuDataParallelTest {
    @Override
    void assumeRunnable(dev.soma.backend.CudaProbe.Result probe) {
        super.assumeRunnable(probe);
        assumeTrue(probe.emulated() || probe.deviceCount() >= 2,
                "NCCL needs a GPU per rank (or the emulated device): this machine has " + probe.deviceCount());
    }

    @Override
    Map<String, String> environment() {
        Map<String, String> env = new HashMap<>(super.environment());
        env.put("SOMA_GPU_COLLECTIVES", "nccl");
        return env;
    }

    @Override
    void checkCollectivesPath(String output) {
        assertTrue(output.contains("gpu collectives: NCCL"), output);
        for (String c : GpuDataParallelMain.CASES) {
            assertTrue(output.contains("stats " + c + ": ") && output.contains("buckets on cuda:") && output.contains(", reduced by "), output);
        }
        assertTrue(!output.contains("buckets in host memory"), "no case fell back to host buckets:\n" + output);
    }
}
