package dev.soma.backend.cuda;

import dev.soma.errors.NativeException;
import dev.soma.tensor.DType;
import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * Matrix products through cuBLAS: one cublasGemmStridedBatchedEx per call, on the plan of
 * {@link VendorPaths#planGemm} (the row-major product as its column-major transpose). One cuBLAS handle per
 * backend and thread (cuBLAS handles are not meant to be shared by threads), bound to the backend's stream
 * before every call. f32 computes in FP32 ({@code CUBLAS_COMPUTE_32F} with the default math mode, so no TF32)
 * unless TF32 is switched on ({@code CUBLAS_COMPUTE_32F_FAST_TF32}); f64 in FP64. Only built after
 * {@link VendorLibraries#cublasProblem} said cuBLAS loaded.
 */
final class CublasMatmul {
    /** One thread's handle with the host scalars alpha = 1 and beta = 0 (beta 0: out is never read). */
    private record Handle(cublasContext context, FloatPointer one32, FloatPointer zero32, DoublePointer one64,
                          DoublePointer zero64) {}

    private final int device;
    /** A handle per thread that multiplies, destroyed after the thread ends. */
    private final PerThreadHandles<Handle> handles;

    CublasMatmul(int device) {
        this.device = device;
        this.handles = new PerThreadHandles<>(this::create, h -> destroy(device, h));
    }

    /**
     * Enqueues {@code out = a @ b} on {@code stream}. Returns null when cuBLAS accepted the call, otherwise its
     * status text (nothing was computed; the caller runs our kernel instead).
     */
    String run(VendorPaths.GemmPlan p, DType dtype, boolean tf32, long a, long b, long out, long stream) {
        VendorLibraries.bind(device);
        Handle h;
        try {
            h = handle();
        } catch (NativeException e) {
            return e.getMessage(); // e.g. no memory for cuBLAS's state: our kernel still runs
        }
        int status = cublas.cublasSetStream_v2(h.context(), VendorLibraries.stream(stream));
        if (status != cublas.CUBLAS_STATUS_SUCCESS) return "cublasSetStream: " + text(status);
        boolean f64 = dtype == DType.F64;
        int type = f64 ? cudart.CUDA_R_64F : cudart.CUDA_R_32F;
        int compute = f64 ? cublas.CUBLAS_COMPUTE_64F
                : tf32 ? cublas.CUBLAS_COMPUTE_32F_FAST_TF32 : cublas.CUBLAS_COMPUTE_32F;
        Pointer one = f64 ? h.one64() : h.one32();
        Pointer zero = f64 ? h.zero64() : h.zero32();
        // cuBLAS's A is our b, its B our a (see GemmPlan).
        status = cublas.cublasGemmStridedBatchedEx(h.context(), op(p.transA()), op(p.transB()), p.m(), p.n(), p.k(),
                one, VendorLibraries.at(b), type, p.lda(), p.strideA(), VendorLibraries.at(a), type, p.ldb(),
                p.strideB(), zero, VendorLibraries.at(out), type, p.ldc(), p.strideC(), p.batch(), compute,
                cublas.CUBLAS_GEMM_DEFAULT);
        return status == cublas.CUBLAS_STATUS_SUCCESS ? null : "cublasGemmStridedBatchedEx: " + text(status);
    }

    private static int op(boolean transposed) {
        return transposed ? cublas.CUBLAS_OP_T : cublas.CUBLAS_OP_N;
    }

    private Handle handle() {
        return handles.get();
    }

    private Handle create() {
        cublasContext context = new cublasContext();
        int status = cublas.cublasCreate_v2(context);
        if (status != cublas.CUBLAS_STATUS_SUCCESS) {
            throw new NativeException("cublasCreate on cuda:" + device + " failed: " + text(status));
        }
        // The default math mode: FP32 products stay FP32 unless the call asks for TF32 itself.
        cublas.cublasSetMathMode(context, cublas.CUBLAS_DEFAULT_MATH);
        return new Handle(context, new FloatPointer(1f), new FloatPointer(0f), new DoublePointer(1d),
                new DoublePointer(0d));
    }

    /** On the cleaner's thread: cublasDestroy waits for the handle's work, then frees its device memory. */
    private static void destroy(int device, Handle h) {
        VendorLibraries.bind(device);
        cublas.cublasDestroy_v2(h.context());
        h.one32().close();
        h.zero32().close();
        h.one64().close();
        h.zero64().close();
    }

    private static String text(int status) {
        return cublas.cublasGetStatusString(status).getString() + " (cuBLAS status " + status + ")";
    }

    /** The describe string of a product cuBLAS runs. */
    static String describe(DType dtype, boolean tf32) {
        String compute = dtype == DType.F64 ? "FP64" : tf32 ? "TF32 tensor cores" : "FP32, TF32 off";
        return "cuBLAS gemmStridedBatchedEx (" + (dtype == DType.F64 ? "f64" : "f32") + ", " + compute + ")";
    }
}
