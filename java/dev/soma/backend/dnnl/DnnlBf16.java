package dev.soma.backend.dnnl;

import dev.soma.memory.CachingPool;
import org.bytedeco.dnnl.dnnl_primitive_desc;

import static org.bytedeco.dnnl.global.dnnl.*;

/**
 * float32 to bfloat16 conversion of a dense run of elements by a cached oneDNN reorder (its JIT kernel
 * rounds to nearest even, as {@code vcvtneps2bf16}), into a block of Soma's pool that the caller releases.
 * Used by the bf16 paths of {@link DnnlConvolution} and {@link DnnlMatmul}: oneDNN's bf16 primitives take
 * bf16 inputs but may write float32, so only the inputs are converted.
 */
public final class DnnlBf16 {
    private static final System.Logger LOG = System.getLogger(DnnlBf16.class.getName());
    private static final PrimitiveCache CONVERSIONS = new PrimitiveCache("f32 to bf16 conversions", 256);
    /** Elements per row of the 2-d view a conversion runs on: rows are what oneDNN's reorder parallelises over. */
    private static final long ROW = 1024;
    /** Elements each thread has converted: tests count how often the same values are rounded. */
    private static final ThreadLocal<long[]> CONVERTED = ThreadLocal.withInitial(() -> new long[1]);

    private DnnlBf16() {}

    public static PrimitiveCache cache() {
        return CONVERSIONS;
    }

    /** float32 elements the calling thread has converted to bf16 by {@link #convert} so far. */
    public static long convertedElementsOnThisThread() {
        return CONVERTED.get()[0];
    }

    /**
     * A fresh pool block holding {@code count} float32 values from {@code src} as bf16. Release it with
     * {@code pool.release}. Call under {@link Dnnl#lock()} when the result feeds a primitive run under the same lock.
     */
    public static CachingPool.Block convert(CachingPool pool, long src, long count) {
        CachingPool.Block out = pool.allocate(Math.max(2 * count, 2), 0);
        try {
            long rows = count / ROW;
            long tail = count - rows * ROW;
            if (rows > 0) reorder(rows, ROW).execute(pool, src, out.address());
            if (tail > 0) reorder(1, tail).execute(pool, src + 4 * rows * ROW, out.address() + 2 * rows * ROW);
            CONVERTED.get()[0] += count;
            return out;
        } catch (RuntimeException e) {
            pool.release(out);
            throw e;
        }
    }

    /** The implementation of a conversion of {@code count} elements (builds it if needed). */
    public static String implementation(long count) {
        return reorder(Math.max(count / ROW, 1), count >= ROW ? ROW : count).implementation();
    }

    private static DnnlPrimitive reorder(long rows, long cols) {
        long[] dims = {rows, cols};
        return CONVERSIONS.get(new PrimitiveKey("f32_to_bf16", new int[0], dims), () -> build(dims));
    }

    private static DnnlPrimitive build(long[] dims) {
        String what = "f32 to bf16 conversion of " + dims[0] + "x" + dims[1] + " elements";
        dnnl_primitive_desc pd = new dnnl_primitive_desc();
        try (NativeHandles h = new NativeHandles()) {
            Dnnl.check(dnnl_reorder_primitive_desc_create(pd, MemoryDescs.tagged(h, dnnl_f32, dims, dnnl_ab, what),
                    Dnnl.engine(), MemoryDescs.tagged(h, dnnl_bf16, dims, dnnl_ab, what), Dnnl.engine(),
                    Dnnl.userScratchpad()), () -> what + ": primitive descriptor creation");
        }
        DnnlPrimitive p = DnnlPrimitive.create(what, pd, DNNL_ARG_FROM, DNNL_ARG_TO);
        LOG.log(System.Logger.Level.DEBUG, () -> what + ": oneDNN picked " + p.implementation());
        return p;
    }
}
