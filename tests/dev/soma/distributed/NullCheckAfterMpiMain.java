package dev.soma.distributed;

/**
 * One rank of MpiLibraryChoiceTest's signal job: opens MPI, then makes compiled code meet a null. HotSpot compiles
 * the field read below without an explicit null test (an implicit check: the read of a null faults with SIGSEGV, and
 * the JVM's handler turns that into a NullPointerException). A transport that put its own SIGSEGV handler over the
 * JVM's (UCX, under MPICH) kills the process there instead.
 */
public final class NullCheckAfterMpiMain {
    private static final class Box {
        int value = 1;
    }

    public static void main(String[] args) {
        Mpi mpi = Mpi.world();
        Box box = new Box();
        long sum = 0;
        for (int i = 0; i < 2_000_000; i++) sum += read(box); // long enough for C2 to compile read()
        int caught = 0;
        for (int i = 0; i < 3; i++) {
            try {
                sum += read(null);
            } catch (NullPointerException e) {
                caught++;
            }
        }
        System.out.println("ok rank " + mpi.rank() + " of " + mpi.size() + " caught " + caught + " null pointers, sum " + sum);
        mpi.finish();
    }

    private static int read(Box b) {
        return b.value;
    }
}
