package dev.soma.backend.cuda;

import dev.soma.backend.CudaProbe;
import dev.soma.backend.LinalgKernels;
import dev.soma.jni.CudaKernels;
import dev.soma.ops.Shapes;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

import java.util.Arrays;

/**
 * Matrix products on CUDA through our tiled shared-memory GEMM (cuda-kernels/linalg.cu): 64 x 64 output tiles,
 * 16-deep K steps, a 4 x 4 register micro-tile per thread, batched over the broadcast batch dimensions. The
 * operands are read through their own strides (transposed views and stride-0 broadcast batches need no copy),
 * so every layout the op hands over goes straight to the kernel.
 *
 * <p>This kernel is the path on every CUDA device for now, real or emulated. cuBLAS (with TF32 switchable, off by
 * default, so f32 products keep full f32 precision as on the CPU) is the vendor path still to come; it is not
 * called here. Our kernel always computes in the operands' own precision: no TF32.
 */
final class CudaLinalg implements LinalgKernels {
    private final CudaBackend backend;

    CudaLinalg(CudaBackend backend) {
        this.backend = backend;
    }

    @Override
    public void matmul(Tensor a, Tensor b, Tensor out) {
        if (out.numel() == 0) return;
        long[] c = out.shape();
        int r = c.length;
        long m = c[r - 2], n = c[r - 1], k = a.size(-1);
        long[] batch = Arrays.copyOf(c, r - 2);
        long[] aTarget = Arrays.copyOf(c, r);
        aTarget[r - 1] = k;
        long[] bTarget = Arrays.copyOf(c, r);
        bTarget[r - 2] = k;
        backend.bind();
        int status = CudaKernels.soma_cuda_matmul(out.dtype().code(), r - 2, batch, m, n, k,
                a.address(), Shapes.broadcastStrides(a, aTarget), b.address(), Shapes.broadcastStrides(b, bTarget),
                out.address(), backend.stream());
        CudaStatus.kernel(status, "soma_cuda_matmul", () -> "matmul of " + a.describe() + " and " + b.describe()
                + " into " + Arrays.toString(c));
    }

    @Override
    public String matmulImplementation(Tensor a, Tensor b, Tensor out) {
        if (out.numel() == 0) return "none (empty product: nothing to multiply)";
        String dtype = out.dtype() == DType.F64 ? "f64" : "f32";
        String where = CudaProbe.result().emulated() ? ", emulated on the CPU" : "";
        return "soma tiled GEMM 64x64 (" + dtype + where + ")";
    }
}
