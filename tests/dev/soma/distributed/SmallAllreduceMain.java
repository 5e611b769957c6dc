package dev.soma.distributed;

import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * One rank of SmallAllreduceTest's jobs (2, 3 and 4 ranks): all-reduces on both sides of the shim's small-path limit
 * (recursive doubling on point-to-point messages below it, MPI_Iallreduce above), in f32 and f64, one at a time and
 * many in flight at once, finished in reverse order. Sums of integers must be exact; sums of random values must carry
 * the same bits on every rank and lie within rounding of the sum in double. Prints "ok ..." lines; throws on failure.
 */
public final class SmallAllreduceMain {
    public static void main(String[] args) {
        Mpi mpi = Mpi.world();
        int rank = mpi.rank(), size = mpi.size();
        long limit = mpi.smallAllreduceBytes();
        if (limit <= 0) throw new AssertionError("the small path is off (limit " + limit + ")");
        if (rank == 0) {
            System.out.println("ok small path up to " + limit + " bytes, " + size + " ranks" + (mpi.describe().contains("progress thread on")
                    ? ", progress thread on" : ""));
        }
        try (Scope s = Scope.open()) {
            for (DType dtype : List.of(DType.F32, DType.F64)) {
                long perElement = dtype == DType.F32 ? 4 : 8;
                long atLimit = limit / perElement;
                // Messages in pieces (up to 8 of 2 KiB under Open MPI, of 8 KiB under MPICH) and whole, the limit
                // itself and one element over it.
                long[] counts = {0, 1, 3, 511, 512, 513, 1024, 1500, 2048, 4095, 4096, 4097, atLimit - 1, atLimit, atLimit + 1,
                        3 * atLimit};
                for (long n : counts) {
                    long before = mpi.smallAllreduces();
                    exactIntegers(mpi, dtype, n);
                    long took = mpi.smallAllreduces() - before;
                    boolean small = n * perElement <= limit;
                    if (took != (small ? 1 : 0)) {
                        throw new AssertionError(dtype + " x " + n + ": took the small path " + took + " times, expected "
                                + (small ? 1 : 0));
                    }
                    sameBitsEverywhere(mpi, dtype, n, n + 17);
                }
            }
            manyInFlight(mpi);
        }
        if (rank == 0) System.out.println("ok sums exact and the same bits on every rank");
        long live = dev.soma.backend.Backends.cpu().pool().stats().allocatedBytes();
        System.out.println("ok rank " + rank + " live bytes " + live);
        mpi.finish();
    }

    /** Element i of rank r holds (r + 1) * (i % 7 + 1): the sum, size (size + 1) / 2 * (i % 7 + 1), is exact. */
    private static void exactIntegers(Mpi mpi, DType dtype, long n) {
        int size = mpi.size();
        try (Scope s = Scope.open()) {
            double[] values = new double[(int) n];
            for (int i = 0; i < n; i++) values[i] = (mpi.rank() + 1) * (i % 7 + 1);
            Tensor t = Tensor.of(values, n).to(dtype);
            mpi.allreduceSum(t);
            double[] got = t.to(DType.F64).toDoubleArray();
            for (int i = 0; i < n; i++) {
                double want = size * (size + 1) / 2.0 * (i % 7 + 1);
                if (got[i] != want) throw new AssertionError(dtype + " x " + n + ": element " + i + " is " + got[i] + ", expected " + want);
            }
        }
    }

    /** Random values seeded per rank: rank 0's result, broadcast, must equal every rank's bit for bit. */
    private static void sameBitsEverywhere(Mpi mpi, DType dtype, long n, long seed) {
        int size = mpi.size();
        try (Scope s = Scope.open()) {
            double[] exact = new double[(int) n];
            double[] mine = null;
            for (int r = 0; r < size; r++) {
                double[] v = randomValues(seed * 1000 + r, n, dtype);
                for (int i = 0; i < n; i++) exact[i] += v[i];
                if (r == mpi.rank()) mine = v;
            }
            Tensor t = Tensor.of(mine, n).to(dtype);
            mpi.allreduceSum(t);
            Tensor rootCopy = Tensor.of(t.to(DType.F64).toDoubleArray(), n).to(dtype);
            mpi.broadcast(rootCopy, 0);
            double[] got = t.to(DType.F64).toDoubleArray(), root = rootCopy.to(DType.F64).toDoubleArray();
            double tolerance = (dtype == DType.F32 ? 1e-6 : 1e-14) * size;
            for (int i = 0; i < n; i++) {
                if (Double.doubleToRawLongBits(got[i]) != Double.doubleToRawLongBits(root[i])) {
                    throw new AssertionError(dtype + " x " + n + ": rank " + mpi.rank() + " element " + i + " is " + got[i]
                            + ", rank 0 has " + root[i]);
                }
                if (Math.abs(got[i] - exact[i]) > tolerance * Math.max(1, Math.abs(exact[i]) + size)) {
                    throw new AssertionError(dtype + " x " + n + ": element " + i + " is " + got[i] + ", the sum is " + exact[i]);
                }
            }
        }
    }

    /** Values exactly representable in {@code dtype}, so every rank can add up the others' in double. */
    private static double[] randomValues(long seed, long n, DType dtype) {
        Random random = new Random(seed);
        double[] v = new double[(int) n];
        for (int i = 0; i < n; i++) v[i] = dtype == DType.F32 ? (double) (float) random.nextGaussian() : random.nextGaussian();
        return v;
    }

    /** 40 all-reduces in flight at once, small and large interleaved, awaited in reverse order of their start. */
    private static void manyInFlight(Mpi mpi) {
        int size = mpi.size();
        long limitElements = mpi.smallAllreduceBytes() / 4;
        try (Scope s = Scope.open()) {
            List<Tensor> tensors = new ArrayList<>();
            List<Mpi.Request> requests = new ArrayList<>();
            for (int k = 0; k < 40; k++) {
                long n = k % 5 == 4 ? limitElements + 100 : 1 + k * 37L % 3000;
                Tensor t = Tensor.full(k + 1.0 + mpi.rank(), DType.F32, Device.cpu(), n);
                tensors.add(t);
                requests.add(mpi.iallreduceSum(DType.F32, t.address(), n, "in flight " + k));
            }
            for (int k = 39; k >= 0; k--) requests.get(k).await();
            for (int k = 0; k < 40; k++) {
                float want = size * (k + 1f) + size * (size - 1) / 2f;
                for (float f : tensors.get(k).toFloatArray()) {
                    if (f != want) throw new AssertionError("in flight " + k + ": " + f + ", expected " + want);
                }
            }
        }
        if (mpi.rank() == 0) System.out.println("ok 40 in flight");
    }
}
