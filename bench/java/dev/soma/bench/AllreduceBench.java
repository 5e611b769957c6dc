package dev.soma.bench;

import dev.soma.distributed.Mpi;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

import java.util.Arrays;

/**
 * Our all-reduce path (Java -> JNI -> libsoma_mpi -> MPI_Iallreduce, finished by the shim's bounded polling wait) on
 * the sizes and iteration counts of bench/distributed/allreduce_reference.c. Prints "size_bytes our_us" per size
 * (the fastest iteration, rank 0, as the reference). Run under mpirun; bench/distributed/run.sh runs both and prints the table.
 */
public final class AllreduceBench {
    public static void main(String[] args) {
        Mpi mpi = Mpi.world();
        long[] sizes = {4096, 65536, 1 << 20, 4 << 20, 16 << 20, 64 << 20};
        for (long bytes : sizes) {
            int iters = bytes >= (16 << 20) ? 10 : 50;
            double[] t = new double[iters];
            try (Scope s = Scope.open()) {
                Tensor buf = Tensor.full(1.0, DType.F32, Device.cpu(), bytes / 4);
                for (int w = 0; w < 3; w++) mpi.allreduceSum(buf);
                for (int i = 0; i < iters; i++) {
                    mpi.barrier();
                    double t0 = mpi.wtime();
                    mpi.allreduceSum(buf);
                    t[i] = mpi.wtime() - t0;
                }
            }
            Arrays.sort(t);
            if (mpi.rank() == 0) System.out.printf("%d %.1f%n", bytes, t[0] * 1e6);
        }
        mpi.finish();
    }
}
