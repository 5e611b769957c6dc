package dev.soma.backend;

import dev.soma.tensor.Tensor;

/** Row gather (embedding lookup) and its scatter-add gradient; contiguous tensors, ids int32 in range. */
public interface GatherKernels {
    /** {@code out[i, :] = table[ids[i], :]} for {@code n} ids of a {@code [rows, cols]} table. */
    void gatherRows(Tensor table, Tensor ids, long n, long cols, Tensor out);

    /** {@code gradTable = 0; gradTable[ids[i], :] += gradOut[i, :]}. */
    void scatterAddRows(Tensor ids, Tensor gradOut, long n, long cols, Tensor gradTable);
}
