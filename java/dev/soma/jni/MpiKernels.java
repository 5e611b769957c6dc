package dev.soma.jni;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * JavaCPP binding of the MPI shim of {@code native/include/soma.h} (libsoma_mpi.so). The shim links no MPI: it opens
 * the machine's libmpi when {@link #soma_mpi_open} is called, so loading this class never needs MPI. Only
 * {@code dev.soma.distributed.Mpi} calls it, after validating every argument.
 */
@Platform(include = "soma.h", link = "soma_mpi")
public final class MpiKernels {
    private MpiKernels() {}

    public static void load() {
        Loader.load();
    }

    /** soma.h's SOMA_MPI_* status codes and ABI numbers. */
    public static final int ERROR = -1, NOT_OPENED = -2, TIMEOUT = -3, NO_SLOT = -4;
    public static final int ABI_OPEN_MPI = 1, ABI_MPICH = 2;

    public static native int soma_mpi_open(@Cast("const char*") String libraryPath, @Cast("char*") byte[] error,
            int errorLen);
    public static native int soma_mpi_abi();
    public static native @Cast("const char*") String soma_mpi_last_error();
    public static native int soma_mpi_library_version(@Cast("char*") byte[] out, int outLen);
    public static native int soma_mpi_init(int[] rank, int[] size);
    public static native int soma_mpi_finalize();
    public static native int soma_mpi_progress_thread();
    public static native int soma_mpi_abort(int code);
    public static native double soma_mpi_wtime();
    public static native int soma_mpi_allreduce_sum(int dtype, @Cast("void*") long buffer, @Cast("int64_t") long count);
    public static native int soma_mpi_iallreduce_sum(int dtype, @Cast("void*") long buffer, @Cast("int64_t") long count,
            int[] slot);
    public static native @Cast("int64_t") long soma_mpi_small_allreduce_bytes();
    public static native @Cast("int64_t") long soma_mpi_small_allreduces();
    public static native int soma_mpi_recursive_doubling_plan(int rank, int size, int[] steps, int maxSteps);
    public static native int soma_mpi_ibcast(@Cast("void*") long buffer, @Cast("int64_t") long bytes, int root,
            int[] slot);
    public static native int soma_mpi_ibarrier(int[] slot);
    public static native int soma_mpi_test(int slot, int[] done);
    public static native int soma_mpi_wait(int slot, double timeoutSeconds);
    public static native int soma_mpi_allreduce_sum_wait(int dtype, @Cast("void*") long buffer,
            @Cast("int64_t") long count, double timeoutSeconds);
    public static native void soma_mpi_pack(int dtype, @Cast("void*") long dst, @Cast("const void*") long src,
            @Cast("int64_t") long n, double scale);
}
