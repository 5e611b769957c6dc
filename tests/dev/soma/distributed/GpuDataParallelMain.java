package dev.soma.distributed;

import dev.soma.backend.Backends;
import dev.soma.memory.Scope;
import dev.soma.model.Sequential;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;

import java.nio.file.Path;
import java.util.List;

/**
 * One rank of GpuDataParallelTest's 2-rank job: the collectives on cuda:0 tensors (staged through host memory, or
 * with SOMA_GPU_COLLECTIVES=nccl through NCCL on the device: GpuNcclDataParallelTest), then
 * each equivalence case trained data-parallel on cuda:0, its weights written to {@code <out>/<case>-<dtype>-rank<r>.bin}.
 * Then synchronised batch normalisation and a GAN with it (SyncBatchNormMain's and GanDataParallelMain's "bn" cases)
 * on cuda:0, and DP-SGD (PrivateDataParallelMain's "lstm" case). Each rank starts from a different seed, so equal weights prove rank 0's broadcast. Prints "ok ..." lines.
 */
public final class GpuDataParallelMain {
    /**
     * cuda:0 for every rank (they share it), except NCCL on real GPUs, which refuses that: there rank r uses cuda:r.
     */
    static final Device GPU = Device.cuda(Mpi.GpuCollectives.configured() == Mpi.GpuCollectives.NCCL
            && !dev.soma.backend.CudaProbe.result().emulated() ? Mpi.world().rank() : 0);
    /** The cases: every model in f64, the CNN in f32 too. */
    static final List<String> CASES = List.of("cnn-float64", "lstm-float64", "attention-float64", "cnn-float32");

    public static void main(String[] args) throws Exception {
        Path out = Path.of(args[0]);
        Mpi mpi = Mpi.world();
        int rank = mpi.rank(), size = mpi.size();
        if (rank == 0) System.out.println("gpu collectives: " + mpi.gpuCollectives());
        collectives(mpi);
        for (String c : CASES) {
            String name = c.substring(0, c.indexOf('-'));
            DType dtype = c.endsWith("float64") ? DType.F64 : DType.F32;
            try (Scope s = Scope.open(); Sequential m = EquivalenceCases.model(name, dtype, 100 + rank)) {
                m.to(GPU);
                m.fit(EquivalenceCases.data(name), EquivalenceCases.options(EquivalenceCases.BATCH_PER_RANK, true));
                if (!m.params().get(0).value().device().equals(GPU)) throw new AssertionError("trained off the GPU");
                EquivalenceCases.writeWeights(m, out.resolve(c + "-rank" + rank + ".bin"));
                if (rank == 0) System.out.println("stats " + c + ": " + m.lastDataParallelStatistics());
            }
        }
        // Synchronised batch normalisation (its statistics all-reduced from cuda:0), and a GAN with it.
        try (Scope s = Scope.open(); Sequential m = SyncBatchNormMain.model(100 + rank)) {
            m.to(GPU);
            m.fit(SyncBatchNormMain.data(), SyncBatchNormMain.options(SyncBatchNormMain.BATCH_PER_RANK, true).syncBatchNorm(true));
            EquivalenceCases.writeWeights(m, out.resolve("bn-sync-rank" + rank + ".bin"));
        }
        try (Scope s = Scope.open()) {
            GanDataParallelMain.train("bn", true, 100 + rank, out.resolve("gan-bn-%s-rank" + rank + ".bin"), GPU);
        }
        // DP-SGD data-parallel on the GPU: the per-example path (the ghost kernels are CPU only), its clipped sums
        // all-reduced from cuda:0, the noise drawn there (Philox, bit-equal to the CPU's).
        try (Scope s = Scope.open(); Sequential m = PrivateDataParallelMain.model("lstm", 100 + rank)) {
            m.to(GPU);
            m.fit(EquivalenceCases.data("lstm"), PrivateDataParallelMain.options("lstm", PrivateDataParallelMain.BATCH_PER_RANK, true));
            EquivalenceCases.writeWeights(m, out.resolve("dp-lstm-rank" + rank + ".bin"));
        }
        System.out.println("ok rank " + rank + " of " + size + " trained " + CASES + " on " + GPU + ", live bytes "
                + Backends.get(GPU).pool().stats().allocatedBytes() + " (gpu) "
                + Backends.cpu().pool().stats().allocatedBytes() + " (cpu)");
        mpi.finish();
    }

    private static void collectives(Mpi mpi) {
        try (Scope s = Scope.open()) {
            DataParallelMain.allreduceAndBroadcast(mpi, GPU);
        }
        if (mpi.rank() == 0) System.out.println("ok collectives on " + GPU);
    }
}
