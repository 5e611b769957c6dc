package dev.soma.backend.cuda;

import dev.soma.backend.CudaProbe;
import dev.soma.backend.LinalgKernels;
import dev.soma.jni.CudaKernels;
import dev.soma.ops.Shapes;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Matrix products on CUDA: cuBLAS where it loads and takes the shape ({@link CublasMatmul}, TF32 switchable
 * and off by default), otherwise our tiled shared-memory GEMM (cuda-kernels/linalg.cu): 64 x 64 output tiles,
 * 16-deep K steps, a 4 x 4 register micro-tile per thread, batched over the broadcast batch dimensions. Our
 * kernel reads the operands through their own strides (transposed views and any broadcast batches need no
 * copy), always computes in the operands' own precision (no TF32), and is the path on the emulated device,
 * with {@code -Dsoma.cuda.vendor=false}, for shapes cuBLAS cannot take in one strided-batched call (see
 * {@link VendorPaths#planGemm}), and when cuBLAS refuses a call.
 */
final class CudaLinalg implements LinalgKernels {
    private static final String OURS = "soma tiled GEMM 64x64";
    private final CudaBackend backend;
    private volatile CublasMatmul cublas;
    /** Shapes cuBLAS refused once (its status text): they stay on our kernel, and describe says so. */
    private final Map<String, String> refused = new ConcurrentHashMap<>();

    CudaLinalg(CudaBackend backend) {
        this.backend = backend;
    }

    /** The operands' strides broadcast to [batch..., M, K] and [batch..., K, N], and the path that takes them. */
    private record Route(long[] aStrides, long[] bStrides, VendorPaths.GemmDecision decision, String shape) {}

    private Route route(Tensor a, Tensor b, Tensor out) {
        long[] c = out.shape();
        int r = c.length;
        long k = a.size(-1);
        long[] aTarget = Arrays.copyOf(c, r);
        aTarget[r - 1] = k;
        long[] bTarget = Arrays.copyOf(c, r);
        bTarget[r - 2] = k;
        long[] as = Shapes.broadcastStrides(a, aTarget), bs = Shapes.broadcastStrides(b, bTarget);
        String refusal = VendorPaths.libraryRefusal("cuBLAS", CudaProbe.result().emulated(),
                VendorPaths.vendorEnabled(), VendorLibraries::cublasProblem);
        String shape = out.dtype() + " " + Arrays.toString(c) + " K=" + k + " a" + Arrays.toString(as) + " b"
                + Arrays.toString(bs);
        if (refusal == null && refused.containsKey(shape)) refusal = "cuBLAS refused it: " + refused.get(shape);
        var decision = refusal != null ? new VendorPaths.GemmDecision(null, refusal)
                : VendorPaths.planGemm(out.dtype(), c, k, as, bs);
        return new Route(as, bs, decision, shape);
    }

    @Override
    public void matmul(Tensor a, Tensor b, Tensor out) {
        if (out.numel() == 0) return;
        long[] c = out.shape();
        int r = c.length;
        long m = c[r - 2], n = c[r - 1], k = a.size(-1);
        Route route = route(a, b, out);
        String shape = route.shape();
        backend.bind();
        if (route.decision().eligible()) {
            boolean tf32 = VendorPaths.tf32Enabled();
            String failure = cublas().run(route.decision().plan(), out.dtype(), tf32, a.address(), b.address(),
                    out.address(), backend.stream());
            if (failure == null) {
                VendorPaths.ran("matmul", shape, CublasMatmul.describe(out.dtype(), tf32));
                CudaStatus.kernel(0, "cublasGemmStridedBatchedEx", () -> "matmul " + shape); // the sync switch
                return;
            }
            refused.put(shape, failure);
            VendorPaths.ran("matmul", shape, OURS + " (cuBLAS refused: " + failure + ")");
        } else {
            VendorPaths.ran("matmul", shape, OURS + " (not cuBLAS: " + route.decision().refusal() + ")");
        }
        long[] batch = Arrays.copyOf(c, r - 2);
        int status = CudaKernels.soma_cuda_matmul(out.dtype().code(), r - 2, batch, m, n, k,
                a.address(), route.aStrides(), b.address(), route.bStrides(), out.address(), backend.stream());
        CudaStatus.kernel(status, "soma_cuda_matmul", () -> "matmul of " + a.describe() + " and " + b.describe()
                + " into " + Arrays.toString(c));
    }

    private CublasMatmul cublas() {
        CublasMatmul c = cublas;
        if (c == null) {
            synchronized (this) {
                if (cublas == null) cublas = new CublasMatmul(backend.device().index());
                c = cublas;
            }
        }
        return c;
    }

    @Override
    public String matmulImplementation(Tensor a, Tensor b, Tensor out) {
        if (out.numel() == 0) return "none (empty product: nothing to multiply)";
        Route route = route(a, b, out);
        if (route.decision().eligible()) return CublasMatmul.describe(out.dtype(), VendorPaths.tf32Enabled());
        String dtype = out.dtype() == DType.F64 ? "f64" : "f32";
        String where = CudaProbe.result().emulated() ? ", emulated on the CPU" : "";
        return OURS + " (" + dtype + where + "; not cuBLAS: " + route.decision().refusal() + ")";
    }
}
