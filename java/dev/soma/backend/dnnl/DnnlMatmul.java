package dev.soma.backend.dnnl;

import dev.soma.backend.ComputeThreads;
import dev.soma.memory.CachingPool;
import org.bytedeco.dnnl.dnnl_primitive_desc;

import java.util.Arrays;

import static org.bytedeco.dnnl.global.dnnl.*;

/**
 * oneDNN matmul {@code c = a @ b} on plain strided memory: a is {@code [batch..., M, K]}, b {@code [batch..., K, N]},
 * c {@code [batch..., M, N]}, all of one rank (2 to 12). A batch dimension of size 1 in a or b broadcasts
 * against c's. Strides are passed through as given, so transposed or row-padded views run without a copy;
 * oneDNN's brgemm kernels take any layout whose last two dimensions have a unit stride in one of them.
 * One primitive per geometry, cached.
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
        PrimitiveKey key = key(dataType, aDims, aStrides, bDims, bStrides, cDims, cStrides);
        try (var threads = ComputeThreads.atMost(ComputeThreads.forWork(flops(aDims, cDims)))) {
            return CACHE.execute(key, () -> build(dataType, aDims, aStrides, bDims, bStrides, cDims, cStrides), pool, a, b, c);
        }
    }

    /** 2 M N K per product, over every batch entry of c. */
    static double flops(long[] aDims, long[] cDims) {
        double n = 2.0 * aDims[aDims.length - 1];
        for (long d : cDims) n *= d;
        return n;
    }

    /** The (cached) primitive for this geometry, without running it: to ask which implementation it uses. */
    public static DnnlPrimitive primitive(int dataType, long[] aDims, long[] aStrides, long[] bDims, long[] bStrides,
                                          long[] cDims, long[] cStrides) {
        PrimitiveKey key = key(dataType, aDims, aStrides, bDims, bStrides, cDims, cStrides);
        return CACHE.get(key, () -> build(dataType, aDims, aStrides, bDims, bStrides, cDims, cStrides));
    }

    private static PrimitiveKey key(int dataType, long[] aDims, long[] aStrides, long[] bDims, long[] bStrides,
                                    long[] cDims, long[] cStrides) {
        return new PrimitiveKey("matmul", new int[] {dataType}, aDims, aStrides, bDims, bStrides, cDims, cStrides);
    }

    private static DnnlPrimitive build(int dataType, long[] aDims, long[] aStrides, long[] bDims, long[] bStrides,
                                       long[] cDims, long[] cStrides) {
        String what = "matmul " + Dnnl.dataTypeName(dataType) + " a" + Arrays.toString(aDims) + " strides " + Arrays.toString(aStrides)
                + " @ b" + Arrays.toString(bDims) + " strides " + Arrays.toString(bStrides)
                + " -> c" + Arrays.toString(cDims) + " strides " + Arrays.toString(cStrides);
        dnnl_primitive_desc pd = new dnnl_primitive_desc();
        try (NativeHandles h = new NativeHandles()) {
            Dnnl.check(dnnl_matmul_primitive_desc_create(pd, Dnnl.engine(),
                    MemoryDescs.strided(h, dataType, aDims, aStrides, what),
                    MemoryDescs.strided(h, dataType, bDims, bStrides, what),
                    null,
                    MemoryDescs.strided(h, dataType, cDims, cStrides, what),
                    Dnnl.userScratchpad()), () -> what + ": primitive descriptor creation");
        }
        DnnlPrimitive p = DnnlPrimitive.create(what, pd, DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST);
        LOG.log(System.Logger.Level.DEBUG, () -> what + ": oneDNN picked " + p.implementation()
                + ", scratchpad " + p.scratchpadBytes() + " bytes");
        return p;
    }
}
