package dev.soma.backend.cuda;

import dev.soma.backend.AttentionKernels;
import dev.soma.jni.CudaKernels;
import dev.soma.tensor.Tensor;

import java.util.Arrays;

/**
 * Fused attention through cuda-kernels/attention.cu (FlashAttention-2 style: online softmax in registers, key
 * and value tiles through shared memory; the backward recomputes the weights from the saved lse). Same
 * semantics as the CPU kernels, dropout included (the same Philox mask). Inputs are the op's tensors as they
 * are: strided in the outer dimensions, unit stride in the last; key lengths and masks contiguous int32.
 */
final class CudaAttention implements AttentionKernels {
    private final CudaBackend backend;

    CudaAttention(CudaBackend backend) {
        this.backend = backend;
    }

    @Override
    public void forward(Spec s, Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse, Tensor weights) {
        long[] qs = q.shape();
        backend.bind();
        int status = CudaKernels.soma_cuda_attention_forward(q.dtype().code(), qs[0], qs[1], qs[2], k.size(2), qs[3],
                v.size(3), q.address(), outer(q), k.address(), outer(k), v.address(), outer(v), s.scale(),
                s.causal() ? 1 : 0, address(s.keyLengths()), address(s.mask()), s.maskBatchStride(),
                s.maskQueryStride(), s.dropout(), s.seed(), s.stream(), out.address(), outer(out), lse.address(),
                address(weights), backend.stream());
        CudaStatus.kernel(status, "soma_cuda_attention_forward", () -> describe(s, q, k, v));
    }

    @Override
    public void backward(Spec s, Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse, Tensor gradOut, Tensor gradQ,
                         Tensor gradK, Tensor gradV) {
        long[] qs = q.shape();
        try (Tensor delta = Tensor.empty(q.dtype(), q.device(), lse.shape()).keep()) {
            backend.bind();
            int status = CudaKernels.soma_cuda_attention_backward(q.dtype().code(), qs[0], qs[1], qs[2], k.size(2),
                    qs[3], v.size(3), q.address(), outer(q), k.address(), outer(k), v.address(), outer(v), s.scale(),
                    s.causal() ? 1 : 0, address(s.keyLengths()), address(s.mask()), s.maskBatchStride(),
                    s.maskQueryStride(), s.dropout(), s.seed(), s.stream(), out.address(), outer(out), lse.address(),
                    gradOut.address(), outer(gradOut), gradQ.address(), outer(gradQ), gradK.address(), outer(gradK),
                    gradV.address(), outer(gradV), delta.address(), backend.stream());
            CudaStatus.kernel(status, "soma_cuda_attention_backward", () -> describe(s, q, k, v));
        }
    }

    private static String describe(Spec s, Tensor q, Tensor k, Tensor v) {
        return "of q " + q.describe() + ", k " + k.describe() + ", v " + v.describe() + " (causal " + s.causal()
                + ", key lengths " + (s.keyLengths() != null) + ", mask " + (s.mask() != null) + ", dropout "
                + s.dropout() + ")";
    }

    /** The (batch, head, time) strides of a rank-4 tensor. */
    private static long[] outer(Tensor t) {
        return Arrays.copyOf(t.strides(), 3);
    }

    private static long address(Tensor t) {
        return t == null ? 0L : t.address();
    }
}
