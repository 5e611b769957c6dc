package dev.soma.backend;

import dev.soma.jni.CpuKernels;
import dev.soma.tensor.Tensor;

/** Fused attention through native/src/attention.cpp; per-thread tiles come from the pool as a workspace. */
final class CpuAttention implements AttentionKernels {
    @Override
    public void forward(Spec s, Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse, Tensor weights) {
        long[] qs = q.shape();
        long d = qs[3];
        long dv = v.size(3);
        try (Tensor ws = workspace(q, d, dv)) {
            CpuKernels.soma_cpu_attention_forward(q.dtype().code(), qs[0], qs[1], qs[2], k.size(2), d, dv,
                    q.address(), outer(q), k.address(), outer(k), v.address(), outer(v), s.scale(), s.causal() ? 1 : 0,
                    address(s.keyLengths()), address(s.mask()), s.maskBatchStride(), s.maskQueryStride(), s.dropout(),
                    s.seed(), s.stream(), out.address(), outer(out), lse.address(), address(weights), ws.address());
        }
    }

    @Override
    public void backward(Spec s, Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse, Tensor gradOut, Tensor gradQ,
                         Tensor gradK, Tensor gradV) {
        long[] qs = q.shape();
        long d = qs[3];
        long dv = v.size(3);
        try (Tensor ws = workspace(q, d, dv); Tensor delta = Tensor.empty(q.dtype(), q.device(), lse.shape())) {
            CpuKernels.soma_cpu_attention_backward(q.dtype().code(), qs[0], qs[1], qs[2], k.size(2), d, dv,
                    q.address(), outer(q), k.address(), outer(k), v.address(), outer(v), s.scale(), s.causal() ? 1 : 0,
                    address(s.keyLengths()), address(s.mask()), s.maskBatchStride(), s.maskQueryStride(), s.dropout(),
                    s.seed(), s.stream(), out.address(), outer(out), lse.address(), gradOut.address(), outer(gradOut),
                    gradQ.address(), outer(gradQ), gradK.address(), outer(gradK), gradV.address(), outer(gradV),
                    delta.address(), ws.address());
        }
    }

    private static Tensor workspace(Tensor like, long d, long dv) {
        long per = CpuKernels.soma_cpu_attention_workspace(d, dv);
        return Tensor.empty(like.dtype(), like.device(), Math.multiplyExact(per, (long) CpuKernels.soma_cpu_threads()));
    }

    /** The (batch, head, time) strides of a rank-4 tensor. */
    private static long[] outer(Tensor t) {
        long[] st = t.strides();
        return new long[] {st[0], st[1], st[2]};
    }

    private static long address(Tensor t) {
        return t == null ? 0L : t.address();
    }
}
