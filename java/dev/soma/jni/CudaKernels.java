package dev.soma.jni;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * JavaCPP binding of the CUDA half of {@code native/include/soma.h}. It links libsoma_cuda.so, a dispatcher
 * that needs no CUDA: {@code dev.soma.backend.CudaProbe} opens the real (nvcc) or the emulated kernel library
 * behind it ({@link CudaLibraries}); before that every call answers {@code NOT_OPENED}. Device pointers, host
 * pointers, streams and events travel as {@code long} addresses (stream 0 = the legacy default stream).
 * Every status-returning call answers 0 or a cudaError_t number that the caller turns into a SomaException.
 */
@Platform(include = "soma.h", link = "soma_cuda")
public final class CudaKernels {
    private CudaKernels() {}

    public static void load() {
        Loader.load();
    }

    /** soma.h's SOMA_CUDA_NOT_OPENED, SOMA_CUDA_MISSING_ENTRY and SOMA_CUDA_OUT_OF_MEMORY. */
    public static final int NOT_OPENED = -1, MISSING_ENTRY = -2, OUT_OF_MEMORY = 2;
    /** soma.h's SOMA_CUDA_NOT_READY (cudaErrorNotReady): soma_cuda_event_query's answer while work is pending. */
    public static final int NOT_READY = 600;
    /** soma.h's SOMA_CUDA_COPY_* (the cudaMemcpyKind numbers). */
    public static final int HOST_TO_DEVICE = 1, DEVICE_TO_HOST = 2, DEVICE_TO_DEVICE = 3;
    /** What {@link #soma_cuda_built()} answers for an opened library. */
    public static final int REAL = 1, EMULATED = 2;

    public static native int soma_cuda_open(@Cast("const char*") String libraryPath, @Cast("char*") byte[] error,
            int errorLen);
    public static native int soma_cuda_built();
    public static native int soma_cuda_kind();
    public static native @Cast("const char*") String soma_cuda_build_info();
    public static native @Cast("const char*") String soma_cuda_status_string(int status);

    // ---------------- runtime (cuda-kernels/runtime.cu) ----------------
    public static native int soma_cuda_device_count(int[] count);
    public static native int soma_cuda_set_device(int device);
    public static native int soma_cuda_device_info(int device, @Cast("char*") byte[] name, int nameLen,
            @Cast("int64_t*") long[] totalBytes, int[] major, int[] minor, int[] multiprocessors);
    public static native int soma_cuda_versions(int[] runtime, int[] driver);
    public static native int soma_cuda_mem_info(@Cast("int64_t*") long[] freeBytes, @Cast("int64_t*") long[] totalBytes);
    public static native int soma_cuda_malloc(@Cast("int64_t") long bytes, @Cast("void**") long[] out);
    public static native int soma_cuda_free(@Cast("void*") long ptr);
    public static native int soma_cuda_memcpy(@Cast("void*") long dst, @Cast("const void*") long src,
            @Cast("int64_t") long bytes, int kind);
    public static native int soma_cuda_memcpy_async(@Cast("void*") long dst, @Cast("const void*") long src,
            @Cast("int64_t") long bytes, int kind, @Cast("void*") long stream);
    public static native int soma_cuda_memset(@Cast("void*") long dst, int value, @Cast("int64_t") long bytes);
    public static native int soma_cuda_host_alloc(@Cast("int64_t") long bytes, @Cast("void**") long[] out);
    public static native int soma_cuda_host_free(@Cast("void*") long ptr);
    public static native int soma_cuda_stream_create(@Cast("void**") long[] stream);
    public static native int soma_cuda_stream_destroy(@Cast("void*") long stream);
    public static native int soma_cuda_stream_synchronize(@Cast("void*") long stream);
    public static native int soma_cuda_profiler_range(int start);
    public static native int soma_cuda_event_create(@Cast("void**") long[] event);
    public static native int soma_cuda_event_record(@Cast("void*") long event, @Cast("void*") long stream);
    public static native int soma_cuda_event_synchronize(@Cast("void*") long event);
    public static native int soma_cuda_event_query(@Cast("void*") long event);
    public static native int soma_cuda_stream_wait_event(@Cast("void*") long stream, @Cast("void*") long event);
    public static native int soma_cuda_event_elapsed_ms(float[] ms, @Cast("void*") long start, @Cast("void*") long end);
    public static native int soma_cuda_event_destroy(@Cast("void*") long event);
    public static native int soma_cuda_device_synchronize();
    public static native int soma_cuda_last_error();

    // ---------------- NCCL collectives (cuda-kernels/nccl.cu) ----------------
    /** soma.h's SOMA_NCCL_ERROR (the reason in {@link #soma_cuda_nccl_error_text}) and SOMA_NCCL_ID_BYTES. */
    public static final int NCCL_ERROR = -3, NCCL_ID_BYTES = 128;
    public static native int soma_cuda_nccl_open(@Cast("char*") byte[] info, int infoLen);
    public static native int soma_cuda_nccl_error_text(@Cast("char*") byte[] out, int outLen);
    public static native int soma_cuda_nccl_unique_id(@Cast("uint8_t*") byte[] id);
    public static native int soma_cuda_nccl_comm_init(int nranks, @Cast("const uint8_t*") byte[] id, int rank,
            double timeoutSeconds, @Cast("void**") long[] comm);
    public static native int soma_cuda_nccl_all_reduce_sum(@Cast("void*") long comm, @Cast("const void*") long send,
            @Cast("void*") long recv, @Cast("int64_t") long count, int dtype, @Cast("void*") long stream);
    public static native int soma_cuda_nccl_broadcast(@Cast("void*") long comm, @Cast("const void*") long send,
            @Cast("void*") long recv, @Cast("int64_t") long count, int dtype, int root, @Cast("void*") long stream);
    public static native int soma_cuda_nccl_comm_check(@Cast("void*") long comm, int[] failed);
    public static native int soma_cuda_nccl_comm_destroy(@Cast("void*") long comm);
    public static native int soma_cuda_nccl_comm_abort(@Cast("void*") long comm);

    // ---------------- elementwise (cuda-kernels/elementwise.cu) ----------------
    public static native int soma_cuda_binary(int op, int dtype, int ndim, @Cast("const int64_t*") long[] shape,
            @Cast("const void*") long a, @Cast("const int64_t*") long[] aStrides,
            @Cast("const void*") long b, @Cast("const int64_t*") long[] bStrides,
            @Cast("void*") long out, @Cast("void*") long stream);
    public static native int soma_cuda_unary(int op, int dtype, @Cast("int64_t") long n, @Cast("const void*") long x,
            @Cast("void*") long out, double p0, double p1, @Cast("void*") long stream);
    public static native int soma_cuda_unary_backward(int op, int dtype, @Cast("int64_t") long n,
            @Cast("const void*") long x, @Cast("const void*") long y, @Cast("const void*") long gradOut,
            @Cast("void*") long gradIn, double p0, double p1, @Cast("void*") long stream);
    public static native int soma_cuda_bias_activation(int act, int dtype, @Cast("int64_t") long rows,
            @Cast("int64_t") long cols, @Cast("const void*") long y, @Cast("const void*") long bias,
            @Cast("void*") long out, double p0, @Cast("void*") long stream);
    public static native int soma_cuda_bias_activation_backward(int act, int dtype, @Cast("int64_t") long rows,
            @Cast("int64_t") long cols, @Cast("const void*") long y, @Cast("const void*") long bias,
            @Cast("const void*") long out, @Cast("const void*") long gradOut, @Cast("void*") long gradIn, double p0,
            @Cast("void*") long stream);
    public static native int soma_cuda_where(int dtype, int ndim, @Cast("const int64_t*") long[] shape,
            @Cast("const void*") long cond, @Cast("const int64_t*") long[] cStrides,
            @Cast("const void*") long a, @Cast("const int64_t*") long[] aStrides,
            @Cast("const void*") long b, @Cast("const int64_t*") long[] bStrides,
            @Cast("void*") long out, @Cast("void*") long stream);

    // ---------------- memory and copies (cuda-kernels/copy.cu) ----------------
    public static native int soma_cuda_fill(int dtype, @Cast("void*") long dst, @Cast("int64_t") long n, double value,
            @Cast("void*") long stream);
    public static native int soma_cuda_strided_copy(int dtype, int ndim, @Cast("const int64_t*") long[] shape,
            @Cast("const void*") long src, @Cast("const int64_t*") long[] srcStrides,
            @Cast("void*") long dst, @Cast("const int64_t*") long[] dstStrides, @Cast("void*") long stream);
    public static native int soma_cuda_cast(int srcDtype, @Cast("const void*") long src, int dstDtype,
            @Cast("void*") long dst, @Cast("int64_t") long n, @Cast("void*") long stream);
    public static native int soma_cuda_axpy(int dtype, @Cast("int64_t") long n, double alpha,
            @Cast("const void*") long x, @Cast("void*") long y, @Cast("void*") long stream);

    // ---------------- custom-op modules on the emulated device (cuda-kernels/emu/src/modules.cpp) ----------------
    public static native int soma_cuda_emu_runtime_dir(@Cast("char*") byte[] dir, int dirLen);
    public static native int soma_cuda_emu_module_load(@Cast("const char*") String path, @Cast("void**") long[] module,
            @Cast("char*") byte[] error, int errorLen);
    public static native int soma_cuda_emu_module_kernel(@Cast("void*") long module, @Cast("const char*") String name,
            @Cast("void**") long[] kernel, @Cast("char*") byte[] error, int errorLen);
    public static native int soma_cuda_emu_module_launch(@Cast("void*") long kernel, @Cast("const char*") String siteFile,
            int siteLine, @Cast("const int*") int[] gridBlock, @Cast("int64_t") long sharedBytes,
            @Cast("const int64_t*") long[] args, @Cast("const char*") String kinds, @Cast("void*") long stream,
            @Cast("char*") byte[] error, int errorLen);

    // ---------------- matrix products and random fills (cuda-kernels/linalg.cu, random.cu) ----------------
    public static native int soma_cuda_matmul(int dtype, int batchNdim, @Cast("const int64_t*") long[] batchShape,
            @Cast("int64_t") long m, @Cast("int64_t") long n, @Cast("int64_t") long k,
            @Cast("const void*") long a, @Cast("const int64_t*") long[] aStrides,
            @Cast("const void*") long b, @Cast("const int64_t*") long[] bStrides, @Cast("void*") long out,
            @Cast("void*") long stream);
    public static native int soma_cuda_random(int dist, int dtype, @Cast("void*") long dst, @Cast("int64_t") long n,
            @Cast("uint64_t") long seed, @Cast("uint64_t") long stream, double a, double b,
            @Cast("void*") long streamHandle);
    // ---------------- convolution and pooling (cuda-kernels/conv.cu) ----------------
    public static native int soma_cuda_conv2d(int dtype, @Cast("const int64_t*") long[] geom, @Cast("const void*") long x,
            @Cast("const void*") long w, @Cast("const void*") long bias, int relu, @Cast("void*") long out,
            @Cast("void*") long stream);
    public static native int soma_cuda_conv2d_backward_data(int dtype, @Cast("const int64_t*") long[] geom,
            @Cast("const void*") long gradOut, @Cast("const void*") long w, @Cast("void*") long gradX,
            @Cast("void*") long stream);
    public static native int soma_cuda_conv2d_backward_weights_workspace(int dtype, @Cast("const int64_t*") long[] geom,
            @Cast("int64_t*") long[] bytes);
    public static native int soma_cuda_conv2d_backward_weights(int dtype, @Cast("const int64_t*") long[] geom,
            @Cast("const void*") long x, @Cast("const void*") long gradOut, @Cast("void*") long gradW,
            @Cast("void*") long gradBias, @Cast("void*") long workspace, @Cast("int64_t") long workspaceBytes,
            @Cast("void*") long stream);
    public static native int soma_cuda_pool2d_workspace(int isMax, @Cast("const int64_t*") long[] geom,
            @Cast("int64_t*") long[] bytes);
    public static native int soma_cuda_pool2d(int isMax, int dtype, @Cast("const int64_t*") long[] geom,
            @Cast("const void*") long x, @Cast("void*") long out, @Cast("void*") long workspace, @Cast("void*") long stream);
    public static native int soma_cuda_pool2d_backward(int isMax, int dtype, @Cast("const int64_t*") long[] geom,
            @Cast("const void*") long x, @Cast("const void*") long workspace, @Cast("const void*") long gradOut,
            @Cast("void*") long gradX, @Cast("void*") long stream);
    // ---------------- optimizer updates (cuda-kernels/optim.cu) ----------------
    /** soma.h's SOMA_CUDA_SUM_SQUARES_SCRATCH: doubles of device scratch for {@link #soma_cuda_sum_squares}. */
    public static final int SUM_SQUARES_SCRATCH = 321;
    public static native int soma_cuda_sgd(int dtype, int count, @Cast("const int64_t*") long[] params,
            @Cast("const int64_t*") long[] grads, @Cast("const int64_t*") long[] velocity,
            @Cast("const int64_t*") long[] sizes, double lr, double momentum, int nesterov, double weightDecay,
            double gradScale, double clipValue, @Cast("void*") long stream);
    public static native int soma_cuda_adam(int dtype, int count, @Cast("const int64_t*") long[] params,
            @Cast("const int64_t*") long[] grads, @Cast("const int64_t*") long[] m, @Cast("const int64_t*") long[] v,
            @Cast("const int64_t*") long[] sizes, double lr, double beta1, double beta2, double eps,
            double weightDecay, int decoupled, @Cast("int64_t") long step, double gradScale, double clipValue,
            @Cast("void*") long stream);
    public static native int soma_cuda_rmsprop(int dtype, int count, @Cast("const int64_t*") long[] params,
            @Cast("const int64_t*") long[] grads, @Cast("const int64_t*") long[] avg,
            @Cast("const int64_t*") long[] mom, @Cast("const int64_t*") long[] sizes, double lr, double rho,
            double momentum, double eps, double gradScale, double clipValue, @Cast("void*") long stream);
    public static native int soma_cuda_sum_squares(int dtype, int count, @Cast("const int64_t*") long[] tensors,
            @Cast("const int64_t*") long[] sizes, @Cast("void*") long scratch, @Cast("void*") long stream);

    // ---------------- layer normalisation (cuda-kernels/layernorm.cu) ----------------
    public static native int soma_cuda_layer_norm(int dtype, @Cast("int64_t") long rows, @Cast("int64_t") long cols,
            @Cast("const void*") long x, @Cast("const void*") long gamma, @Cast("const void*") long beta, double eps,
            @Cast("void*") long y, @Cast("void*") long mean, @Cast("void*") long rstd, @Cast("void*") long stream);
    public static native int soma_cuda_layer_norm_backward_workspace(@Cast("int64_t") long rows,
            @Cast("int64_t") long cols, @Cast("int64_t*") long[] bytes);
    public static native int soma_cuda_layer_norm_backward(int dtype, @Cast("int64_t") long rows,
            @Cast("int64_t") long cols, @Cast("const void*") long x, @Cast("const void*") long gamma,
            @Cast("const void*") long mean, @Cast("const void*") long rstd, @Cast("const void*") long gradY,
            @Cast("void*") long gradX, @Cast("void*") long gradGamma, @Cast("void*") long gradBeta,
            @Cast("void*") long workspace, @Cast("void*") long stream);

    // ---------------- batch normalisation (cuda-kernels/batchnorm.cu) ----------------
    public static native int soma_cuda_batch_norm_workspace(@Cast("int64_t") long rows, @Cast("int64_t") long cols,
            @Cast("int64_t*") long[] bytes);
    public static native int soma_cuda_batch_norm(int dtype, @Cast("int64_t") long rows, @Cast("int64_t") long cols,
            @Cast("const void*") long x, @Cast("const void*") long gamma, @Cast("const void*") long beta, double eps,
            @Cast("void*") long y, @Cast("void*") long mean, @Cast("void*") long var, @Cast("void*") long rstd,
            @Cast("void*") long workspace, @Cast("void*") long stream);
    public static native int soma_cuda_batch_norm_backward(int dtype, @Cast("int64_t") long rows,
            @Cast("int64_t") long cols, @Cast("const void*") long x, @Cast("const void*") long gamma,
            @Cast("const void*") long mean, @Cast("const void*") long rstd, @Cast("const void*") long gradY,
            @Cast("void*") long gradX, @Cast("void*") long gradGamma, @Cast("void*") long gradBeta,
            @Cast("void*") long workspace, @Cast("void*") long stream);

    // ---------------- fused attention (cuda-kernels/attention.cu) ----------------
    public static native int soma_cuda_attention_forward(int dtype, @Cast("int64_t") long batch, @Cast("int64_t") long heads,
            @Cast("int64_t") long tq, @Cast("int64_t") long tk, @Cast("int64_t") long d, @Cast("int64_t") long dv,
            @Cast("const void*") long q, @Cast("const int64_t*") long[] qStrides, @Cast("const void*") long k,
            @Cast("const int64_t*") long[] kStrides, @Cast("const void*") long v, @Cast("const int64_t*") long[] vStrides,
            double scale, int causal, @Cast("const int32_t*") long keyLengths, @Cast("const int32_t*") long mask,
            @Cast("int64_t") long maskBatchStride, @Cast("int64_t") long maskQueryStride, double dropout,
            @Cast("uint64_t") long seed, @Cast("uint64_t") long stream, @Cast("void*") long out,
            @Cast("const int64_t*") long[] outStrides, @Cast("void*") long lse, @Cast("void*") long weights,
            @Cast("void*") long cudaStream);
    public static native int soma_cuda_attention_backward(int dtype, @Cast("int64_t") long batch, @Cast("int64_t") long heads,
            @Cast("int64_t") long tq, @Cast("int64_t") long tk, @Cast("int64_t") long d, @Cast("int64_t") long dv,
            @Cast("const void*") long q, @Cast("const int64_t*") long[] qStrides, @Cast("const void*") long k,
            @Cast("const int64_t*") long[] kStrides, @Cast("const void*") long v, @Cast("const int64_t*") long[] vStrides,
            double scale, int causal, @Cast("const int32_t*") long keyLengths, @Cast("const int32_t*") long mask,
            @Cast("int64_t") long maskBatchStride, @Cast("int64_t") long maskQueryStride, double dropout,
            @Cast("uint64_t") long seed, @Cast("uint64_t") long stream, @Cast("const void*") long out,
            @Cast("const int64_t*") long[] outStrides, @Cast("const void*") long lse, @Cast("const void*") long gradOut,
            @Cast("const int64_t*") long[] gradOutStrides, @Cast("void*") long gradQ, @Cast("const int64_t*") long[] gradQStrides,
            @Cast("void*") long gradK, @Cast("const int64_t*") long[] gradKStrides, @Cast("void*") long gradV,
            @Cast("const int64_t*") long[] gradVStrides, @Cast("void*") long delta, @Cast("void*") long cudaStream);

    // ---------------- embeddings (cuda-kernels/rnn.cu) ----------------
    public static native int soma_cuda_embedding_forward(int dtype, @Cast("int64_t") long n, @Cast("int64_t") long dim,
            @Cast("const int32_t*") long ids, @Cast("const void*") long table, @Cast("void*") long out,
            @Cast("void*") long stream);
    public static native int soma_cuda_embedding_backward(int dtype, @Cast("int64_t") long n, @Cast("int64_t") long dim,
            @Cast("int64_t") long vocab, @Cast("const int32_t*") long ids, @Cast("const void*") long gradOut,
            @Cast("void*") long gradTable, @Cast("void*") long stream);
    public static native int soma_cuda_rnn_step(int dtype, int backward, @Cast("const int64_t*") long[] args,
            @Cast("void*") long stream);
    public static native int soma_cuda_rnn_gemm(int dtype, @Cast("int64_t") long m, @Cast("int64_t") long n,
            @Cast("int64_t") long k, @Cast("const void*") long a, @Cast("const int64_t*") long[] aStrides,
            @Cast("const void*") long b, @Cast("const int64_t*") long[] bStrides, @Cast("void*") long c,
            @Cast("int64_t") long ldc, @Cast("void*") long stream);
    public static native int soma_cuda_column_sums(int dtype, @Cast("int64_t") long rows, @Cast("int64_t") long cols,
            @Cast("const void*") long in, @Cast("void*") long out, @Cast("void*") long stream);

    // ---------------- reductions, softmax and losses (cuda-kernels/reduce.cu, loss.cu) ----------------
    public static final int WORKSPACE_REDUCE_ROWS = 0;
    public static final int WORKSPACE_REDUCE_LEADING = 1;
    public static final int WORKSPACE_LOSS_ELEMENTS = 2;
    public static final int WORKSPACE_LOSS_ROWS = 3;
    public static native int soma_cuda_reduce_workspace(int kind, @Cast("int64_t") long rows, @Cast("int64_t") long cols,
            @Cast("int64_t*") long[] bytes);
    public static native int soma_cuda_reduce_rows(int op, int dtype, @Cast("int64_t") long rows,
            @Cast("int64_t") long cols, @Cast("const void*") long in, @Cast("void*") long out,
            @Cast("void*") long workspace, @Cast("void*") long stream);
    public static native int soma_cuda_reduce_leading(int op, int dtype, @Cast("int64_t") long outer,
            @Cast("int64_t") long inner, @Cast("const void*") long in, @Cast("void*") long out,
            @Cast("void*") long workspace, @Cast("void*") long stream);
    public static native int soma_cuda_reduce_middle(int op, int dtype, @Cast("int64_t") long batches,
            @Cast("int64_t") long outer, @Cast("int64_t") long inner, @Cast("const void*") long in,
            @Cast("void*") long out, @Cast("void*") long stream);
    public static native int soma_cuda_reduce_middle_backward(int op, int dtype, @Cast("int64_t") long batches,
            @Cast("int64_t") long outer, @Cast("int64_t") long inner, @Cast("const void*") long gradOut,
            @Cast("void*") long gradIn, @Cast("void*") long stream);
    public static native int soma_cuda_reduce_rows_backward(int op, int dtype, @Cast("int64_t") long rows,
            @Cast("int64_t") long cols, @Cast("const void*") long in, @Cast("const void*") long gradOut,
            @Cast("void*") long gradIn, @Cast("void*") long stream);
    public static native int soma_cuda_arg_reduce_rows(int op, int dtype, @Cast("int64_t") long rows,
            @Cast("int64_t") long cols, @Cast("const void*") long in, @Cast("int32_t*") long out,
            @Cast("void*") long stream);
    public static native int soma_cuda_softmax_rows(int log, int dtype, @Cast("int64_t") long rows,
            @Cast("int64_t") long cols, @Cast("const void*") long in, @Cast("void*") long out,
            @Cast("void*") long stream);
    public static native int soma_cuda_softmax_rows_backward(int log, int dtype, @Cast("int64_t") long rows,
            @Cast("int64_t") long cols, @Cast("const void*") long y, @Cast("const void*") long gradOut,
            @Cast("void*") long gradIn, @Cast("void*") long stream);
    public static native int soma_cuda_mse(int dtype, @Cast("int64_t") long n, @Cast("const void*") long pred,
            @Cast("const void*") long target, @Cast("void*") long out, @Cast("void*") long workspace,
            @Cast("void*") long stream);
    public static native int soma_cuda_mse_backward(int dtype, @Cast("int64_t") long n, @Cast("const void*") long pred,
            @Cast("const void*") long target, @Cast("const void*") long gradOut, @Cast("void*") long gradPred,
            @Cast("void*") long stream);
    public static native int soma_cuda_bce(int fromLogits, int dtype, @Cast("int64_t") long n,
            @Cast("const void*") long x, @Cast("const void*") long z, @Cast("void*") long out,
            @Cast("void*") long workspace, @Cast("void*") long stream);
    public static native int soma_cuda_bce_backward(int fromLogits, int dtype, @Cast("int64_t") long n,
            @Cast("const void*") long x, @Cast("const void*") long z, @Cast("const void*") long gradOut,
            @Cast("void*") long gradX, @Cast("void*") long stream);
    public static native int soma_cuda_softmax_cross_entropy(int dtype, @Cast("int64_t") long rows,
            @Cast("int64_t") long cols, @Cast("const void*") long logits, @Cast("const void*") long targets,
            @Cast("void*") long out, @Cast("void*") long probs, @Cast("void*") long workspace,
            @Cast("void*") long stream);
    public static native int soma_cuda_softmax_cross_entropy_backward(int dtype, @Cast("int64_t") long rows,
            @Cast("int64_t") long cols, @Cast("const void*") long probs, @Cast("const void*") long targets,
            @Cast("const void*") long gradOut, @Cast("void*") long gradLogits, @Cast("void*") long stream);
    public static native int soma_cuda_sparse_softmax_cross_entropy(int dtype, @Cast("int64_t") long rows,
            @Cast("int64_t") long cols, @Cast("const void*") long logits, @Cast("const int32_t*") long labels,
            @Cast("void*") long out, @Cast("void*") long probs, @Cast("void*") long workspace,
            @Cast("void*") long stream);
    public static native int soma_cuda_sparse_softmax_cross_entropy_backward(int dtype, @Cast("int64_t") long rows,
            @Cast("int64_t") long cols, @Cast("const void*") long probs, @Cast("const int32_t*") long labels,
            @Cast("const void*") long gradOut, @Cast("void*") long gradLogits, @Cast("void*") long stream);
}
