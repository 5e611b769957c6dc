package dev.soma.fuzz;

import dev.soma.distributed.Mpi;

import java.io.DataOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * One rank of {@link DataParallelFuzzTest}'s job (under mpirun): trains each random case data-parallel and writes
 * {@code <out>/<seed>-rank<r>.bin} (the refusal, the losses and the weights). Each rank seeds its model otherwise:
 * equal weights prove rank 0's broadcast. Arguments: the output folder, the run's seed, the number of cases.
 */
public final class DataParallelFuzzMain {
    public static void main(String[] args) throws Throwable {
        Path out = Path.of(args[0]);
        Mpi mpi = Mpi.world();
        SplittableRandom seeds = new SplittableRandom(Long.parseLong(args[1]));
        for (int i = 0, n = Integer.parseInt(args[2]); i < n; i++) {
            long seed = seeds.nextLong();
            DataParallelCase.Trained t = DataParallelCase.train(seed, 100 + mpi.rank(), mpi.size(), true);
            if (t == null) continue;
            try (DataOutputStream o = new DataOutputStream(Files.newOutputStream(out.resolve(seed + "-rank" + mpi.rank() + ".bin")))) {
                o.writeUTF(t.refusal() == null ? "" : t.refusal());
                o.writeInt(t.losses().size());
                for (double l : t.losses()) o.writeDouble(l);
                o.writeInt(t.weights().size());
                for (double[] w : t.weights()) {
                    o.writeInt(w.length);
                    for (double v : w) o.writeDouble(v);
                }
            }
        }
        mpi.finish();
    }
}
