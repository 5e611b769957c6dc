package dev.soma.bench;

import dev.soma.distributed.Mpi;
import dev.soma.jni.MpiKernels;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

import java.util.Arrays;

/**
 * Our all-reduce path (Java -> JNI -> libsoma_mpi -> recursive doubling on MPI_Isend/MPI_Irecv up to the small
 * path's limit, MPI_Iallreduce above it, finished by the shim's bounded polling wait) against the MPI library's own
 * blocking MPI_Allreduce on the same buffer, called through the same shim, in the same process, alternating
 * iteration by iteration (which of the two goes first alternates too), so that both sides see the same machine
 * load: on a shared machine, separate runs are not comparable. Prints per size in bytes
 * ({@code -Dsoma.bench.allreduceSizes=a,b,..} for other sizes than the default 64 B to 64 MiB)
 * "size_bytes ours_us mpi_allreduce_us ours_median_us mpi_median_us" (fastest and median of the iterations, rank 0).
 * Run under mpirun; bench/distributed/run.sh runs it with the C reference and prints the table.
 */
public final class AllreduceBench {
    public static void main(String[] args) {
        Mpi mpi = Mpi.world();
        long[] sizes = sizes(System.getProperty("soma.bench.allreduceSizes",
                "64,4096,16384,65536,262144,1048576,4194304,16777216,67108864"));
        if (mpi.rank() == 0) {
            System.err.println("small path (recursive doubling on point-to-point) up to " + mpi.smallAllreduceBytes()
                    + " bytes; " + mpi.size() + " ranks");
        }
        warmUp(mpi);
        for (long bytes : sizes) {
            int iters = bytes >= (16 << 20) ? 10 : 50;
            double[] ours = new double[iters], theirs = new double[iters];
            try (Scope s = Scope.open()) {
                Tensor buf = Tensor.full(1.0, DType.F32, Device.cpu(), bytes / 4);
                for (int w = 0; w < 3; w++) {
                    mpi.allreduceSum(buf);
                    mpiAllreduce(buf);
                }
                for (int i = 0; i < iters; i++) {
                    for (int side = 0; side < 2; side++) {
                        boolean oursNow = (side == 0) == (i % 2 == 0);
                        mpi.barrier();
                        double t0 = mpi.wtime();
                        if (oursNow) mpi.allreduceSum(buf);
                        else mpiAllreduce(buf);
                        double t = mpi.wtime() - t0;
                        if (oursNow) ours[i] = t;
                        else theirs[i] = t;
                    }
                }
            }
            Arrays.sort(ours);
            Arrays.sort(theirs);
            if (mpi.rank() == 0) {
                System.out.printf("%d %.1f %.1f %.1f %.1f%n", bytes, ours[0] * 1e6, theirs[0] * 1e6, ours[iters / 2] * 1e6,
                        theirs[iters / 2] * 1e6);
            }
        }
        mpi.finish();
    }

    /**
     * Our path runs Java code (the request, its checks) that the JIT compiles only after thousands of calls, and the
     * reference is one native call: without this the first sizes would time our path in the interpreter.
     */
    private static void warmUp(Mpi mpi) {
        try (Scope s = Scope.open()) {
            Tensor small = Tensor.full(1.0, DType.F32, Device.cpu(), 16);
            for (int i = 0; i < 20_000; i++) {
                mpi.allreduceSum(small);
                mpiAllreduce(small);
                if (i % 1000 == 0) mpi.barrier();
            }
        }
    }

    private static long[] sizes(String list) {
        return Arrays.stream(list.split(",")).map(String::trim).mapToLong(Long::parseLong).toArray();
    }

    /** The library's blocking MPI_Allreduce (in place, MPI_SUM, MPI_COMM_WORLD): the reference. */
    private static void mpiAllreduce(Tensor buf) {
        int rc = MpiKernels.soma_mpi_allreduce_sum(buf.dtype().code(), buf.address(), buf.numel());
        if (rc != 0) throw new IllegalStateException("MPI_Allreduce failed: " + MpiKernels.soma_mpi_last_error());
    }
}
