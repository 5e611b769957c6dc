package dev.soma.ops;

import dev.soma.backend.Backends;
import dev.soma.backend.dnnl.DnnlMatmul;
import dev.soma.backend.dnnl.PrimitiveCache;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.Reference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** Forward matmul against a plain triple loop: 2-d, vectors, batched, broadcast, views; implementation and cache. */
@ExtendWith(NoLeaks.class)
class MatmulTest {
    private final SplittableRandom random = new SplittableRandom(42);

    private Tensor rand(DType dtype, long... shape) {
        int n = (int) Shapes.numel(shape);
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = random.nextGaussian();
        Tensor t = Tensor.of(v, shape);
        return dtype == DType.F64 ? t : t.to(dtype);
    }

    /** Checks a @ b (any views) against the triple loop on their values; bound 1e-4 for f32, 1e-12 for f64. */
    private static void assertMatmul(Tensor a, Tensor b) {
        Tensor out = a.matmul(b);
        long[] aFull = a.ndim() == 1 ? new long[] {1, a.size(0)} : a.shape();
        long[] bFull = b.ndim() == 1 ? new long[] {b.size(0), 1} : b.shape();
        double[] ref = MatmulReference.matmul(a.toDoubleArray(), aFull, b.toDoubleArray(), bFull);
        long[] expected = MatmulReference.shape(aFull, bFull);
        if (a.ndim() == 1) expected = drop(expected, expected.length - 2);
        if (b.ndim() == 1) expected = drop(expected, expected.length - 1);
        assertArrayEquals(expected, out.shape(), "shape of " + a.describe() + " @ " + b.describe());
        assertEquals(a.dtype(), out.dtype());
        double bound = a.dtype() == DType.F32 ? Reference.REDUCTION_F32 : 1e-12;
        Reference.assertClose(out.toDoubleArray(), ref, bound);
    }

    private static long[] drop(long[] s, int i) {
        long[] out = new long[s.length - 1];
        for (int j = 0, k = 0; j < s.length; j++) if (j != i) out[k++] = s[j];
        return out;
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"F32", "F64"})
    void twoDimensionalProducts(DType dt) {
        try (Scope s = Scope.open()) {
            assertMatmul(rand(dt, 5, 7), rand(dt, 7, 3));
            assertMatmul(rand(dt, 1, 1), rand(dt, 1, 1));
            assertMatmul(rand(dt, 1, 9), rand(dt, 9, 1));
            assertMatmul(rand(dt, 64, 96), rand(dt, 96, 80));
            assertMatmul(rand(dt, 200, 300), rand(dt, 300, 130));
        }
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"F32", "F64"})
    void vectorsFollowNumPy(DType dt) {
        try (Scope s = Scope.open()) {
            assertMatmul(rand(dt, 7), rand(dt, 7, 3));
            assertMatmul(rand(dt, 5, 7), rand(dt, 7));
            assertMatmul(rand(dt, 7), rand(dt, 7));
            assertMatmul(rand(dt, 4, 5, 7), rand(dt, 7));
            assertMatmul(rand(dt, 7), rand(dt, 4, 7, 3));
            assertEquals(0, rand(dt, 7).matmul(rand(dt, 7)).ndim());
        }
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"F32", "F64"})
    void batchedAndBroadcast(DType dt) {
        try (Scope s = Scope.open()) {
            assertMatmul(rand(dt, 4, 5, 7), rand(dt, 7, 3));       // [B,M,K] x [K,N]: one GEMM over all rows
            assertMatmul(rand(dt, 4, 5, 7), rand(dt, 4, 7, 3));    // [B,M,K] x [B,K,N]
            assertMatmul(rand(dt, 5, 7), rand(dt, 4, 7, 3));       // [M,K] x [B,K,N]
            assertMatmul(rand(dt, 2, 1, 5, 7), rand(dt, 3, 7, 6)); // both broadcast
            assertMatmul(rand(dt, 1, 5, 7), rand(dt, 4, 7, 3));
            assertMatmul(rand(dt, 2, 3, 5, 7), rand(dt, 2, 3, 7, 2));
        }
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"F32", "F64"})
    void stridedViews(DType dt) {
        try (Scope s = Scope.open()) {
            Tensor a = rand(dt, 7, 5).transpose(0, 1);              // [5,7] column-major
            Tensor b = rand(dt, 3, 7).transpose(0, 1);              // [7,3] column-major
            assertMatmul(a, rand(dt, 7, 3));
            assertMatmul(rand(dt, 5, 7), b);
            assertMatmul(a, b);
            assertMatmul(rand(dt, 4, 7, 5).transpose(1, 2), rand(dt, 4, 3, 7).transpose(1, 2));
            assertMatmul(rand(dt, 5, 4, 7).permute(1, 0, 2), rand(dt, 7, 3));   // batch stride smaller than the matrix
            assertMatmul(rand(dt, 4, 7, 5).transpose(1, 2), rand(dt, 7, 3));    // transposed rows do not merge
            assertMatmul(rand(dt, 1, 5, 7).expand(4, 5, 7), rand(dt, 4, 7, 3)); // stride-0 batch
            assertMatmul(rand(dt, 1, 7).expand(5, 7), rand(dt, 7, 3));          // stride-0 rows: copied
            assertMatmul(rand(dt, 5, 3, 7).permute(2, 0, 1), rand(dt, 3, 4));   // no unit stride: copied
            assertMatmul(rand(dt, 6, 7).transpose(0, 1), rand(dt, 6));          // transposed matrix @ vector
        }
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"F32", "F64"})
    void emptyProducts(DType dt) {
        try (Scope s = Scope.open()) {
            Tensor z = rand(dt, 3, 0).matmul(rand(dt, 0, 4));
            assertArrayEquals(new long[] {3, 4}, z.shape());
            assertArrayEquals(new double[12], z.toDoubleArray());
            assertArrayEquals(new long[] {0, 4}, rand(dt, 0, 5).matmul(rand(dt, 5, 4)).shape());
            assertArrayEquals(new long[] {2, 0, 3, 4}, rand(dt, 2, 0, 3, 5).matmul(rand(dt, 5, 4)).shape());
        }
    }

    @Test
    void f32RunsOnOptimisedOneDnnKernelsWithoutCopies() {
        try (Scope s = Scope.open()) {
            String[][] cases = {
                {"plain", describe(rand(DType.F32, 64, 96), rand(DType.F32, 96, 80))},
                {"a transposed", describe(rand(DType.F32, 96, 64).transpose(0, 1), rand(DType.F32, 96, 80))},
                {"b transposed", describe(rand(DType.F32, 64, 96), rand(DType.F32, 80, 96).transpose(0, 1))},
                {"batched", describe(rand(DType.F32, 4, 64, 96), rand(DType.F32, 4, 96, 80))},
                {"batched transposed", describe(rand(DType.F32, 4, 96, 64).transpose(1, 2), rand(DType.F32, 96, 80))},
            };
            for (String[] c : cases) {
                String impl = c[1];
                assertTrue(impl.startsWith("onednn "), c[0] + ": " + impl);
                assertFalse(impl.contains("ref"), c[0] + " runs on oneDNN's reference kernel: " + impl);
                assertFalse(impl.contains("copying"), c[0] + " copies an operand: " + impl);
            }
            String copied = describe(rand(DType.F32, 5, 3, 7).permute(2, 0, 1), rand(DType.F32, 3, 4));
            assertTrue(copied.contains("after copying a"), copied);
            assertTrue(describe(rand(DType.F64, 4, 5), rand(DType.F64, 5, 3)).startsWith("soma_cpu_matmul"));
        }
    }

    private static String describe(Tensor a, Tensor b) {
        long[] shape = MatmulReference.shape(a.shape(), b.shape());
        try (Tensor out = Tensor.empty(a.dtype(), Device.cpu(), shape)) {
            return Backends.cpu().linalg().matmulImplementation(a, b, out);
        }
    }

    @Test
    void aRepeatedShapeIsACacheHitThatBuildsNothing() {
        PrimitiveCache cache = DnnlMatmul.cache();
        try (Scope s = Scope.open()) {
            Tensor a = rand(DType.F32, 13, 17);
            Tensor b = rand(DType.F32, 17, 19);
            PrimitiveCache.Stats before = cache.stats();
            a.matmul(b);
            PrimitiveCache.Stats first = cache.stats();
            assertEquals(before.builds() + 1, first.builds(), "first use of a new shape builds one primitive");
            Tensor c = rand(DType.F32, 13, 17);   // other tensors, same geometry
            Tensor d = rand(DType.F32, 17, 19);
            assertMatmul(c, d);
            PrimitiveCache.Stats second = cache.stats();
            assertEquals(first.builds(), second.builds(), "a repeated shape must not build descriptors again");
            assertEquals(first.hits() + 1, second.hits());
            a.transpose(0, 1).contiguous().transpose(0, 1).matmul(b);   // same shape, other strides: a new primitive
            assertEquals(second.builds() + 1, cache.stats().builds());
        }
    }

    @Test
    void largeProductsAreAccurate() {
        try (Scope s = Scope.open()) {
            Tensor a = rand(DType.F32, 3, 130, 257);
            Tensor b = rand(DType.F32, 257, 190).transpose(0, 1).contiguous().transpose(0, 1);
            assertMatmul(a, b);
        }
    }
}
