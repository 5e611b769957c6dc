package dev.soma.backend;

import dev.soma.backend.dnnl.Dnnl;
import dev.soma.backend.dnnl.DnnlMatmul;
import dev.soma.jni.CpuKernels;
import dev.soma.ops.Shapes;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

import java.util.Arrays;


/**
 * Matrix products on the CPU: f32 through oneDNN's matmul (brgemm kernels), handed the operands' own strides
 * so transposed views need no copy; f64 through our portable kernel in native/src/linalg.cpp (oneDNN has no
 * f64 matmul on the CPU; f64 serves gradient checks). An operand whose last two dimensions have no unit
 * stride (a strided slice, say) is copied to contiguous first, since oneDNN would fall back to its
 * reference kernel for it. Inside a bf16 {@link MixedPrecision} scope an f32 product multiplies in bf16
 * ({@link DnnlMatmul#runBf16}), reading operands from {@link Bf16Copy}s where the op kept them.
 */
final class CpuLinalg implements LinalgKernels {

    /** The oneDNN geometry of one product: dims and strides of a, b and c, all of one rank. */
    private record Geometry(long[] aDims, long[] aStrides, long[] bDims, long[] bStrides, long[] cDims, long[] cStrides) {}

    @Override
    public void matmul(Tensor a, Tensor b, Tensor out) {
        matmul(a, b, out, null, null);
    }

    @Override
    public void matmul(Tensor a, Tensor b, Tensor out, Bf16Copy a16, Bf16Copy b16) {
        if (out.numel() == 0) return;
        if (a.size(-1) == 0) {
            CpuKernels.soma_cpu_fill(out.dtype().code(), out.address(), out.numel(), 0.0);
            return;
        }
        if (out.dtype() == DType.F64) {
            nativeMatmul(a, b, out);
            return;
        }
        withOperands(a, b, out, (g, ca, cb) -> {
            if (bf16(out)) {
                DnnlMatmul.runBf16(out.backend().pool(), g.aDims, g.aStrides, g.bDims, g.bStrides, g.cDims, g.cStrides,
                        ca.address(), cb.address(), out.address(),
                        Bf16Copy.addressIn(a16, ca), Bf16Copy.addressIn(b16, cb));
            } else {
                DnnlMatmul.run(out.backend().pool(), Dnnl.dataType(out.dtype(), "matmul"), g.aDims, g.aStrides,
                        g.bDims, g.bStrides, g.cDims, g.cStrides, ca.address(), cb.address(), out.address());
            }
        });
    }

    /**
     * oneDNN's matmul with its bias argument, for f32 (its products in bf16 inside a bf16 scope, the bias added in
     * f32); f64 returns false (the op adds the bias apart).
     */
    @Override
    public boolean matmulBias(Tensor a, Tensor b, Tensor bias, Tensor out, Bf16Copy a16, Bf16Copy b16) {
        if (out.dtype() != DType.F32 || a.size(-1) == 0) return false;
        if (out.numel() == 0) return true;
        withOperands(a, b, out, (g, ca, cb) -> {
            if (bf16(out)) {
                DnnlMatmul.runBf16(out.backend().pool(), g.aDims, g.aStrides, g.bDims, g.bStrides, g.cDims, g.cStrides,
                        ca.address(), cb.address(), bias.address(), out.address(),
                        Bf16Copy.addressIn(a16, ca), Bf16Copy.addressIn(b16, cb));
            } else {
                DnnlMatmul.run(out.backend().pool(), Dnnl.dataType(out.dtype(), "matmul"), g.aDims, g.aStrides,
                        g.bDims, g.bStrides, g.cDims, g.cStrides, ca.address(), cb.address(), bias.address(),
                        out.address());
            }
        });
        return true;
    }

    /** One oneDNN product on a and b as oneDNN can read them (copied to contiguous where not) and its geometry. */
    private interface Product {
        void run(Geometry g, Tensor a, Tensor b);
    }

    private static void withOperands(Tensor a, Tensor b, Tensor out, Product product) {
        Tensor ca = matrixFriendly(a) && batchesMerge(a) && !expandedAlone(a, b, out) ? a : contiguousCopy(a);
        Tensor cb = matrixFriendly(b) && batchesMerge(b) && !batchedSingleRow(b) && !expandedAlone(b, a, out)
                ? b : contiguousCopy(b);
        try {
            product.run(geometry(ca.shape(), ca.strides(), cb.shape(), cb.strides(), out.shape()), ca, cb);
        } finally {
            if (ca != a) ca.close();
            if (cb != b) cb.close();
        }
    }

    @Override
    public String matmulImplementation(Tensor a, Tensor b, Tensor out) {
        if (out.numel() == 0 || a.size(-1) == 0) return "none (empty product: nothing to multiply)";
        if (out.dtype() == DType.F64) return "soma_cpu_matmul (f64; oneDNN has no f64 matmul on the CPU)";
        long[] as = matrixFriendly(a) ? a.strides() : Shapes.contiguousStrides(a.shape());
        long[] bs = matrixFriendly(b) ? b.strides() : Shapes.contiguousStrides(b.shape());
        Geometry g = geometry(a.shape(), as, b.shape(), bs, out.shape());
        int type = bf16(out) ? org.bytedeco.dnnl.global.dnnl.dnnl_bf16 : Dnnl.dataType(out.dtype(), "matmul");
        String impl = DnnlMatmul.primitive(type, g.aDims, g.aStrides, g.bDims, g.bStrides, g.cDims, g.cStrides)
                .implementation();
        String copies = (!Arrays.equals(as, a.strides()) ? " after copying a" : "")
                + (!Arrays.equals(bs, b.strides()) ? " after copying b" : "");
        return "onednn " + impl + (bf16(out) ? " (bf16 products, f32 out)" : "") + copies;
    }

    /** A bf16 mixed-precision scope is open and the product is f32. */
    private static boolean bf16(Tensor out) {
        return out.dtype() == DType.F32 && MixedPrecision.bf16();
    }

    // ------------------------------------------------------------------ oneDNN geometry

    /**
     * Brings a and b to out's rank (leading size-1 dimensions), turns broadcast dimensions (stride 0) into
     * size 1 (oneDNN broadcasts those), and gives every size-1 dimension a stride that looks plain. When b
     * has no batch, a is not broadcast and a's batch and row dimensions lie evenly in memory, the product becomes one 2-d GEMM
     * over all rows, which is faster than a batch of small ones.
     */
    private static Geometry geometry(long[] aShape, long[] aStrides, long[] bShape, long[] bStrides, long[] cShape) {
        int r = cShape.length;
        long[][] ga = normalise(aShape, aStrides, r);
        long[][] gb = normalise(bShape, bStrides, r);
        long[] cStrides = Shapes.contiguousStrides(cShape);
        if (r > 2 && allOnes(gb[0], r - 2) && Arrays.equals(ga[0], 0, r - 2, cShape, 0, r - 2)) {
            long rowStride = mergedStride(ga[0], ga[1], r - 1);
            if (rowStride >= 0) {
                long rows = cShape[r - 2];
                for (int i = 0; i < r - 2; i++) rows *= cShape[i];
                long k = ga[0][r - 1];
                long n = cShape[r - 1];
                long[][] a2 = normalise(new long[] {rows, k}, new long[] {rowStride, ga[1][r - 1]}, 2);
                long[][] b2 = normalise(new long[] {k, n}, new long[] {gb[1][r - 2], gb[1][r - 1]}, 2);
                return new Geometry(a2[0], a2[1], b2[0], b2[1], new long[] {rows, n}, new long[] {n, 1});
            }
        }
        return new Geometry(ga[0], ga[1], gb[0], gb[1], cShape, cStrides);
    }

    /** Dims and strides at rank r: padded, broadcast batch dimensions collapsed to size 1, size-1 strides made plain. */
    private static long[][] normalise(long[] shape, long[] strides, int r) {
        long[] dims = new long[r];
        long[] st = new long[r];
        int lead = r - shape.length;
        for (int i = 0; i < r; i++) {
            if (i < lead) {
                dims[i] = 1;
            } else {
                // Only batch dimensions broadcast in oneDNN; a broadcast row or column stays and fails matrixFriendly.
                dims[i] = strides[i - lead] == 0 && i < r - 2 ? 1 : shape[i - lead];
                st[i] = strides[i - lead];
            }
        }
        long extent = 1;
        for (int i = r - 1; i >= 0; i--) {
            if (dims[i] == 1) st[i] = extent;
            extent = Math.max(extent, dims[i] * st[i]);
        }
        return new long[][] {dims, st};
    }

    private static boolean allOnes(long[] dims, int count) {
        for (int i = 0; i < count; i++) if (dims[i] != 1) return false;
        return true;
    }

    /**
     * The stride of the one dimension that dims[0..end) merge into (a row index over batch and M), or -1 when
     * they do not lie evenly in memory.
     */
    private static long mergedStride(long[] dims, long[] strides, int end) {
        long stride = -1;
        long span = 0;
        for (int i = end - 1; i >= 0; i--) {
            if (dims[i] == 1) continue;
            if (stride < 0) {
                stride = strides[i];
                span = dims[i] * strides[i];
            } else if (strides[i] == span) {
                span *= dims[i];
            } else {
                return -1;
            }
        }
        return stride < 0 ? strides[end - 1] : stride;
    }

    /**
     * A right operand of one row (K = 1) with batch dimensions, which oneDNN 3.11's f32 matmul multiplies wrongly
     * when the batch is not dense in memory (a slice along the batch, say): in 20,000 random strided products
     * against our float64 kernel, every one of the 356 wrong ones had such a B (and N of at least 2), and no other
     * kind was wrong. Found by the op fuzzer (tests/dev/soma/fuzz). It holds only batch x N elements, so it is copied
     * whole rather than tested for density.
     */
    private static boolean batchedSingleRow(Tensor b) {
        int r = b.ndim();
        if (r < 3 || b.size(-2) != 1) return false;
        for (int i = 0; i < r - 2; i++) if (b.size(i) > 1) return true;
        return false;
    }

    /**
     * Whether t is expanded (stride 0) along a batch dimension of out that the other operand does not have either:
     * oneDNN, which reads a stride-0 dimension as size 1 (normalise), then refuses the product, since every
     * dimension of out must be one of its operands'. So t is materialised.
     */
    private static boolean expandedAlone(Tensor t, Tensor other, Tensor out) {
        int r = out.ndim();
        for (int i = 0; i < r - 2; i++) {
            int at = i - (r - t.ndim()), o = i - (r - other.ndim());
            boolean expanded = at >= 0 && t.size(at) > 1 && t.strides()[at] == 0;
            boolean otherLacks = o < 0 || other.size(o) == 1 || other.strides()[o] == 0;
            if (expanded && otherLacks) return true;
        }
        return false;
    }

    /**
     * Whether oneDNN 3.11's f32 matmul reads this operand right: with more than one batch dimension, only when its
     * matrices and batches are dense in memory (each matrix packed, plain or transposed, and each batch dimension
     * stepping over exactly the ones inside it). A slice along the first of several batch dimensions, say, gave wrong
     * products (602 of 5,000 random strided products of rank 4 to 7 against our float64 kernel; rank 3 was right).
     * Found by the op fuzzer (tests/dev/soma/fuzz).
     */
    private static boolean batchesMerge(Tensor t) {
        int r = t.ndim();
        if (r <= 3) return true;
        long[][] g = normalise(t.shape(), t.strides(), r);
        long rows = g[0][r - 2], cols = g[0][r - 1], rs = g[1][r - 2], cs = g[1][r - 1];
        boolean packed = (cs == 1 && (rs == cols || rows == 1)) || (rs == 1 && (cs == rows || cols == 1));
        if (!packed) return false;
        long extent = rows * cols;
        for (int i = r - 3; i >= 0; i--) {
            if (g[0][i] == 1) continue;
            if (g[1][i] != extent) return false;
            extent *= g[0][i];
        }
        return true;
    }

    /** One of the last two dimensions has unit stride and the other a leading dimension at least its width. */
    private static boolean matrixFriendly(Tensor t) {
        long[][] g = normalise(t.shape(), t.strides(), t.ndim());
        int r = t.ndim();
        long rows = g[0][r - 2], cols = g[0][r - 1], rs = g[1][r - 2], cs = g[1][r - 1];
        return (cs == 1 && rs >= cols) || (rs == 1 && cs >= rows);
    }

    private static Tensor contiguousCopy(Tensor t) {
        Tensor c = Tensor.empty(t.dtype(), t.device(), t.shape()).keep();
        t.backend().memory().copy(t, c);
        return c;
    }

    // ------------------------------------------------------------------ native fallback (f64)

    private static void nativeMatmul(Tensor a, Tensor b, Tensor out) {
        long[] c = out.shape();
        int r = c.length;
        long m = c[r - 2], n = c[r - 1], k = a.size(-1);
        long[] batch = Arrays.copyOf(c, r - 2);
        long[] aTarget = Arrays.copyOf(c, r);
        aTarget[r - 1] = k;
        long[] bTarget = Arrays.copyOf(c, r);
        bTarget[r - 2] = k;
        CpuKernels.soma_cpu_matmul(out.dtype().code(), r - 2, batch, m, n, k,
                a.address(), Shapes.broadcastStrides(a, aTarget), b.address(), Shapes.broadcastStrides(b, bTarget),
                out.address());
    }
}
