package dev.soma.backend.dnnl;

import dev.soma.memory.CachingPool;
import org.bytedeco.dnnl.dnnl_memory_desc;
import org.bytedeco.dnnl.dnnl_primitive_desc;

import java.util.Arrays;

import static org.bytedeco.dnnl.global.dnnl.*;

/**
 * oneDNN 2-d max and average pooling (padding excluded from the average, as Keras) on channels-last
 * ({@code nhwc}) data, forward and backward, one primitive per geometry, cached. Max pooling in training
 * mode writes a workspace (the arg-max of every window) that its backward reads; the caller provides that
 * memory and keeps it alive in between ({@link #workspaceBytes} says how much).
 */
public final class DnnlPooling {
    private static final System.Logger LOG = System.getLogger(DnnlPooling.class.getName());
    private static final PrimitiveCache CACHE = new PrimitiveCache("pooling", 256);

    /**
     * One pooling's geometry in oneDNN's terms: dims {@code src [N, C, H, W]} and {@code dst [N, C, OH, OW]}
     * (logical order; memory is nhwc), window, strides and paddings before and after.
     */
    public record Pool(int dataType, boolean max, long[] src, long[] dst, long[] kernel, long[] strides, long[] padL,
                       long[] padR) {
        PrimitiveKey key(String kind) {
            return new PrimitiveKey(kind, new int[] {dataType, max ? 1 : 0}, src, dst, kernel, strides, padL, padR);
        }

        int algorithm() {
            return max ? dnnl_pooling_max : dnnl_pooling_avg_exclude_padding;
        }

        String describe(String pass) {
            return (max ? "max" : "average") + " pooling " + pass + " " + Dnnl.dataTypeName(dataType) + " src"
                    + Arrays.toString(src) + " dst" + Arrays.toString(dst) + " window " + Arrays.toString(kernel)
                    + " strides " + Arrays.toString(strides) + " pad " + Arrays.toString(padL) + "/" + Arrays.toString(padR);
        }
    }

    private DnnlPooling() {}

    public static PrimitiveCache cache() {
        return CACHE;
    }

    /** Bytes of workspace the training forward writes for its backward (0 for average pooling). */
    public static long workspaceBytes(Pool p) {
        if (!p.max) return 0;
        synchronized (Dnnl.lock()) {
            return MemoryDescs.bytes(training(p).argDesc(DNNL_ARG_WORKSPACE));
        }
    }

    /**
     * {@code dst = pool(src)}. For max pooling, a non-zero {@code workspace} runs the training forward, which
     * fills {@link #workspaceBytes} bytes there for {@link #backward}; 0 runs the inference forward.
     */
    public static void forward(CachingPool pool, Pool p, long src, long dst, long workspace) {
        synchronized (Dnnl.lock()) {
            if (p.max && workspace != 0) {
                training(p).execute(pool, src, dst, workspace);
            } else {
                CACHE.get(p.key("pool_fwd_inference"), () -> buildForward(p, dnnl_forward_inference))
                        .execute(pool, src, dst);
            }
        }
    }

    /** {@code diffSrc} from {@code diffDst} (and, for max pooling, the training forward's workspace). */
    public static void backward(CachingPool pool, Pool p, long diffDst, long workspace, long diffSrc) {
        synchronized (Dnnl.lock()) {
            DnnlPrimitive b = CACHE.get(p.key("pool_bwd"), () -> buildBackward(p));
            if (p.max) b.execute(pool, diffDst, workspace, diffSrc);
            else b.execute(pool, diffDst, diffSrc);
        }
    }

    /** Implementations of the forward (training for max pooling) and backward passes. */
    public static String[] implementations(Pool p) {
        synchronized (Dnnl.lock()) {
            DnnlPrimitive f = p.max ? training(p)
                    : CACHE.get(p.key("pool_fwd_inference"), () -> buildForward(p, dnnl_forward_inference));
            return new String[] {f.implementation(), CACHE.get(p.key("pool_bwd"), () -> buildBackward(p)).implementation()};
        }
    }

    private static DnnlPrimitive training(Pool p) {
        return CACHE.get(p.key("pool_fwd_training"), () -> buildForward(p, dnnl_forward_training));
    }

    private static void createForward(dnnl_primitive_desc pd, Pool p, int propKind, dnnl_memory_desc src,
                                      dnnl_memory_desc dst, String what) {
        Dnnl.check(dnnl_pooling_forward_primitive_desc_create(pd, Dnnl.engine(), propKind, p.algorithm(), src, dst,
                p.strides, p.kernel, new long[] {0, 0}, p.padL, p.padR, Dnnl.userScratchpad()),
                () -> what + ": primitive descriptor creation");
    }

    private static DnnlPrimitive buildForward(Pool p, int propKind) {
        boolean training = propKind == dnnl_forward_training;
        String what = p.describe(training ? "forward (training)" : "forward (inference)");
        dnnl_primitive_desc pd = new dnnl_primitive_desc();
        try (NativeHandles h = new NativeHandles()) {
            createForward(pd, p, propKind, MemoryDescs.tagged(h, p.dataType, p.src, dnnl_nhwc, what),
                    MemoryDescs.tagged(h, p.dataType, p.dst, dnnl_nhwc, what), what);
        }
        DnnlPrimitive prim = training && p.max
                ? DnnlPrimitive.create(what, pd, DNNL_ARG_SRC, DNNL_ARG_DST, DNNL_ARG_WORKSPACE)
                : DnnlPrimitive.create(what, pd, DNNL_ARG_SRC, DNNL_ARG_DST);
        LOG.log(System.Logger.Level.DEBUG, () -> what + ": oneDNN picked " + prim.implementation());
        return prim;
    }

    private static DnnlPrimitive buildBackward(Pool p) {
        String what = p.describe("backward");
        dnnl_primitive_desc pd = new dnnl_primitive_desc();
        try (NativeHandles h = new NativeHandles()) {
            dnnl_memory_desc src = MemoryDescs.tagged(h, p.dataType, p.src, dnnl_nhwc, what);
            dnnl_memory_desc dst = MemoryDescs.tagged(h, p.dataType, p.dst, dnnl_nhwc, what);
            dnnl_primitive_desc hint = new dnnl_primitive_desc();
            createForward(hint, p, dnnl_forward_training, src, dst, what + " (forward hint)");
            try {
                Dnnl.check(dnnl_pooling_backward_primitive_desc_create(pd, Dnnl.engine(), p.algorithm(), src, dst,
                        p.strides, p.kernel, new long[] {0, 0}, p.padL, p.padR, hint, Dnnl.userScratchpad()),
                        () -> what + ": primitive descriptor creation");
            } finally {
                dnnl_primitive_desc_destroy(hint);
            }
        }
        DnnlPrimitive prim = p.max
                ? DnnlPrimitive.create(what, pd, DNNL_ARG_DIFF_DST, DNNL_ARG_WORKSPACE, DNNL_ARG_DIFF_SRC)
                : DnnlPrimitive.create(what, pd, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_SRC);
        LOG.log(System.Logger.Level.DEBUG, () -> what + ": oneDNN picked " + prim.implementation());
        return prim;
    }
}
