package dev.soma.jni;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.CriticalRegion;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * JavaCPP binding of the CPU half of {@code native/include/soma.h}. Raw addresses travel as {@code long};
 * Java arrays travel pinned for the length of one call. Nothing here validates: callers in
 * {@code dev.soma.backend} do, before every call. Use {@link NativeLibraries#cpu()} to load.
 */
@Platform(include = "soma.h", link = "soma_cpu")
public final class CpuKernels {
    private CpuKernels() {}

    static void load() {
        Loader.load();
    }

    // ---------------- memory and copies (native/src/memory.cpp) ----------------
    // The array copies run in a JNI critical region (GetPrimitiveArrayCritical): the array itself, not a copy of
    // it. Without it JavaCPP's Get<Type>ArrayElements hands HotSpot's malloc'd copy over (copied in, and for the
    // copyTo* out again), which made an 819 KB batch upload cost 0.7 ms on the CPU and 0.34 ms per write on an
    // H200 host. soma_cpu_copy only copies (no JNI calls, no blocking), as a critical region requires.
    public static native @Cast("void*") long soma_cpu_alloc(@Cast("size_t") long bytes, @Cast("size_t") long alignment);
    public static native void soma_cpu_free(@Cast("void*") long p);
    public static native void soma_cpu_copy(@Cast("void*") long dst, @Cast("const void*") long src, @Cast("size_t") long bytes);
    @org.bytedeco.javacpp.annotation.Name("soma_cpu_copy") @CriticalRegion
    public static native void copyFromFloats(@Cast("void*") long dst, @Cast("const void*") float[] src, @Cast("size_t") long bytes);
    @org.bytedeco.javacpp.annotation.Name("soma_cpu_copy") @CriticalRegion
    public static native void copyFromDoubles(@Cast("void*") long dst, @Cast("const void*") double[] src, @Cast("size_t") long bytes);
    @org.bytedeco.javacpp.annotation.Name("soma_cpu_copy") @CriticalRegion
    public static native void copyFromInts(@Cast("void*") long dst, @Cast("const void*") int[] src, @Cast("size_t") long bytes);
    @org.bytedeco.javacpp.annotation.Name("soma_cpu_copy") @CriticalRegion
    public static native void copyToFloats(@Cast("void*") float[] dst, @Cast("const void*") long src, @Cast("size_t") long bytes);
    @org.bytedeco.javacpp.annotation.Name("soma_cpu_copy") @CriticalRegion
    public static native void copyToDoubles(@Cast("void*") double[] dst, @Cast("const void*") long src, @Cast("size_t") long bytes);
    @org.bytedeco.javacpp.annotation.Name("soma_cpu_copy") @CriticalRegion
    public static native void copyToInts(@Cast("void*") int[] dst, @Cast("const void*") long src, @Cast("size_t") long bytes);
    public static native void soma_cpu_fill(int dtype, @Cast("void*") long dst, @Cast("int64_t") long n, double value);
    public static native void soma_cpu_strided_copy(int dtype, int ndim, @Cast("const int64_t*") long[] shape,
            @Cast("const void*") long src, @Cast("const int64_t*") long[] srcStrides,
            @Cast("void*") long dst, @Cast("const int64_t*") long[] dstStrides);
    public static native void soma_cpu_cast(int srcDtype, @Cast("const void*") long src, int dstDtype,
            @Cast("void*") long dst, @Cast("int64_t") long n);
    public static native void soma_cpu_f32_to_bf16(@Cast("const void*") long src, @Cast("void*") long dst,
            @Cast("int64_t") long n);
    public static native int soma_cpu_f32_to_bf16_vector();
    public static native void soma_cpu_f32_to_bf16_plain(@Cast("const void*") long src, @Cast("void*") long dst,
            @Cast("int64_t") long n);
    public static native void soma_cpu_axpy(int dtype, @Cast("int64_t") long n, double alpha,
            @Cast("const void*") long x, @Cast("void*") long y);
    public static native int soma_cpu_threads();
    public static native void soma_cpu_set_threads(int n);
    public static native void soma_cpu_dnnl_execute_pair(@Cast("const void*") long execute, @Cast("const void*") long wait,
            @Cast("const void*") long primitive0, @Cast("const void*") long stream0, int nargs0,
            @Cast("const void*") long args0, @Cast("const void*") long primitive1, @Cast("const void*") long stream1,
            int nargs1, @Cast("const void*") long args1, @Cast("int32_t*") long status);
    public static native int soma_cpu_omp_short_waits(int on);
    public static native int soma_cpu_omp_short_waits_on();
    public static native double soma_cpu_omp_idle_spin_ns(int rounds, int gapMicros);
    public static native int soma_cpu_split_invariant_one_thread(int on);
    public static native int soma_cpu_split_invariant_threads(long n);

    // ---------------- random numbers (native/src/random.cpp) ----------------
    public static native void soma_cpu_philox4x32_10(@Cast("const uint32_t*") int[] counter,
            @Cast("const uint32_t*") int[] key, @Cast("uint32_t*") int[] out);
    public static native void soma_cpu_random(int dist, int dtype, @Cast("void*") long dst, @Cast("int64_t") long n,
            @Cast("uint64_t") long seed, @Cast("uint64_t") long stream, double a, double b);

    // ---------------- elementwise (native/src/elementwise.cpp) ----------------
    public static native void soma_cpu_binary(int op, int dtype, int ndim, @Cast("const int64_t*") long[] shape,
            @Cast("const void*") long a, @Cast("const int64_t*") long[] aStrides,
            @Cast("const void*") long b, @Cast("const int64_t*") long[] bStrides, @Cast("void*") long out);
    public static native void soma_cpu_unary(int op, int dtype, @Cast("int64_t") long n, @Cast("const void*") long x,
            @Cast("void*") long out, double p0, double p1);
    public static native void soma_cpu_unary_backward(int op, int dtype, @Cast("int64_t") long n,
            @Cast("const void*") long x, @Cast("const void*") long y, @Cast("const void*") long gradOut,
            @Cast("void*") long gradIn, double p0, double p1);
    public static native void soma_cpu_bias_activation(int act, int dtype, @Cast("int64_t") long rows,
            @Cast("int64_t") long cols, @Cast("const void*") long y, @Cast("const void*") long bias,
            @Cast("void*") long out, double p0);
    public static native void soma_cpu_bias_activation_backward(int act, int dtype, @Cast("int64_t") long rows,
            @Cast("int64_t") long cols, @Cast("const void*") long y, @Cast("const void*") long bias,
            @Cast("const void*") long out, @Cast("const void*") long gradOut, @Cast("void*") long gradIn, double p0);
    public static native void soma_cpu_where(int dtype, int ndim, @Cast("const int64_t*") long[] shape,
            @Cast("const void*") long cond, @Cast("const int64_t*") long[] condStrides,
            @Cast("const void*") long a, @Cast("const int64_t*") long[] aStrides,
            @Cast("const void*") long b, @Cast("const int64_t*") long[] bStrides, @Cast("void*") long out);

    // ---------------- reductions and softmax (native/src/reduce.cpp) ----------------
    public static native void soma_cpu_reduce_rows(int op, int dtype, @Cast("int64_t") long rows, @Cast("int64_t") long cols,
            @Cast("const void*") long in, @Cast("void*") long out);
    public static native void soma_cpu_reduce_leading(int op, int dtype, @Cast("int64_t") long outer,
            @Cast("int64_t") long inner, @Cast("const void*") long in, @Cast("void*") long out);
    public static native void soma_cpu_reduce_middle(int op, int dtype, @Cast("int64_t") long batches,
            @Cast("int64_t") long outer, @Cast("int64_t") long inner, @Cast("const void*") long in,
            @Cast("void*") long out);
    public static native void soma_cpu_reduce_middle_backward(int op, int dtype, @Cast("int64_t") long batches,
            @Cast("int64_t") long outer, @Cast("int64_t") long inner, @Cast("const void*") long gradOut,
            @Cast("void*") long gradIn);
    public static native void soma_cpu_reduce_rows_backward(int op, int dtype, @Cast("int64_t") long rows,
            @Cast("int64_t") long cols, @Cast("const void*") long in, @Cast("const void*") long gradOut,
            @Cast("void*") long gradIn);
    public static native void soma_cpu_arg_reduce_rows(int op, int dtype, @Cast("int64_t") long rows,
            @Cast("int64_t") long cols, @Cast("const void*") long in, @Cast("int32_t*") long out);
    public static native void soma_cpu_softmax_rows(int log, int dtype, @Cast("int64_t") long rows,
            @Cast("int64_t") long cols, @Cast("const void*") long in, @Cast("void*") long out);
    public static native void soma_cpu_softmax_rows_backward(int log, int dtype, @Cast("int64_t") long rows,
            @Cast("int64_t") long cols, @Cast("const void*") long y, @Cast("const void*") long gradOut,
            @Cast("void*") long gradIn);

    // ---------------- losses (native/src/loss.cpp) ----------------
    public static native void soma_cpu_mse(int dtype, @Cast("int64_t") long n, @Cast("const void*") long pred,
            @Cast("const void*") long target, @Cast("void*") long out);
    public static native void soma_cpu_mse_backward(int dtype, @Cast("int64_t") long n, @Cast("const void*") long pred,
            @Cast("const void*") long target, @Cast("const void*") long gradOut, @Cast("void*") long gradPred);
    public static native void soma_cpu_bce(int fromLogits, int dtype, @Cast("int64_t") long n,
            @Cast("const void*") long x, @Cast("const void*") long z, @Cast("void*") long out);
    public static native void soma_cpu_bce_backward(int fromLogits, int dtype, @Cast("int64_t") long n,
            @Cast("const void*") long x, @Cast("const void*") long z, @Cast("const void*") long gradOut,
            @Cast("void*") long gradX);
    public static native void soma_cpu_softmax_cross_entropy(int dtype, @Cast("int64_t") long rows,
            @Cast("int64_t") long cols, @Cast("const void*") long logits, @Cast("const void*") long targets,
            @Cast("void*") long out, @Cast("void*") long probs);
    public static native void soma_cpu_softmax_cross_entropy_backward(int dtype, @Cast("int64_t") long rows,
            @Cast("int64_t") long cols, @Cast("const void*") long probs, @Cast("const void*") long targets,
            @Cast("const void*") long gradOut, @Cast("void*") long gradLogits);
    public static native void soma_cpu_sparse_softmax_cross_entropy(int dtype, @Cast("int64_t") long rows,
            @Cast("int64_t") long cols, @Cast("const void*") long logits, @Cast("const int32_t*") long labels,
            @Cast("void*") long out, @Cast("void*") long probs);
    public static native void soma_cpu_sparse_softmax_cross_entropy_backward(int dtype, @Cast("int64_t") long rows,
            @Cast("int64_t") long cols, @Cast("const void*") long probs, @Cast("const int32_t*") long labels,
            @Cast("const void*") long gradOut, @Cast("void*") long gradLogits);

    // ---------------- linear algebra helpers (native/src/linalg.cpp) ----------------
    public static native void soma_cpu_matmul(int dtype, int batchNdim, @Cast("const int64_t*") long[] batchShape,
            @Cast("int64_t") long m, @Cast("int64_t") long n, @Cast("int64_t") long k,
            @Cast("const void*") long a, @Cast("const int64_t*") long[] aStrides,
            @Cast("const void*") long b, @Cast("const int64_t*") long[] bStrides, @Cast("void*") long out);


    // ---------------- embeddings and recurrent cells (native/src/rnn.cpp) ----------------
    public static native void soma_cpu_embedding_forward(int dtype, @Cast("int64_t") long n, @Cast("int64_t") long dim,
            @Cast("const int32_t*") long ids, @Cast("const void*") long table, @Cast("void*") long out);
    public static native void soma_cpu_embedding_backward(int dtype, @Cast("int64_t") long n, @Cast("int64_t") long dim,
            @Cast("int64_t") long vocab, @Cast("const int32_t*") long ids, @Cast("const void*") long gradOut,
            @Cast("void*") long gradTable);
    public static native void soma_cpu_rnn_step_forward(int dtype, @Cast("const int64_t*") long[] args);
    public static native void soma_cpu_rnn_step_backward(int dtype, @Cast("const int64_t*") long[] args);
    public static native long soma_cpu_rnn_sequence_workspace_bytes(int cell, @Cast("int64_t") long n,
            @Cast("int64_t") long hidden);
    public static native void soma_cpu_rnn_sequence_forward(@Cast("const int64_t*") long[] stepArgs,
            @Cast("const int64_t*") long[] seqArgs);
    public static native void soma_cpu_rnn_sequence_backward(@Cast("const int64_t*") long[] stepArgs,
            @Cast("const int64_t*") long[] seqArgs);
    public static native int soma_cpu_get_max_threads();
    public static native void soma_cpu_set_max_threads(int threads);
    public static native void soma_cpu_column_sums(int dtype, @Cast("int64_t") long rows, @Cast("int64_t") long cols,
            @Cast("const void*") long in, @Cast("void*") long out);

    // ---------------- optimizers (native/src/optim.cpp) ----------------
    public static native void soma_cpu_sgd(int dtype, int count, @Cast("const int64_t*") long[] params,
            @Cast("const int64_t*") long[] grads, @Cast("const int64_t*") long[] velocity,
            @Cast("const int64_t*") long[] sizes, double lr, double momentum, int nesterov, double weightDecay,
            double gradScale, double clipValue);
    public static native void soma_cpu_adam(int dtype, int count, @Cast("const int64_t*") long[] params,
            @Cast("const int64_t*") long[] grads, @Cast("const int64_t*") long[] m, @Cast("const int64_t*") long[] v,
            @Cast("const int64_t*") long[] sizes, double lr, double beta1, double beta2, double eps,
            double weightDecay, int decoupled, @Cast("int64_t") long step, double gradScale, double clipValue);
    public static native void soma_cpu_rmsprop(int dtype, int count, @Cast("const int64_t*") long[] params,
            @Cast("const int64_t*") long[] grads, @Cast("const int64_t*") long[] avg, @Cast("const int64_t*") long[] mom,
            @Cast("const int64_t*") long[] sizes, double lr, double rho, double momentum, double eps,
            double gradScale, double clipValue);
    public static native double soma_cpu_sum_squares(int dtype, int count, @Cast("const int64_t*") long[] tensors,
            @Cast("const int64_t*") long[] sizes);

    // ---------------- convolution and pooling (native/src/conv.cpp) ----------------
    public static native void soma_cpu_conv2d(int dtype, @Cast("const int64_t*") long[] geom, @Cast("const void*") long x,
            @Cast("const void*") long w, @Cast("const void*") long bias, @Cast("void*") long out);
    public static native void soma_cpu_conv2d_backward_data(int dtype, @Cast("const int64_t*") long[] geom,
            @Cast("const void*") long gradOut, @Cast("const void*") long w, @Cast("void*") long gradX);
    public static native void soma_cpu_conv2d_backward_weights(int dtype, @Cast("const int64_t*") long[] geom,
            @Cast("const void*") long x, @Cast("const void*") long gradOut, @Cast("void*") long gradW,
            @Cast("void*") long gradBias);
    public static native void soma_cpu_pool2d(int isMax, int dtype, @Cast("const int64_t*") long[] geom,
            @Cast("const void*") long x, @Cast("void*") long out);
    public static native void soma_cpu_pool2d_backward(int isMax, int dtype, @Cast("const int64_t*") long[] geom,
            @Cast("const void*") long x, @Cast("const void*") long gradOut, @Cast("void*") long gradX);
    // ---------------- Winograd convolution (native/src/winograd_conv.cpp) ----------------
    public static native int soma_cpu_winograd_supported(@Cast("const int64_t*") long[] geom);
    public static native int soma_cpu_winograd_lanes();
    public static native int soma_cpu_winograd_piece(int k);
    public static native int soma_cpu_winograd_pieces_per_side(int k);
    public static native int soma_cpu_winograd_tile(int k);
    public static native long soma_cpu_winograd_workspace_bytes(@Cast("const int64_t*") long[] geom, int pass);
    public static native void soma_cpu_winograd_conv2d(@Cast("const int64_t*") long[] geom, @Cast("const void*") long x,
            @Cast("const void*") long w, @Cast("const void*") long bias, @Cast("void*") long out,
            @Cast("void*") long workspace, long workspaceBytes);
    public static native void soma_cpu_winograd_conv2d_backward_data(@Cast("const int64_t*") long[] geom,
            @Cast("const void*") long gradOut, @Cast("const void*") long w, @Cast("void*") long gradX,
            @Cast("void*") long workspace, long workspaceBytes);
    public static native void soma_cpu_winograd_conv2d_backward_weights(@Cast("const int64_t*") long[] geom,
            @Cast("const void*") long x, @Cast("const void*") long gradOut, @Cast("void*") long gradW,
            @Cast("void*") long workspace, long workspaceBytes);
    public static native void soma_cpu_winograd_conv2d_backward(@Cast("const int64_t*") long[] geom,
            @Cast("const void*") long x, @Cast("const void*") long gradOut, @Cast("const void*") long w,
            @Cast("void*") long gradX, @Cast("void*") long gradW, @Cast("void*") long workspace, long workspaceBytes);
    public static native void soma_cpu_relu_max_pool2d(@Cast("const int64_t*") long[] geom, @Cast("const void*") long z,
            @Cast("void*") long out, @Cast("void*") long tap);
    public static native void soma_cpu_relu_max_pool2d_backward(@Cast("const int64_t*") long[] geom,
            @Cast("const void*") long gradOut, @Cast("const void*") long out, @Cast("const void*") long tap, int bf16,
            @Cast("void*") long gradZ);
    // ---------------- attention (native/src/attention.cpp) ----------------
    public static native @Cast("int64_t") long soma_cpu_attention_workspace(@Cast("int64_t") long d, @Cast("int64_t") long dv);
    public static native void soma_cpu_attention_forward(int dtype, @Cast("int64_t") long batch, @Cast("int64_t") long heads,
            @Cast("int64_t") long tq, @Cast("int64_t") long tk, @Cast("int64_t") long d, @Cast("int64_t") long dv,
            @Cast("const void*") long q, @Cast("const int64_t*") long[] qStrides, @Cast("const void*") long k,
            @Cast("const int64_t*") long[] kStrides, @Cast("const void*") long v, @Cast("const int64_t*") long[] vStrides,
            double scale, int causal, @Cast("const int32_t*") long keyLengths, @Cast("const int32_t*") long mask,
            @Cast("int64_t") long maskBatchStride, @Cast("int64_t") long maskQueryStride, double dropout,
            @Cast("uint64_t") long seed, @Cast("uint64_t") long stream, @Cast("void*") long out,
            @Cast("const int64_t*") long[] outStrides, @Cast("void*") long lse, @Cast("void*") long weights,
            @Cast("void*") long workspace);
    public static native void soma_cpu_attention_backward(int dtype, @Cast("int64_t") long batch, @Cast("int64_t") long heads,
            @Cast("int64_t") long tq, @Cast("int64_t") long tk, @Cast("int64_t") long d, @Cast("int64_t") long dv,
            @Cast("const void*") long q, @Cast("const int64_t*") long[] qStrides, @Cast("const void*") long k,
            @Cast("const int64_t*") long[] kStrides, @Cast("const void*") long v, @Cast("const int64_t*") long[] vStrides,
            double scale, int causal, @Cast("const int32_t*") long keyLengths, @Cast("const int32_t*") long mask,
            @Cast("int64_t") long maskBatchStride, @Cast("int64_t") long maskQueryStride, double dropout,
            @Cast("uint64_t") long seed, @Cast("uint64_t") long stream, @Cast("const void*") long out,
            @Cast("const int64_t*") long[] outStrides, @Cast("const void*") long lse, @Cast("const void*") long gradOut,
            @Cast("const int64_t*") long[] gradOutStrides, @Cast("void*") long gradQ, @Cast("const int64_t*") long[] gradQStrides,
            @Cast("void*") long gradK, @Cast("const int64_t*") long[] gradKStrides, @Cast("void*") long gradV,
            @Cast("const int64_t*") long[] gradVStrides, @Cast("void*") long delta, @Cast("void*") long workspace);

    // ---------------- layer normalisation (native/src/layernorm.cpp) ----------------
    public static native void soma_cpu_layer_norm(int dtype, @Cast("int64_t") long rows, @Cast("int64_t") long cols,
            @Cast("const void*") long x, @Cast("const void*") long gamma, @Cast("const void*") long beta, double eps,
            @Cast("void*") long y, @Cast("void*") long mean, @Cast("void*") long rstd);
    public static native void soma_cpu_layer_norm_backward(int dtype, @Cast("int64_t") long rows, @Cast("int64_t") long cols,
            @Cast("const void*") long x, @Cast("const void*") long gamma, @Cast("const void*") long mean,
            @Cast("const void*") long rstd, @Cast("const void*") long gradY, @Cast("void*") long gradX,
            @Cast("void*") long gradGamma, @Cast("void*") long gradBeta);

    // ---------------- batch normalisation (native/src/batchnorm.cpp) ----------------
    public static native void soma_cpu_batch_norm(int dtype, @Cast("int64_t") long rows, @Cast("int64_t") long cols,
            @Cast("const void*") long x, @Cast("const void*") long gamma, @Cast("const void*") long beta, double eps,
            @Cast("void*") long y, @Cast("void*") long mean, @Cast("void*") long var, @Cast("void*") long rstd);
    public static native void soma_cpu_batch_norm_backward(int dtype, @Cast("int64_t") long rows, @Cast("int64_t") long cols,
            @Cast("const void*") long x, @Cast("const void*") long gamma, @Cast("const void*") long mean,
            @Cast("const void*") long rstd, @Cast("const void*") long gradY, @Cast("void*") long gradX,
            @Cast("void*") long gradGamma, @Cast("void*") long gradBeta);

    // ---------------- ghost norms for DP-SGD (native/src/ghost_norm.cpp) ----------------
    public static native void soma_cpu_ghost_norm_linear(int dtype, @Cast("int64_t") long batch,
            @Cast("int64_t") long positions, @Cast("int64_t") long d, @Cast("int64_t") long p,
            @Cast("const void*") long a, @Cast("const void*") long g, int hasBias, int mode, @Cast("void*") long out);
    public static native void soma_cpu_ghost_norm_conv2d(int dtype, @Cast("const int64_t*") long[] geom,
            @Cast("const void*") long x, @Cast("const void*") long g, int hasBias, int mode, @Cast("void*") long out);
    public static native void soma_cpu_ghost_norm_embedding(int dtype, @Cast("int64_t") long batch,
            @Cast("int64_t") long positions, @Cast("int64_t") long d, @Cast("const int32_t*") long ids,
            @Cast("const void*") long g, @Cast("void*") long out);
    public static native void soma_cpu_ghost_norm_layer_norm(int dtype, @Cast("int64_t") long batch,
            @Cast("int64_t") long positions, @Cast("int64_t") long d, @Cast("const void*") long xhat,
            @Cast("const void*") long g, int hasGamma, int hasBeta, @Cast("void*") long out);

    // ---------------- numeric checks (native/src/check.cpp) ----------------
    public static native @Cast("int64_t") long soma_cpu_first_non_finite(int dtype, @Cast("const void*") long x,
            @Cast("int64_t") long n);
}
