package dev.soma.distributed;

import dev.soma.memory.Scope;
import dev.soma.model.Sequential;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * One rank of DataParallelTest's 2-rank job (started by mpirun): checks the collectives against values every rank
 * can compute, then trains each equivalence case data-parallel and writes its weights to {@code <out>/<case>-rank<r>.bin}.
 * Each rank initialises its model with a different seed, so equal weights prove rank 0's broadcast. Prints one
 * "ok ..." line per check; any failure throws (non-zero exit). With a second argument, a model name: only that
 * model in f64, its weights written the same way and its gradient buckets' statistics printed (the overlap-mode job).
 */
public final class DataParallelMain {
    public static void main(String[] args) throws Exception {
        Path out = Path.of(args[0]);
        Mpi mpi = Mpi.world();
        int rank = mpi.rank(), size = mpi.size();
        if (args.length > 1) {
            try (Scope s = Scope.open(); Sequential m = EquivalenceCases.model(args[1], DType.F64, 100 + rank)) {
                m.fit(EquivalenceCases.data(args[1]), EquivalenceCases.options(EquivalenceCases.BATCH_PER_RANK, true));
                EquivalenceCases.writeWeights(m, out.resolve(args[1] + "-" + DType.F64 + "-rank" + rank + ".bin"));
                System.out.println("stats rank " + rank + ": " + m.lastDataParallelStatistics());
                if (args[1].equals("branch")) {
                    System.out.println("branch rank " + rank + ": " + EquivalenceCases.branchLayer(m).history());
                }
            }
            mpi.finish();
            return;
        }
        if (rank == 0) System.out.println("ok world " + size + " " + mpi.describe());
        collectives(mpi);
        for (String name : EquivalenceCases.MODELS) {
            for (DType dtype : List.of(DType.F64, DType.F32)) {
                try (Scope s = Scope.open(); Sequential m = EquivalenceCases.model(name, dtype, 100 + rank)) {
                    m.fit(EquivalenceCases.data(name), EquivalenceCases.options(EquivalenceCases.BATCH_PER_RANK, true));
                    EquivalenceCases.writeWeights(m, out.resolve(name + "-" + dtype + "-rank" + rank + ".bin"));
                    Files.writeString(out.resolve(name + "-" + dtype + "-history-rank" + rank + ".txt"),
                            m.history().get("loss") + " " + m.history().get("accuracy"));
                }
            }
        }
        if (rank == 0) System.out.println("ok trained " + EquivalenceCases.MODELS);
        long live = dev.soma.backend.Backends.cpu().pool().stats().allocatedBytes();
        System.out.println("ok rank " + rank + " live bytes " + live);
        mpi.finish();
    }

    /** Runs {@code call} and requires it to throw {@code type} with {@code mention} in its message. */
    static void refuses(Class<? extends Exception> type, Runnable call, String mention) {
        try {
            call.run();
        } catch (Exception e) {
            if (!type.isInstance(e) || !e.getMessage().contains(mention)) {
                throw new AssertionError("expected " + type.getSimpleName() + " mentioning '" + mention + "', got " + e, e);
            }
            return;
        }
        throw new AssertionError("expected " + type.getSimpleName() + " mentioning '" + mention + "'");
    }

    private static void collectives(Mpi mpi) {
        int rank = mpi.rank(), size = mpi.size();
        try (Scope s = Scope.open()) {
            allreduceAndBroadcast(mpi, Device.cpu());
            // several non-blocking all-reduces in flight at once, finished out of order
            List<Tensor> ts = new ArrayList<>();
            List<Mpi.Request> rs = new ArrayList<>();
            for (int k = 0; k < 4; k++) {
                Tensor t = Tensor.full(rank + k, DType.F32, Device.cpu(), 4096);
                ts.add(t);
                rs.add(mpi.iallreduceSum(DType.F32, t.address(), t.numel(), "check " + k));
            }
            for (int k = 3; k >= 0; k--) rs.get(k).await();
            for (int k = 0; k < 4; k++) {
                double want = (double) size * (size - 1) / 2 + (double) k * size;
                for (float f : ts.get(k).toFloatArray()) if (f != want) throw new AssertionError("iallreduce " + k + ": " + f);
            }
            mpi.barrier();
            double[] logs = {rank, 2.5};
            mpi.allreduceSum(logs);
            if (logs[0] != size * (size - 1) / 2.0 || logs[1] != 2.5 * size) throw new AssertionError("double[] all-reduce");
        }
        // Bad input is refused in Java, naming the call, before anything reaches MPI.
        try (Scope s = Scope.open()) {
            refuses(IllegalArgumentException.class, () -> mpi.allreduceSum(Tensor.ofInts(new int[] {1, 2}, 2)), "int32");
            refuses(IllegalArgumentException.class, () -> mpi.broadcast(Tensor.zeros(2), size), "root");
            refuses(IllegalArgumentException.class, () -> mpi.allreduceSum(Tensor.zeros(3, 4).transpose(0, 1)), "contiguous");
            refuses(IllegalArgumentException.class, () -> mpi.iallreduceSum(DType.F32, 0, 4, "null buffer"), "null");
        }
        if (rank == 0) System.out.println("ok collectives");
    }

    /**
     * All-reduce in f64 and f32 (element i of rank r holds (r + 1) * (i + 1), so the sum is (i + 1) * size(size+1)/2)
     * and a broadcast from the last rank, of tensors on {@code device}; the results stay there.
     */
    static void allreduceAndBroadcast(Mpi mpi, Device device) {
        int rank = mpi.rank(), size = mpi.size();
        for (DType dt : List.of(DType.F64, DType.F32)) {
            int n = 1000;
            double[] v = new double[n];
            for (int i = 0; i < n; i++) v[i] = (rank + 1.0) * (i + 1);
            Tensor t = Tensor.of(v, n).to(dt).to(device);
            mpi.allreduceSum(t);
            if (!t.device().equals(device)) throw new AssertionError("the all-reduce moved the tensor off " + device);
            double[] got = t.to(DType.F64).toDoubleArray();
            for (int i = 0; i < n; i++) {
                double want = (i + 1.0) * size * (size + 1) / 2;
                if (got[i] != want) {
                    throw new AssertionError(dt + " all-reduce on " + device + ": element " + i + " " + got[i] + " != " + want);
                }
            }
        }
        Tensor b = Tensor.full(rank, DType.F64, device, 3, 5);
        mpi.broadcast(b, size - 1);
        for (double d : b.toDoubleArray()) if (d != size - 1) throw new AssertionError("broadcast on " + device + ": " + d);
    }
}
