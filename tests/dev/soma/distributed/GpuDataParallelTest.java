package dev.soma.distributed;

import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Data-parallel training of models on cuda:0, 2 MPI ranks (the emulated device in CI, a real GPU where there is one):
 * gradients staged through host memory, against 1 process x batch 32 on the CPU. Tiny buckets, as DataParallelTest.
 * {@link GpuNcclDataParallelTest} runs the same checks with the collectives in NCCL on the device.
 */
@Tag("gpu")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GpuDataParallelTest {
    /** The job's output folder (made by {@link #runTwoRanks}: JUnit fills @TempDir fields only per test here). */
    Path out;
    MpiJob.Result job;

    /** The job's environment: tiny buckets, a bounded wait; subclasses add how GPU collectives travel. */
    Map<String, String> environment() {
        return Map.of("SOMA_DDP_BUCKET_MB", "0.002", "SOMA_DIST_TIMEOUT", "120");
    }

    /** What the job must print about where it reduced gradients. */
    void checkCollectivesPath(String output) {
        assertTrue(output.contains("gpu collectives: HOST") && output.contains("buckets in host memory, reduced by MPI"),
                output);
    }

    /** Skips the class where its job cannot run. */
    void assumeRunnable(dev.soma.backend.CudaProbe.Result probe) {
        assumeTrue(probe.usable(), () -> "no usable CUDA device: " + probe.reason());
    }

    @BeforeAll
    void runTwoRanks() throws Exception {
        assumeRunnable(dev.soma.backend.CudaProbe.result());
        MpiJob.assumeMpirun();
        out = java.nio.file.Files.createTempDirectory("soma-gpu-ddp");
        job = MpiJob.run(2, GpuDataParallelMain.class, environment(), 400, out.toString());
        assertEquals(0, job.exitCode(), job.output());
        checkCollectivesPath(job.output());
        assertTrue(job.output().contains("ok collectives on cuda:0"), job.output());
        for (int rank = 0; rank < 2; rank++) {
            assertTrue(job.output().contains("ok rank " + rank + " of 2 trained") && job.output().contains("live bytes 0 (gpu) 0 (cpu)"),
                    "every tensor freed on both ranks and devices:\n" + job.output());
        }
    }

    @AfterAll
    void removeOutputs() throws java.io.IOException {
        if (out == null) return;
        try (java.util.stream.Stream<Path> files = java.nio.file.Files.walk(out)) {
            for (Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) java.nio.file.Files.deleteIfExists(p);
        }
    }

    /**
     * Both ranks hold the same weights, and they are those of one CPU process at batch 32 after 6 SGD-momentum steps:
     * f64 within 1e-10 (GPU and CPU kernels sum in different orders), f32 within DESIGN.md's 1e-4 for products.
     */
    @ParameterizedTest
    @CsvSource({"cnn, float64, 1e-10", "lstm, float64, 1e-10", "attention, float64, 1e-10", "cnn, float32, 1e-4"})
    void twoGpuRanksOfSixteenEqualOneCpuProcessOfThirtyTwo(String model, String dtypeName, double bound) throws Exception {
        DType dtype = dtypeName.equals("float64") ? DType.F64 : DType.F32;
        double rel = EquivalenceCases.ranksAgainstOneProcess(out, model + "-" + dtypeName, () -> EquivalenceCases.model(model, dtype, 100),
                m -> m.fit(EquivalenceCases.data(model), EquivalenceCases.options(2 * EquivalenceCases.BATCH_PER_RANK, false)));
        System.out.printf("gpu data-parallel equivalence %s %s: relative difference %.3g (bound %.0e)%n", model, dtypeName,
                rel, bound);
        assertTrue(rel < bound, model + " " + dtypeName + ": 2 GPU ranks x 16 vs 1 CPU process x 32: " + rel);
    }

    /** Synchronised batch normalisation on cuda:0 (2 ranks x 16) against one CPU process at batch 32, in f64. */
    @Test
    void synchronisedBatchNormOnTheGpuEqualsOneCpuProcess() throws Exception {
        double rel = EquivalenceCases.ranksAgainstOneProcess(out, "bn-sync", () -> SyncBatchNormMain.model(100),
                m -> m.fit(SyncBatchNormMain.data(), SyncBatchNormMain.options(2 * SyncBatchNormMain.BATCH_PER_RANK, false)));
        System.out.printf("gpu sync batch norm equivalence f64: relative difference %.3g%n", rel);
        assertTrue(rel < 1e-10, "sync BN, 2 GPU ranks x 16 vs 1 CPU process x 32: " + rel);
    }

    /** DP-SGD on cuda:0, 2 ranks x 8 (the per-example path), against one CPU process x 16, in f64. */
    @Test
    void dpSgdOnTheGpuEqualsOneCpuProcess() throws Exception {
        double rel = EquivalenceCases.ranksAgainstOneProcess(out, "dp-lstm", () -> PrivateDataParallelMain.model("lstm", 100),
                m -> m.fit(EquivalenceCases.data("lstm"),
                        PrivateDataParallelMain.options("lstm", 2 * PrivateDataParallelMain.BATCH_PER_RANK, false)));
        System.out.printf("gpu DP-SGD data-parallel lstm f64: relative difference %.3g%n", rel);
        assertTrue(rel < 1e-10, "DP-SGD, 2 GPU ranks x 8 vs 1 CPU process x 16: " + rel);
    }

    /** The GAN (generator with synchronised batch norm) on cuda:0, 2 ranks, against one CPU process, both models. */
    @Test
    void aGanOnTheGpuEqualsOneCpuProcess() throws Exception {
        try (Scope s = Scope.open()) {
            GanDataParallelMain.train("bn", false, 100, out.resolve("gan-bn-%s-one.bin"));
        }
        for (String model : List.of("g", "d")) {
            List<double[]> rank0 = EquivalenceCases.readWeights(out.resolve("gan-bn-" + model + "-rank0.bin"));
            List<double[]> rank1 = EquivalenceCases.readWeights(out.resolve("gan-bn-" + model + "-rank1.bin"));
            for (int i = 0; i < rank0.size(); i++) assertArrayEquals(rank0.get(i), rank1.get(i), 0.0, model + " param " + i);
            double rel = EquivalenceCases.relativeDifference(rank0,
                    EquivalenceCases.readWeights(out.resolve("gan-bn-" + model + "-one.bin")));
            System.out.printf("gpu data-parallel GAN bn, %s: relative difference %.3g%n", model, rel);
            assertTrue(rel < 1e-10, "GAN " + model + ", 2 GPU ranks x 16 vs 1 CPU process x 32: " + rel);
        }
    }
}
