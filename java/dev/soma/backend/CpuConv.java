package dev.soma.backend;

import dev.soma.backend.ElementwiseKernels.UnaryOp;
import dev.soma.backend.dnnl.Dnnl;
import dev.soma.backend.dnnl.DnnlConvolution;
import dev.soma.backend.dnnl.DnnlPooling;
import dev.soma.jni.CpuKernels;
import dev.soma.memory.CachingPool;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

/**
 * Convolution and pooling on the CPU: f32 through oneDNN (NHWC activations, weights in the layout each pass
 * chooses, see {@link DnnlConvolution}), except 3x3 and 5x5 stride-1 convolutions with enough channels, which run
 * our Winograd kernels ({@link WinogradConv}); f64 through the direct loops of native/src/conv.cpp, since oneDNN
 * has no f64 convolution or pooling (f64 serves gradient checks). Inside a bf16 {@link MixedPrecision} scope the f32
 * convolution passes multiply in bf16 (f32 in and out), reading activations from {@link Bf16Copy}s where the op
 * kept them; pooling stays f32.
 */
final class CpuConv implements ConvKernels {

    @Override
    public void conv2d(Geometry g, Tensor x, Tensor kernel, Tensor bias, boolean relu, Tensor out) {
        conv2d(g, x, kernel, bias, relu, out, null);
    }

    @Override
    public void conv2d(Geometry g, Tensor x, Tensor kernel, Tensor bias, boolean relu, Tensor out, Bf16Copy x16) {
        if (out.dtype() == DType.F64) {
            CpuKernels.soma_cpu_conv2d(out.dtype().code(), g.nativeArray(), x.address(), kernel.address(),
                    bias == null ? 0 : bias.address(), out.address());
            if (relu) out.backend().elementwise().unary(UnaryOp.RELU, out, out, 0, 0);
            return;
        }
        // ReLU is not fused as oneDNN's post-op: its JIT ReLU is max(x, 0), which turns NaN into 0; ours keeps
        // NaN (as PyTorch), at the price of one more pass over the output.
        forwardF32(out.backend().pool(), g, x, kernel, bias, out.address(), x16);
        if (relu) out.backend().elementwise().unary(UnaryOp.RELU, out, out, 0, 0);
    }

    @Override
    public void conv2dBackwardData(Geometry g, Tensor gradOut, Tensor kernel, Tensor gradX) {
        conv2dBackwardData(g, gradOut, kernel, gradX, null);
    }

    @Override
    public void conv2dBackwardData(Geometry g, Tensor gradOut, Tensor kernel, Tensor gradX, Bf16Copy gradOut16) {
        if (gradX.dtype() == DType.F64) {
            CpuKernels.soma_cpu_conv2d_backward_data(gradX.dtype().code(), g.nativeArray(), gradOut.address(),
                    kernel.address(), gradX.address());
            return;
        }
        if (winograd(g)) {
            WinogradConv.backwardData(gradX.backend().pool(), g, gradOut.address(), kernel.address(), gradX.address());
            return;
        }
        DnnlConvolution.backwardData(gradX.backend().pool(), conv(g, gradX.dtype(), false, false), gradOut.address(),
                kernel.address(), gradX.address(), Bf16Copy.addressIn(gradOut16, gradOut));
    }

    @Override
    public void conv2dBackwardWeights(Geometry g, Tensor x, Tensor gradOut, Tensor gradKernel, Tensor gradBias) {
        conv2dBackwardWeights(g, x, gradOut, gradKernel, gradBias, null, null);
    }

    @Override
    public void conv2dBackwardWeights(Geometry g, Tensor x, Tensor gradOut, Tensor gradKernel, Tensor gradBias,
                                      Bf16Copy x16, Bf16Copy gradOut16) {
        if (gradKernel.dtype() == DType.F64) {
            CpuKernels.soma_cpu_conv2d_backward_weights(gradKernel.dtype().code(), g.nativeArray(), x.address(),
                    gradOut.address(), gradKernel.address(), gradBias == null ? 0 : gradBias.address());
            return;
        }
        backwardWeights(gradKernel.backend().pool(), g, conv(g, gradKernel.dtype(), false, false), x.address(),
                Bf16Copy.addressIn(x16, x), gradOut.address(), Bf16Copy.addressIn(gradOut16, gradOut), gradKernel,
                gradBias);
    }

    /** Both passes in one Winograd sweep where {@link WinogradConv#oneBackward} says so; else one after the other. */
    @Override
    public void conv2dBackward(Geometry g, Tensor x, Tensor gradOut, Tensor kernel, Tensor gradX, Tensor gradKernel,
                               Tensor gradBias, Bf16Copy x16, Bf16Copy gradOut16) {
        if (gradX.dtype() == DType.F32 && oneWinogradBackward(gradX.backend().pool(), g, x.address(),
                gradOut.address(), kernel.address(), gradX, gradKernel, gradBias)) {
            return;
        }
        ConvKernels.super.conv2dBackward(g, x, gradOut, kernel, gradX, gradKernel, gradBias, x16, gradOut16);
    }

    /**
     * Both f32 passes in one Winograd sweep and the bias gradient summed from {@code dz32}, where the geometry takes
     * the sweep ({@link WinogradConv#oneBackward}; never in a bf16 scope); false, having done nothing, otherwise.
     */
    private static boolean oneWinogradBackward(CachingPool mem, Geometry g, long x, long dz32, long kernel, Tensor gradX,
                                               Tensor gradKernel, Tensor gradBias) {
        if (!(winograd(g) && WinogradConv.oneBackward(g))) return false;
        WinogradConv.backward(mem, g, x, dz32, kernel, gradX.address(), gradKernel.address());
        if (gradBias != null) ownBiasGradient(g, dz32, gradBias);
        return true;
    }

    /**
     * The f32 forward into {@code out}: our Winograd convolution where {@link WinogradConv#applies} (outside bf16
     * scopes), else oneDNN's (f32, or bf16 inside a bf16 scope).
     */
    private static void forwardF32(CachingPool mem, Geometry g, Tensor x, Tensor kernel, Tensor bias, long out,
                                   Bf16Copy x16) {
        long b = bias == null ? 0 : bias.address();
        if (winograd(g)) {
            WinogradConv.forward(mem, g, x.address(), kernel.address(), b, out);
        } else {
            DnnlConvolution.forward(mem, conv(g, DType.F32, bias != null, false), x.address(), kernel.address(), b,
                    out, Bf16Copy.addressIn(x16, x));
        }
    }

    /** Whether this f32 geometry's passes are ours (Winograd) rather than oneDNN's; never inside a bf16 scope. */
    private static boolean winograd(Geometry g) {
        return !MixedPrecision.bf16Convolution(g.c(), g.oc()) && WinogradConv.applies(g);
    }

    /**
     * The backward-weights pass ({@code plain}: its descriptor without a bias), from the output gradient in f32
     * ({@code dz32}) or bf16 ({@code dz16}, or both). Our Winograd pass where it applies.
     * Where the pass multiplies in f32, the bias gradient is our own column sum of dz32 (in double) rather than
     * oneDNN's: its f32 backward-weights kernels sum the bias in a separate, slow pass (the reference CNN's first
     * convolution, forward and backward, took 1.06 ms with it and 0.46 ms with ours; docs/cpu-performance.md), and
     * our sum does not depend on the thread count. A bf16 pass keeps oneDNN's, summed from the bf16 gradient it
     * multiplies with (there the bias costs little).
     */
    private static void backwardWeights(CachingPool mem, Geometry g, DnnlConvolution.Conv plain, long x, long x16,
                                        long dz32, long dz16, Tensor gradKernel, Tensor gradBias) {
        boolean ownBias = gradBias != null && !plain.bf16();
        boolean oneDnnBias = gradBias != null && !ownBias;
        if (!plain.bf16() && winograd(g)) {
            WinogradConv.backwardWeights(mem, g, x, dz32, gradKernel.address());
        } else {
            DnnlConvolution.backwardWeights(mem, oneDnnBias ? conv(g, gradKernel.dtype(), true, false) : plain, x,
                    dz32, gradKernel.address(), oneDnnBias ? gradBias.address() : 0, x16, dz16);
        }
        if (ownBias) ownBiasGradient(g, dz32, gradBias);
    }

    private static void ownBiasGradient(Geometry g, long dz32, Tensor gradBias) {
        CpuKernels.soma_cpu_reduce_leading(ReductionKernels.RowOp.SUM.code, DType.F32.code(), g.n() * g.oh() * g.ow(),
                g.oc(), dz32, gradBias.address());
    }

    @Override
    public String[] conv2dImplementations(Geometry g, DType dtype, boolean bias) {
        if (dtype == DType.F64) {
            String s = "soma_cpu_conv2d (f64; oneDNN has no f64 convolution on the CPU)";
            return new String[] {s, s, s};
        }
        if (dtype == DType.F32 && winograd(g)) {
            String s = WinogradConv.name(g);
            return new String[] {s, s, s};
        }
        String[] impl = DnnlConvolution.implementations(conv(g, dtype, bias, false));
        for (int i = 0; i < impl.length; i++) impl[i] = "onednn " + impl[i];
        return impl;
    }

    @Override
    public long pool2dWorkspaceBytes(PoolKind kind, Geometry g, DType dtype) {
        if (dtype == DType.F64 || kind == PoolKind.AVG) return 0;
        return DnnlPooling.workspaceBytes(pool(kind, g, dtype));
    }

    @Override
    public void pool2d(PoolKind kind, Geometry g, Tensor x, Tensor out, long workspace) {
        if (out.dtype() == DType.F64) {
            CpuKernels.soma_cpu_pool2d(kind == PoolKind.MAX ? 1 : 0, out.dtype().code(), g.nativeArray(), x.address(),
                    out.address());
            return;
        }
        DnnlPooling.forward(out.backend().pool(), pool(kind, g, out.dtype()), x.address(), out.address(), workspace);
        if (kind == PoolKind.MAX && CpuKernels.soma_cpu_first_non_finite(x.dtype().code(), x.address(), x.numel()) >= 0) {
            // oneDNN's max skips NaN; ours lets NaN win (as PyTorch). Only inputs with NaN or Inf pay the second
            // pass. The backward still routes gradients by oneDNN's workspace (to the largest non-NaN value).
            CpuKernels.soma_cpu_pool2d(1, out.dtype().code(), g.nativeArray(), x.address(), out.address());
        }
    }

    @Override
    public void pool2dBackward(PoolKind kind, Geometry g, Tensor x, Tensor gradOut, long workspace, Tensor gradX) {
        if (gradX.dtype() == DType.F64) {
            CpuKernels.soma_cpu_pool2d_backward(kind == PoolKind.MAX ? 1 : 0, gradX.dtype().code(), g.nativeArray(),
                    x == null ? 0 : x.address(), gradOut.address(), gradX.address());
            return;
        }
        if (kind == PoolKind.MAX && workspace == 0) {
            throw new IllegalStateException("maxPool2d backward " + g + ": oneDNN needs the training forward's workspace");
        }
        DnnlPooling.backward(gradX.backend().pool(), pool(kind, g, gradX.dtype()), gradOut.address(), workspace,
                gradX.address());
    }

    @Override
    public String[] pool2dImplementations(PoolKind kind, Geometry g, DType dtype) {
        if (dtype == DType.F64) {
            String s = "soma_cpu_pool2d (f64; oneDNN has no f64 pooling on the CPU)";
            return new String[] {s, s};
        }
        String[] impl = DnnlPooling.implementations(pool(kind, g, dtype));
        for (int i = 0; i < impl.length; i++) impl[i] = "onednn " + impl[i];
        return impl;
    }

    // ------------------------------------------------------------------ convolution, ReLU and max pooling

    @Override
    public boolean hasConv2dReluMaxPool() {
        return true;
    }

    @Override
    public void conv2dReluMaxPool(Geometry g, Geometry p, Tensor x, Tensor kernel, Tensor bias, Tensor out, long taps,
                                  Bf16Copy x16) {
        requireF32("conv2dReluMaxPool", out);
        CachingPool mem = out.backend().pool();
        // The convolution's output lives only until the pooling has read it.
        CachingPool.Block z = mem.allocate(Math.multiplyExact(p.n() * p.h() * p.w(), p.c() * 4), 0);
        try {
            forwardF32(mem, g, x, kernel, bias, z.address(), x16);
            CpuKernels.soma_cpu_relu_max_pool2d(p.nativeArray(), z.address(), out.address(), taps);
        } finally {
            mem.release(z);
        }
    }

    @Override
    public void conv2dReluMaxPoolBackward(Geometry g, Geometry p, Tensor x, Tensor kernel, Tensor gradOut, Tensor out,
                                          long taps, Tensor gradX, Tensor gradKernel, Tensor gradBias, Bf16Copy x16) {
        requireF32("conv2dReluMaxPool backward", out);
        DnnlConvolution.Conv plain = conv(g, DType.F32, false, false);
        // In a bf16 scope the passes read the convolution's output gradient in bf16: the gather writes it so.
        boolean bf16 = plain.bf16();
        CachingPool mem = out.backend().pool();
        CachingPool.Block dz = mem.allocate(Math.multiplyExact(p.n() * p.h() * p.w(), p.c() * (bf16 ? 2 : 4)), 0);
        try {
            CpuKernels.soma_cpu_relu_max_pool2d_backward(p.nativeArray(), gradOut.address(), out.address(), taps,
                    bf16 ? 1 : 0, dz.address());
            long dz32 = bf16 ? 0 : dz.address();
            long dz16 = bf16 ? dz.address() : 0;
            if (gradX != null && gradKernel != null && !bf16
                    && oneWinogradBackward(mem, g, x.address(), dz32, kernel.address(), gradX, gradKernel, gradBias)) {
                return;
            }
            if (gradX != null && !bf16 && winograd(g)) {
                WinogradConv.backwardData(mem, g, dz32, kernel.address(), gradX.address());
            } else if (gradX != null) {
                DnnlConvolution.backwardData(mem, plain, dz32, kernel.address(), gradX.address(), dz16);
            }
            if (gradKernel != null) {
                backwardWeights(mem, g, plain, x.address(), Bf16Copy.addressIn(x16, x), dz32, dz16, gradKernel,
                        gradBias);
            }
        } finally {
            mem.release(dz);
        }
    }

    private static void requireF32(String op, Tensor out) {
        if (out.dtype() != DType.F32) {
            throw new UnsupportedOperationException(op + ": runs on float32 only, got " + out.describe());
        }
    }

    // ------------------------------------------------------------------ oneDNN geometry

    private static DnnlConvolution.Conv conv(Geometry g, DType dtype, boolean bias, boolean relu) {
        return new DnnlConvolution.Conv(Dnnl.dataType(dtype, "conv2d"),
                new long[] {g.n(), g.c(), g.h(), g.w()},
                new long[] {g.oc(), g.c(), g.kh(), g.kw()},
                new long[] {g.n(), g.oc(), g.oh(), g.ow()},
                new long[] {g.sh(), g.sw()},
                new long[] {g.dh() - 1, g.dw() - 1},
                new long[] {g.padTop(), g.padLeft()},
                new long[] {g.padBottom(), g.padRight()},
                bias, relu, dtype == DType.F32 && MixedPrecision.bf16Convolution(g.c(), g.oc()));
    }

    private static DnnlPooling.Pool pool(PoolKind kind, Geometry g, DType dtype) {
        return new DnnlPooling.Pool(Dnnl.dataType(dtype, kind == PoolKind.MAX ? "maxPool2d" : "avgPool2d"),
                kind == PoolKind.MAX,
                new long[] {g.n(), g.c(), g.h(), g.w()},
                new long[] {g.n(), g.c(), g.oh(), g.ow()},
                new long[] {g.kh(), g.kw()},
                new long[] {g.sh(), g.sw()},
                new long[] {g.padTop(), g.padLeft()},
                new long[] {g.padBottom(), g.padRight()});
    }
}
