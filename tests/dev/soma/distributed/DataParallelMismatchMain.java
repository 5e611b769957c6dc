package dev.soma.distributed;

import dev.soma.errors.DistributedException;
import dev.soma.memory.Scope;
import dev.soma.model.Sequential;
import dev.soma.nn.Dense;
import dev.soma.nn.Flatten;
import dev.soma.optim.SGD;
import dev.soma.tensor.DType;

/**
 * One rank of DataParallelTest's mismatch jobs: rank 1 builds another model than rank 0 ("size": a wider hidden
 * layer; "dtype": the same layers in float64) and every rank must refuse to train, saying how, instead of reducing
 * buffers of other sizes. Prints "ok rank r refused: ..." and ends MPI normally.
 */
public final class DataParallelMismatchMain {
    public static void main(String[] args) {
        String kind = args[0];
        Mpi mpi = Mpi.world();
        int rank = mpi.rank();
        int hidden = kind.equals("size") && rank == 1 ? 17 : 16;
        DType dtype = kind.equals("dtype") && rank == 1 ? DType.F64 : DType.F32;
        try (Scope s = Scope.open();
             Sequential m = new Sequential(new dev.soma.nn.Lambda(x -> x.to(dtype)), new Flatten(),
                     new Dense(hidden, "relu"), new Dense(10, "softmax"))) {
            m.dtype(dtype).seed(100 + rank);
            m.compile(new SGD(0.1, 0.9, false), "sparse_categorical_crossentropy", "accuracy");
            m.fit(EquivalenceCases.data("cnn"), EquivalenceCases.options(EquivalenceCases.BATCH_PER_RANK, true));
            System.out.println("rank " + rank + ": not refused");
            System.exit(1);
        } catch (DistributedException e) {
            System.out.println("ok rank " + rank + " refused: " + e.getMessage());
        }
        mpi.finish();
    }
}
