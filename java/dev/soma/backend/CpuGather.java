package dev.soma.backend;

import dev.soma.jni.CpuKernels;
import dev.soma.tensor.Tensor;

/** Row gather and scatter-add through native/src/gather.cpp. */
final class CpuGather implements GatherKernels {
    @Override
    public void gatherRows(Tensor table, Tensor ids, long n, long cols, Tensor out) {
        CpuKernels.soma_cpu_gather_rows(table.dtype().code(), n, cols, table.address(), ids.address(), out.address());
    }

    @Override
    public void scatterAddRows(Tensor ids, Tensor gradOut, long n, long cols, Tensor gradTable) {
        CpuKernels.soma_cpu_scatter_add_rows(gradTable.dtype().code(), n, cols, ids.address(), gradOut.address(),
                gradTable.size(0), gradTable.address());
    }
}
