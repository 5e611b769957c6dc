package dev.soma.backend.dnnl;

import dev.soma.backend.Backends;
import dev.soma.errors.NativeException;
import dev.soma.memory.Scope;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.bytedeco.dnnl.dnnl_primitive_desc;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import static org.bytedeco.dnnl.global.dnnl.*;
import static org.junit.jupiter.api.Assertions.*;

/** The generic oneDNN layer on its own: building through MemoryDescs, caching, eviction, status errors. */
@ExtendWith(NoLeaks.class)
class PrimitiveCacheTest {
    /** A plain row-major f32 matmul m x k @ k x n built the way any primitive kind would be. */
    private static DnnlPrimitive build(long m, long k, long kb, long n) {
        String what = "test matmul " + m + "x" + k + " @ " + kb + "x" + n;
        dnnl_primitive_desc pd = new dnnl_primitive_desc();
        try (NativeHandles h = new NativeHandles()) {
            Dnnl.check(dnnl_matmul_primitive_desc_create(pd, Dnnl.engine(),
                    MemoryDescs.tagged(h, dnnl_f32, new long[] {m, k}, dnnl_ab, what),
                    MemoryDescs.tagged(h, dnnl_f32, new long[] {kb, n}, dnnl_ab, what), null,
                    MemoryDescs.tagged(h, dnnl_f32, new long[] {m, n}, dnnl_ab, what),
                    Dnnl.userScratchpad()), () -> what + ": primitive descriptor creation");
        }
        return DnnlPrimitive.create(what, pd, DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST);
    }

    private static PrimitiveKey key(long m, long k, long n) {
        return new PrimitiveKey("test", new int[] {dnnl_f32}, new long[] {m, k, n});
    }

    @Test
    void hitsReuseEvictionsDestroy() {
        PrimitiveCache cache = new PrimitiveCache("test", 2);
        try (Scope s = Scope.open()) {
            Tensor a = Tensor.full(2, 2, 3);
            Tensor b = Tensor.full(0.5, 3, 4);
            Tensor c = Tensor.empty(2, 4);
            DnnlPrimitive p = cache.execute(key(2, 3, 4), () -> build(2, 3, 3, 4), Backends.cpu().pool(),
                    a.address(), b.address(), c.address());
            for (float v : c.toFloatArray()) assertEquals(3f, v);
            assertSame(p, cache.get(key(2, 3, 4), () -> fail("a hit must not build")));
            assertEquals(new PrimitiveCache.Stats(1, 1, 0, 1), cache.stats());
            cache.get(key(5, 3, 4), () -> build(5, 3, 3, 4));
            cache.get(key(6, 3, 4), () -> build(6, 3, 3, 4));   // evicts the least recently used: 2x3x4
            assertEquals(1, cache.stats().evictions());
            assertEquals(2, cache.stats().size());
            assertThrows(IllegalStateException.class,
                    () -> p.execute(Backends.cpu().pool(), a.address(), b.address(), c.address()));
        } finally {
            cache.clear();
        }
        assertEquals(0, cache.stats().size());
    }

    @Test
    void aRejectedConfigurationIsANativeExceptionNamingIt() {
        PrimitiveCache cache = new PrimitiveCache("test", 4);
        NativeException e = assertThrows(NativeException.class, () -> cache.get(key(2, 3, 4), () -> build(2, 3, 5, 4)));
        assertTrue(e.getMessage().contains("test matmul 2x3 @ 5x4"), e.getMessage());
        assertTrue(e.getMessage().contains("dnnl_invalid_arguments"), e.getMessage());
        assertEquals(0, cache.stats().size());
        assertEquals(0, cache.stats().builds());
    }
}
