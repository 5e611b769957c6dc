package dev.soma.backend.dnnl;

import dev.soma.backend.ComputeThreads;
import dev.soma.memory.CachingPool;
import dev.soma.ops.Shapes;
import org.bytedeco.dnnl.dnnl_primitive_desc;

import java.util.Arrays;
import java.util.function.Supplier;

import static org.bytedeco.dnnl.global.dnnl.*;

/**
 * oneDNN matmul {@code c = a @ b} on plain strided memory: a is {@code [batch..., M, K]}, b {@code [batch..., K, N]},
 * c {@code [batch..., M, N]}, all of one rank (2 to 12). A batch dimension of size 1 in a or b broadcasts
 * against c's. Strides are passed through as given, so transposed or row-padded views run without a copy;
 * oneDNN's brgemm kernels take any layout whose last two dimensions have a unit stride in one of them.
 * One primitive per geometry, cached.
 *
 * <p>bf16 mixed precision ({@link #runBf16}): a and b are f32 in memory; the span each occupies is converted to bf16
 * ({@link Bf16Conversion}, same strides in a bf16 buffer), and a bf16 x bf16 matmul accumulates and writes f32 c.
 */
public final class DnnlMatmul {
    private static final System.Logger LOG = System.getLogger(DnnlMatmul.class.getName());
    private static final PrimitiveCache CACHE = new PrimitiveCache("matmul", 512);

    private DnnlMatmul() {}

    /** The cache of matmul primitives (its statistics show hits and builds). */
    public static PrimitiveCache cache() {
        return CACHE;
    }

    /** Runs {@code c = a @ b} on the given addresses; returns the (cached) primitive that ran. */
    public static DnnlPrimitive run(CachingPool pool, int dataType, long[] aDims, long[] aStrides, long[] bDims,
                                    long[] bStrides, long[] cDims, long[] cStrides, long a, long b, long c) {
        return run(pool, dataType, aDims, aStrides, bDims, bStrides, cDims, cStrides, a, b, 0, c);
    }

    /**
     * {@code c = a @ b + bias} in one primitive where {@code bias} is not 0: bias is a contiguous {@code [N]} vector of
     * c's data type, added to every row of c (oneDNN's matmul bias, broadcast over all of c's other dimensions).
     * Returns the primitive.
     */
    public static DnnlPrimitive run(CachingPool pool, int dataType, long[] aDims, long[] aStrides, long[] bDims,
                                    long[] bStrides, long[] cDims, long[] cStrides, long a, long b, long bias, long c) {
        boolean withBias = bias != 0;
        PrimitiveKey key = key(dataType, withBias, aDims, aStrides, bDims, bStrides, cDims, cStrides);
        Supplier<DnnlPrimitive> build = () -> build(dataType, aDims, aStrides, bDims, bStrides, cDims, cStrides, withBias);
        try (var threads = ComputeThreads.atMost(ComputeThreads.forWork(flops(aDims, cDims)))) {
            return withBias ? CACHE.execute(key, build, pool, a, b, bias, c) : CACHE.execute(key, build, pool, a, b, c);
        }
    }

    /** 2 M N K per product, over every batch entry of c. */
    static double flops(long[] aDims, long[] cDims) {
        double n = 2.0 * aDims[aDims.length - 1];
        for (long d : cDims) n *= d;
        return n;
    }

    /**
     * {@code c = a @ b} with f32 a, b and c whose products run in bf16: a and b are rounded to bf16 (nearest even)
     * into pool blocks for the length of the call, c is written in f32. Returns the primitive that ran.
     */
    public static DnnlPrimitive runBf16(CachingPool pool, long[] aDims, long[] aStrides, long[] bDims, long[] bStrides,
                                        long[] cDims, long[] cStrides, long a, long b, long c) {
        return runBf16(pool, aDims, aStrides, bDims, bStrides, cDims, cStrides, a, b, c, 0, 0);
    }

    /**
     * As {@link #runBf16(CachingPool, long[], long[], long[], long[], long[], long[], long, long, long)}, reading a
     * and b from bf16 copies made earlier where {@code a16} and {@code b16} are not 0 (the same strides as the f32
     * operands); an operand whose copy address is 0 is rounded for this call only.
     */
    public static DnnlPrimitive runBf16(CachingPool pool, long[] aDims, long[] aStrides, long[] bDims, long[] bStrides,
                                        long[] cDims, long[] cStrides, long a, long b, long c, long a16, long b16) {
        return runBf16(pool, aDims, aStrides, bDims, bStrides, cDims, cStrides, a, b, 0, c, a16, b16);
    }

    /**
     * As {@link #runBf16(CachingPool, long[], long[], long[], long[], long[], long[], long, long, long, long, long)},
     * adding an f32 bias {@code [N]} to every row of c in the same primitive where {@code bias} is not 0.
     */
    public static DnnlPrimitive runBf16(CachingPool pool, long[] aDims, long[] aStrides, long[] bDims, long[] bStrides,
                                        long[] cDims, long[] cStrides, long a, long b, long bias, long c, long a16,
                                        long b16) {
        synchronized (Dnnl.lock()) {
            boolean withBias = bias != 0;
            DnnlPrimitive p = CACHE.get(key(dnnl_bf16, withBias, aDims, aStrides, bDims, bStrides, cDims, cStrides),
                    () -> build(dnnl_bf16, aDims, aStrides, bDims, bStrides, cDims, cStrides, withBias));
            CachingPool.Block aBlock = a16 != 0 ? null : Bf16Conversion.convert(pool, a, Shapes.span(aDims, aStrides));
            try {
                CachingPool.Block bBlock = b16 != 0 ? null : Bf16Conversion.convert(pool, b, Shapes.span(bDims, bStrides));
                try {
                    long aAt = aBlock == null ? a16 : aBlock.address();
                    long bAt = bBlock == null ? b16 : bBlock.address();
                    if (withBias) p.execute(pool, aAt, bAt, bias, c);
                    else p.execute(pool, aAt, bAt, c);
                } finally {
                    if (bBlock != null) pool.release(bBlock);
                }
            } finally {
                if (aBlock != null) pool.release(aBlock);
            }
            return p;
        }
    }

    /**
     * The (cached) primitive for this geometry, without running it: to ask which implementation it uses.
     * {@code dataType} is a's and b's: f32, or bf16 for {@link #runBf16}'s product (c is f32 then).
     */
    public static DnnlPrimitive primitive(int dataType, long[] aDims, long[] aStrides, long[] bDims, long[] bStrides,
                                          long[] cDims, long[] cStrides) {
        PrimitiveKey key = key(dataType, false, aDims, aStrides, bDims, bStrides, cDims, cStrides);
        return CACHE.get(key, () -> build(dataType, aDims, aStrides, bDims, bStrides, cDims, cStrides));
    }

    private static PrimitiveKey key(int dataType, boolean withBias, long[] aDims, long[] aStrides, long[] bDims,
                                    long[] bStrides, long[] cDims, long[] cStrides) {
        return new PrimitiveKey(withBias ? "matmul+bias" : "matmul", new int[] {dataType}, aDims, aStrides, bDims,
                bStrides, cDims, cStrides);
    }

    private static DnnlPrimitive build(int dataType, long[] aDims, long[] aStrides, long[] bDims, long[] bStrides,
                                       long[] cDims, long[] cStrides) {
        return build(dataType, aDims, aStrides, bDims, bStrides, cDims, cStrides, false);
    }

    private static DnnlPrimitive build(int dataType, long[] aDims, long[] aStrides, long[] bDims, long[] bStrides,
                                       long[] cDims, long[] cStrides, boolean withBias) {
        int cType = dataType == dnnl_bf16 ? dnnl_f32 : dataType; // bf16 products write f32
        String what = "matmul " + Dnnl.dataTypeName(dataType) + (cType != dataType ? " -> " + Dnnl.dataTypeName(cType) : "")
                + " a" + Arrays.toString(aDims) + " strides " + Arrays.toString(aStrides)
                + " @ b" + Arrays.toString(bDims) + " strides " + Arrays.toString(bStrides)
                + (withBias ? " + bias[" + cDims[cDims.length - 1] + "]" : "")
                + " -> c" + Arrays.toString(cDims) + " strides " + Arrays.toString(cStrides);
        // The bias as oneDNN wants it: c's rank, 1 everywhere but the last dimension.
        long[] biasDims = new long[cDims.length];
        Arrays.fill(biasDims, 1);
        biasDims[cDims.length - 1] = cDims[cDims.length - 1];
        dnnl_primitive_desc pd = new dnnl_primitive_desc();
        try (NativeHandles h = new NativeHandles()) {
            Dnnl.check(dnnl_matmul_primitive_desc_create(pd, Dnnl.engine(),
                    MemoryDescs.strided(h, dataType, aDims, aStrides, what),
                    MemoryDescs.strided(h, dataType, bDims, bStrides, what),
                    withBias ? MemoryDescs.strided(h, cType, biasDims, Shapes.contiguousStrides(biasDims), what) : null,
                    MemoryDescs.strided(h, cType, cDims, cStrides, what),
                    Dnnl.userScratchpad()), () -> what + ": primitive descriptor creation");
        }
        DnnlPrimitive p = withBias
                ? DnnlPrimitive.create(what, pd, DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_BIAS, DNNL_ARG_DST)
                : DnnlPrimitive.create(what, pd, DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST);
        LOG.log(System.Logger.Level.DEBUG, () -> what + ": oneDNN picked " + p.implementation()
                + ", scratchpad " + p.scratchpadBytes() + " bytes");
        return p;
    }
}
