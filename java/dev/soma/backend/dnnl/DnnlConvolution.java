package dev.soma.backend.dnnl;

import dev.soma.backend.ComputeThreads;
import dev.soma.memory.CachingPool;
import org.bytedeco.dnnl.dnnl_memory_desc;
import org.bytedeco.dnnl.dnnl_post_ops;
import org.bytedeco.dnnl.dnnl_primitive_attr;
import org.bytedeco.dnnl.dnnl_primitive_desc;

import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import static org.bytedeco.dnnl.global.dnnl.*;

/**
 * oneDNN 2-d convolution, forward and both backward passes, on channels-last ({@code nhwc}) activations and
 * Keras' HWIO kernels. Each pass lets oneDNN choose its weights layout ({@code format_tag_any}): only then do
 * all three stay on the fast kernels (with plain HWIO weights the backward passes drop to a slow path, see
 * shared/notes/cpu-measurements.md). The user's HWIO kernel is reordered into the chosen layout by a cached
 * reorder primitive before the forward and backward-data passes, and the backward-weights result is reordered
 * back to HWIO; the blocked copies live in blocks of Soma's pool for the length of one call. Primitives
 * (passes and reorders) are cached per geometry.
 *
 * <p>Optional fusion: the forward can add the bias (oneDNN's bias argument) and apply ReLU (an eltwise
 * post-op); the backward-weights pass yields the bias gradient alongside the kernel's.
 *
 * <p>bf16 mixed precision ({@link Conv#bf16}): the f32 activations and gradients each pass reads are converted to
 * bf16 ({@link Bf16Conversion}) and the weights reorder converts while it reblocks, so each pass multiplies bf16 on the
 * CPU's bf16 dot-product kernels; outputs (dst, diff_src, diff_weights, diff_bias) and the bias stay f32, as
 * oneDNN accumulates in f32 and lets those be f32.
 */
public final class DnnlConvolution {
    private static final System.Logger LOG = System.getLogger(DnnlConvolution.class.getName());
    private static final PrimitiveCache PASSES = new PrimitiveCache("convolution", 256);
    private static final PrimitiveCache REORDERS = new PrimitiveCache("convolution weight reorders", 512);
    /** Per pass key: whether the layout oneDNN chose for the weights is plain HWIO (no reorder needed). */
    private static final Map<ChoiceKey, Boolean> HWIO_CHOSEN = new ConcurrentHashMap<>();

    /** A pass's weight-layout choice is per primitive, and so per thread count (see {@link PrimitiveCache}). */
    private record ChoiceKey(PrimitiveKey pass, int threads) {}

    /** The three passes; each has its own primitive and may choose its own weights layout. */
    private enum Pass { FORWARD, BACKWARD_DATA, BACKWARD_WEIGHTS }

    /**
     * One convolution's geometry in oneDNN's terms: dims {@code src [N, C, H, W]}, {@code weights [O, I, KH, KW]},
     * {@code dst [N, O, OH, OW]} (logical order; memory is nhwc / hwio), strides, dilations (0 = none, oneDNN's
     * convention), paddings before and after, whether a bias is present, whether ReLU follows (forward only), and
     * whether the products run in bf16 ({@code dataType} must then be f32: the user's tensors stay f32).
     */
    public record Conv(int dataType, long[] src, long[] weights, long[] dst, long[] strides, long[] dilates,
                       long[] padL, long[] padR, boolean bias, boolean relu, boolean bf16) {
        public Conv {
            if (bf16 && dataType != dnnl_f32) {
                throw new IllegalArgumentException("convolution: bf16 mixed precision needs f32 tensors, got "
                        + Dnnl.dataTypeName(dataType));
            }
        }

        PrimitiveKey key(String kind, boolean withRelu) {
            return new PrimitiveKey(kind, new int[] {dataType, bias ? 1 : 0, withRelu && relu ? 1 : 0, bf16 ? 1 : 0},
                    src, weights, dst, strides, dilates, padL, padR);
        }

        /** Multiply-adds of one pass, times 2: every output element sums over I x KH x KW inputs. */
        double flops() {
            double n = 2.0 * weights[1] * weights[2] * weights[3];
            for (long d : dst) n *= d;
            return n;
        }

        /** The type the products read: bf16 in mixed precision, else the tensors' own. */
        int computeType() {
            return bf16 ? dnnl_bf16 : dataType;
        }

        String describe(String pass) {
            return "convolution " + pass + " " + Dnnl.dataTypeName(dataType) + (bf16 ? " (bf16 products)" : "")
                    + " src" + Arrays.toString(src)
                    + " weights" + Arrays.toString(weights) + " dst" + Arrays.toString(dst) + " strides "
                    + Arrays.toString(strides) + " dilates " + Arrays.toString(dilates) + " pad "
                    + Arrays.toString(padL) + "/" + Arrays.toString(padR) + (bias ? " +bias" : "")
                    + (relu && pass.equals("forward") ? " +relu" : "");
        }
    }

    private DnnlConvolution() {}

    public static PrimitiveCache cache() {
        return PASSES;
    }

    public static PrimitiveCache reorderCache() {
        return REORDERS;
    }

    /** {@code dst = conv(src, weights) (+ bias) (then ReLU)}; weights are HWIO at {@code weights}. */
    public static void forward(CachingPool pool, Conv c, long src, long weights, long bias, long dst) {
        forward(pool, c, src, weights, bias, dst, 0);
    }

    /** {@link #forward(CachingPool, Conv, long, long, long, long)} reading bf16 src at {@code src16} unless it is 0. */
    public static void forward(CachingPool pool, Conv c, long src, long weights, long bias, long dst, long src16) {
        synchronized (Dnnl.lock()) {
            try (var threads = ComputeThreads.atMost(ComputeThreads.forWork(c.flops()))) {
                PrimitiveKey key = c.key("conv_fwd", true);
                DnnlPrimitive conv = PASSES.get(key, () -> build(Pass.FORWARD, c));
                DnnlPrimitive reorder = weightsReorder(Pass.FORWARD, c, key, conv);
                CachingPool.Block blocked = reorder == null ? null : pool.allocate(blockedBytes(conv, DNNL_ARG_WEIGHTS), 0);
                CachingPool.Block srcBlock = null;
                try {
                    long w = weights;
                    if (reorder != null) {
                        reorder.execute(pool, weights, blocked.address());
                        w = blocked.address();
                    }
                    long s = src;
                    if (c.bf16) {
                        if (src16 == 0) srcBlock = Bf16Conversion.convert(pool, src, numel(c.src));
                        s = srcBlock == null ? src16 : srcBlock.address();
                    }
                    if (c.bias) conv.execute(pool, s, w, bias, dst);
                    else conv.execute(pool, s, w, dst);
                } finally {
                    if (srcBlock != null) pool.release(srcBlock);
                    if (blocked != null) pool.release(blocked);
                }
            }
        }
    }

    /** {@code diffSrc} from {@code diffDst} and the HWIO {@code weights}. */
    public static void backwardData(CachingPool pool, Conv c, long diffDst, long weights, long diffSrc) {
        backwardData(pool, c, diffDst, weights, diffSrc, 0);
    }

    /** {@link #backwardData(CachingPool, Conv, long, long, long)} reading bf16 diffDst at {@code diffDst16} unless 0. */
    public static void backwardData(CachingPool pool, Conv c, long diffDst, long weights, long diffSrc, long diffDst16) {
        synchronized (Dnnl.lock()) {
            try (var threads = ComputeThreads.atMost(ComputeThreads.forWork(c.flops()))) {
                PrimitiveKey key = c.key("conv_bwd_data", false);
                DnnlPrimitive conv = PASSES.get(key, () -> build(Pass.BACKWARD_DATA, c));
                DnnlPrimitive reorder = weightsReorder(Pass.BACKWARD_DATA, c, key, conv);
                CachingPool.Block blocked = reorder == null ? null : pool.allocate(blockedBytes(conv, DNNL_ARG_WEIGHTS), 0);
                CachingPool.Block diffDstBlock = null;
                try {
                    long w = weights;
                    if (reorder != null) {
                        reorder.execute(pool, weights, blocked.address());
                        w = blocked.address();
                    }
                    long dd = diffDst;
                    if (c.bf16) {
                        if (diffDst16 == 0) diffDstBlock = Bf16Conversion.convert(pool, diffDst, numel(c.dst));
                        dd = diffDstBlock == null ? diffDst16 : diffDstBlock.address();
                    }
                    conv.execute(pool, dd, w, diffSrc);
                } finally {
                    if (diffDstBlock != null) pool.release(diffDstBlock);
                    if (blocked != null) pool.release(blocked);
                }
            }
        }
    }

    /** {@code diffWeights} (HWIO) and, when the geometry has a bias, {@code diffBias}, from src and diffDst. */
    public static void backwardWeights(CachingPool pool, Conv c, long src, long diffDst, long diffWeights, long diffBias) {
        backwardWeights(pool, c, src, diffDst, diffWeights, diffBias, 0, 0);
    }

    /** {@link #backwardWeights(CachingPool, Conv, long, long, long, long)} reading bf16 copies where not 0. */
    public static void backwardWeights(CachingPool pool, Conv c, long src, long diffDst, long diffWeights, long diffBias,
                                       long src16, long diffDst16) {
        synchronized (Dnnl.lock()) {
            try (var threads = ComputeThreads.atMost(ComputeThreads.forWork(c.flops()))) {
                PrimitiveKey key = c.key("conv_bwd_weights", false);
                DnnlPrimitive conv = PASSES.get(key, () -> build(Pass.BACKWARD_WEIGHTS, c));
                DnnlPrimitive reorder = weightsReorder(Pass.BACKWARD_WEIGHTS, c, key, conv);
                CachingPool.Block blocked = reorder == null ? null : pool.allocate(blockedBytes(conv, DNNL_ARG_DIFF_WEIGHTS), 0);
                CachingPool.Block srcBlock = null;
                CachingPool.Block diffDstBlock = null;
                try {
                    long w = reorder == null ? diffWeights : blocked.address();
                    long s = src;
                    long dd = diffDst;
                    if (c.bf16) {
                        if (src16 == 0) srcBlock = Bf16Conversion.convert(pool, src, numel(c.src));
                        if (diffDst16 == 0) diffDstBlock = Bf16Conversion.convert(pool, diffDst, numel(c.dst));
                        s = srcBlock == null ? src16 : srcBlock.address();
                        dd = diffDstBlock == null ? diffDst16 : diffDstBlock.address();
                    }
                    if (c.bias) conv.execute(pool, s, dd, w, diffBias);
                    else conv.execute(pool, s, dd, w);
                    if (reorder != null) reorder.execute(pool, blocked.address(), diffWeights);
                } finally {
                    if (diffDstBlock != null) pool.release(diffDstBlock);
                    if (srcBlock != null) pool.release(srcBlock);
                    if (blocked != null) pool.release(blocked);
                }
            }
        }
    }

    /** Implementations of the forward, backward-data and backward-weights passes (builds them if needed). */
    public static String[] implementations(Conv c) {
        synchronized (Dnnl.lock()) {
            return new String[] {
                PASSES.get(c.key("conv_fwd", true), () -> build(Pass.FORWARD, c)).implementation(),
                PASSES.get(c.key("conv_bwd_data", false), () -> build(Pass.BACKWARD_DATA, c)).implementation(),
                PASSES.get(c.key("conv_bwd_weights", false), () -> build(Pass.BACKWARD_WEIGHTS, c)).implementation(),
            };
        }
    }

    // ------------------------------------------------------------------ weights layout

    private static long numel(long[] dims) {
        long n = 1;
        for (long d : dims) n *= d;
        return n;
    }

    private static long blockedBytes(DnnlPrimitive conv, int arg) {
        return MemoryDescs.bytes(conv.argDesc(arg));
    }

    /**
     * The cached reorder between the user's HWIO weights and the layout {@code conv} chose (HWIO to chosen for
     * the forward and backward-data passes, chosen to HWIO for backward-weights), or null when it chose HWIO.
     * Call under the lock.
     */
    private static DnnlPrimitive weightsReorder(Pass pass, Conv c, PrimitiveKey passKey, DnnlPrimitive conv) {
        int arg = pass == Pass.BACKWARD_WEIGHTS ? DNNL_ARG_DIFF_WEIGHTS : DNNL_ARG_WEIGHTS;
        ChoiceKey choice = new ChoiceKey(passKey, ComputeThreads.current());
        Boolean plain = HWIO_CHOSEN.get(choice);
        if (plain == null) {
            try (NativeHandles h = new NativeHandles()) {
                plain = MemoryDescs.equal(conv.argDesc(arg), userWeights(h, c, ""));
            }
            HWIO_CHOSEN.put(choice, plain);
        }
        if (plain) return null;
        String kind = switch (pass) {
            case FORWARD -> "conv_fwd_weights_reorder";
            case BACKWARD_DATA -> "conv_bwd_data_weights_reorder";
            case BACKWARD_WEIGHTS -> "conv_bwd_weights_reorder";
        };
        return REORDERS.get(c.key(kind, false), () -> buildReorder(pass, c, conv.argDesc(arg)));
    }

    private static DnnlPrimitive buildReorder(Pass pass, Conv c, dnnl_memory_desc chosen) {
        boolean toUser = pass == Pass.BACKWARD_WEIGHTS;
        String what = c.describe(toUser ? "weight gradient reorder to hwio" : "weight reorder from hwio for " + pass);
        dnnl_primitive_desc pd = new dnnl_primitive_desc();
        try (NativeHandles h = new NativeHandles()) {
            dnnl_memory_desc user = userWeights(h, c, what);
            dnnl_memory_desc from = toUser ? chosen : user;
            dnnl_memory_desc to = toUser ? user : chosen;
            Dnnl.check(dnnl_reorder_primitive_desc_create(pd, from, Dnnl.engine(), to, Dnnl.engine(), Dnnl.userScratchpad()),
                    () -> what + ": primitive descriptor creation");
        }
        DnnlPrimitive p = DnnlPrimitive.create(what, pd, DNNL_ARG_FROM, DNNL_ARG_TO);
        LOG.log(System.Logger.Level.DEBUG, () -> what + ": oneDNN picked " + p.implementation());
        return p;
    }

    private static dnnl_memory_desc userWeights(NativeHandles h, Conv c, String what) {
        return MemoryDescs.tagged(h, c.dataType, c.weights, dnnl_hwio, what);
    }

    // ------------------------------------------------------------------ building passes

    private static DnnlPrimitive build(Pass pass, Conv c) {
        String what = c.describe(switch (pass) {
            case FORWARD -> "forward";
            case BACKWARD_DATA -> "backward data";
            case BACKWARD_WEIGHTS -> "backward weights";
        });
        dnnl_primitive_desc pd = new dnnl_primitive_desc();
        try (NativeHandles h = new NativeHandles()) {
            // bf16: what a pass reads (src, weights, diff_dst) is bf16; what it writes, and the bias, stay f32.
            int in = c.computeType();
            int srcType = pass == Pass.BACKWARD_DATA ? c.dataType : in;
            int weightsType = pass == Pass.BACKWARD_WEIGHTS ? c.dataType : in;
            int dstType = pass == Pass.FORWARD ? c.dataType : in;
            dnnl_memory_desc src = MemoryDescs.tagged(h, srcType, c.src, dnnl_nhwc, what);
            dnnl_memory_desc weights = MemoryDescs.any(h, weightsType, c.weights, what);
            dnnl_memory_desc bias = c.bias ? MemoryDescs.tagged(h, c.dataType, new long[] {c.weights[0]}, dnnl_a, what) : null;
            dnnl_memory_desc dst = MemoryDescs.tagged(h, dstType, c.dst, dnnl_nhwc, what);
            if (pass == Pass.FORWARD) {
                createForward(pd, c, src, weights, bias, dst, c.relu, what);
            } else {
                // The backward passes need the forward's descriptor as a hint (built here, then destroyed); in
                // bf16 it is the forward that ran (bf16 src and weights, f32 dst).
                dnnl_primitive_desc hint = new dnnl_primitive_desc();
                if (c.bf16) {
                    createForward(hint, c, MemoryDescs.tagged(h, in, c.src, dnnl_nhwc, what),
                            MemoryDescs.any(h, in, c.weights, what), bias,
                            MemoryDescs.tagged(h, c.dataType, c.dst, dnnl_nhwc, what), false, what + " (forward hint)");
                } else {
                    createForward(hint, c, src, weights, bias, dst, false, what + " (forward hint)");
                }
                try {
                    if (pass == Pass.BACKWARD_DATA) {
                        Dnnl.check(dnnl_convolution_backward_data_primitive_desc_create(pd, Dnnl.engine(),
                                dnnl_convolution_direct, src, weights, dst, c.strides, c.dilates, c.padL, c.padR,
                                hint, Dnnl.userScratchpad()), () -> what + ": primitive descriptor creation");
                    } else {
                        Dnnl.check(dnnl_convolution_backward_weights_primitive_desc_create(pd, Dnnl.engine(),
                                dnnl_convolution_direct, src, weights, bias, dst, c.strides, c.dilates, c.padL, c.padR,
                                hint, Dnnl.userScratchpad()), () -> what + ": primitive descriptor creation");
                    }
                } finally {
                    dnnl_primitive_desc_destroy(hint);
                }
            }
        }
        DnnlPrimitive p = switch (pass) {
            case FORWARD -> c.bias
                    ? DnnlPrimitive.create(what, pd, DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_BIAS, DNNL_ARG_DST)
                    : DnnlPrimitive.create(what, pd, DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST);
            case BACKWARD_DATA -> DnnlPrimitive.create(what, pd, DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC);
            case BACKWARD_WEIGHTS -> c.bias
                    ? DnnlPrimitive.create(what, pd, DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS, DNNL_ARG_DIFF_BIAS)
                    : DnnlPrimitive.create(what, pd, DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS);
        };
        LOG.log(System.Logger.Level.DEBUG, () -> what + ": oneDNN picked " + p.implementation()
                + ", scratchpad " + p.scratchpadBytes() + " bytes");
        return p;
    }

    private static void createForward(dnnl_primitive_desc pd, Conv c, dnnl_memory_desc src, dnnl_memory_desc weights,
                                      dnnl_memory_desc bias, dnnl_memory_desc dst, boolean relu, String what) {
        withAttr(relu, what, attr -> Dnnl.check(dnnl_convolution_forward_primitive_desc_create(pd, Dnnl.engine(),
                dnnl_forward_training, dnnl_convolution_direct, src, weights, bias, dst, c.strides, c.dilates,
                c.padL, c.padR, attr), () -> what + ": primitive descriptor creation"));
        if (brgForwardMiscomputes(c)) {
            while (Dnnl.implementation(pd).startsWith("brg_conv_fwd")) {
                Dnnl.check(dnnl_primitive_desc_next_impl(pd), () -> what + ": no implementation other than brg_conv_fwd");
            }
        }
    }

    /**
     * Whether oneDNN's brgemm forward convolution ({@code brg_conv_fwd}, f32 on avx512_core, oneDNN 3.11) gets this
     * geometry wrong: one input channel and a width stride above 1. Of 2,362 random convolutions of one input
     * channel (strides 1 to 3) it got 43 wrong (relative error about 1, some 1e29: it read memory outside the input),
     * every one with a width stride of 2 or 3; with 2 or 3 channels, and in the backward passes, none (4,674 and 3,091
     * convolutions, against our float64 convolution). Found by the op fuzzer (tests/dev/soma/fuzz) as a difference
     * between the CPU and the GPU. The next implementation oneDNN offers (jit or gemm) is used instead.
     */
    static boolean brgForwardMiscomputes(Conv c) {
        return c.src[1] == 1 && c.strides[1] > 1;
    }

    /** Runs {@code create} with the user-scratchpad attribute, plus a ReLU post-op when asked (a copy, destroyed after). */
    private static void withAttr(boolean relu, String what, java.util.function.Consumer<dnnl_primitive_attr> create) {
        if (!relu) {
            create.accept(Dnnl.userScratchpad());
            return;
        }
        dnnl_primitive_attr attr = new dnnl_primitive_attr();
        dnnl_post_ops ops = new dnnl_post_ops();
        Dnnl.check(dnnl_primitive_attr_clone(attr, Dnnl.userScratchpad()), () -> what + ": attribute copy");
        try {
            Dnnl.check(dnnl_post_ops_create(ops), () -> what + ": post-ops creation");
            try {
                Dnnl.check(dnnl_post_ops_append_eltwise(ops, dnnl_eltwise_relu, 0f, 0f), () -> what + ": ReLU post-op");
                Dnnl.check(dnnl_primitive_attr_set_post_ops(attr, ops), () -> what + ": setting post-ops");
                create.accept(attr);
            } finally {
                dnnl_post_ops_destroy(ops);
            }
        } finally {
            dnnl_primitive_attr_destroy(attr);
        }
    }
}
