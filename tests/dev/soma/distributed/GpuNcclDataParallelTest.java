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

    /**
     * A rank that stops taking part (alive, as a stuck node) and one that dies, on the NCCL path: the job ends within
     * the bound with the stand-in's reason, and a run resumed from rank 0's checkpoint ends as an unbroken one.
     */
    @org.junit.jupiter.api.Test
    void aStuckOrDeadRankEndsTheJobAndItResumes() throws Exception {
        Map<String, String> env = new HashMap<>(environment());
        env.put("SOMA_DIST_TIMEOUT", "4");
        java.nio.file.Path dir = java.nio.file.Files.createDirectories(out.resolve("nccl-hang"));
        MpiJob.Result hung = MpiJob.run(2, DataParallelResumeMain.class, env, 120, dir.toString(), "hang", "cuda:0");
        assertTrue(hung.exitCode() != 0 && hung.output().contains("not every rank arrived within 4 s"), hung.output());
        assertTrue(hung.seconds() < 90, "the stuck job took " + hung.seconds() + " s");

        java.nio.file.Path resume = java.nio.file.Files.createDirectories(out.resolve("nccl-resume"));
        MpiJob.Result died = MpiJob.run(2, DataParallelResumeMain.class, environment(), 120, resume.toString(), "die",
                "cuda:0");
        assertTrue(died.exitCode() != 0 && died.output().contains("rank 1: halting in epoch 2"), died.output());
        assertTrue(died.seconds() < 90, "the job took " + died.seconds() + " s to end after a rank died");
        MpiJob.Result resumed = MpiJob.run(2, DataParallelResumeMain.class, environment(), 120, resume.toString(), "resume",
                "cuda:0");
        assertTrue(resumed.exitCode() == 0, resumed.output());
        java.util.List<double[]> two = EquivalenceCases.readWeights(resume.resolve("resumed.bin"));
        try (dev.soma.memory.Scope s = dev.soma.memory.Scope.open();
             dev.soma.model.Sequential m = EquivalenceCases.model("cnn", dev.soma.tensor.DType.F32, 100)) {
            m.fit(EquivalenceCases.data("cnn"), EquivalenceCases.options(2 * EquivalenceCases.BATCH_PER_RANK, false)
                    .epochs(DataParallelResumeMain.EPOCHS));
            java.nio.file.Path f = resume.resolve("one.bin");
            EquivalenceCases.writeWeights(m, f);
            double rel = EquivalenceCases.relativeDifference(two, EquivalenceCases.readWeights(f));
            assertTrue(rel < 1e-4, "resumed 2-rank NCCL run vs unbroken 1-process CPU run: " + rel);
        }
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
