package dev.soma.distributed;

import dev.soma.errors.DistributedException;
import dev.soma.tensor.Tensor;

import java.util.List;
import java.util.Locale;

/**
 * Before data-parallel training starts, every rank must hold the same parameters (count, shapes, dtypes), as
 * PyTorch's DistributedDataParallel checks when it is built. A rank whose model differs would otherwise broadcast and
 * all-reduce buffers of other sizes: an MPI truncation error at best, an NCCL hang or silently wrong sums at worst.
 * Costs one broadcast of four numbers and one all-reduce of one, and every rank fails together, naming how it differs.
 */
public final class ParameterAgreement {
    private ParameterAgreement() {}

    /** {count, values, hash high 32 bits, hash low 32 bits}: exact in doubles. */
    static double[] signature(List<Tensor> params) {
        long hash = 0xcbf29ce484222325L; // FNV-1a over (dtype, rank, dims) of every parameter, in order
        long values = 0;
        for (Tensor p : params) {
            hash = mix(hash, p.dtype().code());
            long[] shape = p.shape();
            hash = mix(hash, shape.length);
            for (long d : shape) hash = mix(hash, d);
            values += p.numel();
        }
        return new double[] {params.size(), values, hash >>> 32, hash & 0xffffffffL};
    }

    private static long mix(long hash, long v) {
        for (int i = 0; i < 8; i++) {
            hash ^= (v >>> (8 * i)) & 0xff;
            hash *= 0x100000001b3L;
        }
        return hash;
    }

    /** Throws on every rank unless all ranks' {@code params} agree with rank 0's; {@code what} names the model. */
    public static void require(Mpi mpi, List<Tensor> params, String what) {
        double[] mine = signature(params);
        double[] first;
        try (Tensor t = Tensor.of(mine).keep()) {
            mpi.broadcast(t, 0);
            first = t.toDoubleArray();
        }
        boolean differs = !java.util.Arrays.equals(mine, first);
        double[] count = {differs ? 1 : 0};
        mpi.allreduceSum(count);
        if (count[0] == 0) return;
        String rule = "; every rank must build the same model (same layers, sizes and dtypes) before training data-parallel";
        if (differs) {
            String how = mine[0] != first[0] || mine[1] != first[1]
                    ? String.format(Locale.ROOT, "%.0f parameter tensors with %.0f values here, %.0f with %.0f on rank 0",
                            mine[0], mine[1], first[0], first[1])
                    : "the same number of parameter tensors and values as rank 0, but other shapes or dtypes";
            throw new DistributedException("rank " + mpi.rank() + " of " + mpi.size() + ": " + what + ": this rank's model "
                    + "differs from rank 0's: " + how + rule);
        }
        throw new DistributedException(String.format(Locale.ROOT, "rank %d of %d: %s: %.0f rank(s) hold a model that "
                + "differs from rank 0's (%.0f parameter tensors with %.0f values)%s", mpi.rank(), mpi.size(), what,
                count[0], first[0], first[1], rule));
    }
}
