/* The MPI library's own all-reduce, for the reference column of bench/distributed/run.sh: MPI_Allreduce
   (MPI_IN_PLACE, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) and MPI_Iallreduce + MPI_Wait on the same sizes and
   iteration counts as dev.soma.bench.AllreduceBench. Prints "size_bytes blocking_us nonblocking_us" per size
   (the fastest of the iterations, rank 0's times: on a shared machine the minimum is the path's own cost, the
   median mostly the scheduler's). Build: mpicc -O2 -o allreduce_reference allreduce_reference.c */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp(const void* a, const void* b) {
    double x = *(const double*) a, y = *(const double*) b;
    return x < y ? -1 : x > y;
}

static double fastest(double* t, int n) {
    qsort(t, n, sizeof *t, cmp);
    return t[0];
}

int main(int argc, char** argv) {
    MPI_Init(&argc, &argv);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    long sizes[] = {64, 4096, 16384, 65536, 262144, 1 << 20, 4 << 20, 16 << 20, 64 << 20};
    for (int s = 0; s < (int) (sizeof sizes / sizeof sizes[0]); s++) {
        long n = sizes[s] / 4;
        int iters = sizes[s] >= (16 << 20) ? 10 : 50;
        float* buf = malloc(sizes[s]);
        for (long i = 0; i < n; i++) buf[i] = 1.0f;
        double* tb = malloc(iters * sizeof(double));
        double* tn = malloc(iters * sizeof(double));
        for (int w = 0; w < 3; w++) MPI_Allreduce(MPI_IN_PLACE, buf, (int) n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        for (int i = 0; i < iters; i++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            MPI_Allreduce(MPI_IN_PLACE, buf, (int) n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            tb[i] = MPI_Wtime() - t0;
        }
        for (int i = 0; i < iters; i++) {
            MPI_Request r;
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            MPI_Iallreduce(MPI_IN_PLACE, buf, (int) n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &r);
            MPI_Wait(&r, MPI_STATUS_IGNORE);
            tn[i] = MPI_Wtime() - t0;
        }
        if (rank == 0) printf("%ld %.1f %.1f\n", sizes[s], fastest(tb, iters) * 1e6, fastest(tn, iters) * 1e6);
        free(buf);
        free(tb);
        free(tn);
    }
    MPI_Finalize();
    return 0;
}
