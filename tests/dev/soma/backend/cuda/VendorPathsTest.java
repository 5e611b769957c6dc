package dev.soma.backend.cuda;

import dev.soma.backend.ConvKernels.Geometry;
import dev.soma.backend.RecurrentKernels.Cell;
import dev.soma.backend.RecurrentKernels.Spec;
import dev.soma.tensor.DType;
import dev.soma.testing.TemporaryProperties;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The pure path selection of the CUDA backend, no device needed: the switches, which products one cuBLAS
 * strided-batched call can take (and, through a host model of cuBLAS's column-major GEMM, that the plan
 * computes the row-major product), and which convolution and pooling geometries cuDNN can take.
 */
class VendorPathsTest {
    private final TemporaryProperties properties = new TemporaryProperties();

    /** The switches' defaults, whatever the test JVM was started with. */
    @BeforeEach
    void defaultSwitches() {
        for (String key : new String[] {"soma.cuda.vendor", "soma.cuda.tf32", "soma.cuda.cudnn.deterministic",
                "soma.cuda.cudnn.nchw", "soma.cuda.cudnn.measure"}) {
            properties.clear(key);
        }
    }

    @AfterEach
    void resetSwitches() {
        VendorPaths.setVendorEnabled(null);
        VendorPaths.setTf32(null);
        properties.close();
    }

    // ------------------------------------------------------------------ switches

    @Test
    void switchesDefaultToVendorOnAndTf32OffAndFollowPropertiesAndOverrides() {
        // (the environment variables are unset in the test JVM)
        assertTrue(VendorPaths.vendorEnabled());
        assertFalse(VendorPaths.tf32Enabled());
        properties.set("soma.cuda.vendor", "false").set("soma.cuda.tf32", "1");
        assertFalse(VendorPaths.vendorEnabled());
        assertTrue(VendorPaths.tf32Enabled());
        VendorPaths.setVendorEnabled(true);
        VendorPaths.setTf32(false);
        assertTrue(VendorPaths.vendorEnabled());
        assertFalse(VendorPaths.tf32Enabled());
        VendorPaths.setVendorEnabled(null);
        assertFalse(VendorPaths.vendorEnabled());
    }

    @Test
    void cudnnModesDefaultToDeterministicMeasuredNchwAndFollowTheirProperties() {
        assertTrue(VendorPaths.cudnnDeterministic());
        assertTrue(VendorPaths.cudnnNchw());
        assertTrue(VendorPaths.cudnnMeasure());
        assertEquals("NCHW f32, FMA math, TF32 off, measured", CudnnConv.Mode.current(false).toString());
        properties.set("soma.cuda.cudnn.deterministic", "false").set("soma.cuda.cudnn.nchw", "0")
                .set("soma.cuda.cudnn.measure", "false");
        assertFalse(VendorPaths.cudnnDeterministic());
        assertFalse(VendorPaths.cudnnNchw());
        assertFalse(VendorPaths.cudnnMeasure());
        assertEquals("NHWC f32, TF32 allowed, non-deterministic algorithms allowed, heuristic",
                CudnnConv.Mode.current(true).toString());
        properties.set("soma.cuda.cudnn.nchw", "sideways");
        var e = assertThrows(IllegalArgumentException.class, VendorPaths::cudnnNchw);
        assertTrue(e.getMessage().contains("-Dsoma.cuda.cudnn.nchw=sideways"), e.getMessage());
    }

    @Test
    void aMalformedSwitchNamesTheProperty() {
        properties.set("soma.cuda.tf32", "maybe");
        var e = assertThrows(IllegalArgumentException.class, VendorPaths::tf32Enabled);
        assertTrue(e.getMessage().contains("-Dsoma.cuda.tf32=maybe"), e.getMessage());
    }

    @Test
    void theLibraryIsNotLoadedOnTheEmulatedDeviceOrWhenSwitchedOff() {
        AtomicBoolean asked = new AtomicBoolean();
        String emulated = VendorPaths.libraryRefusal("cuBLAS", true, true, () -> {
            asked.set(true);
            return null;
        });
        assertEquals("emulated device: no cuBLAS", emulated);
        String off = VendorPaths.libraryRefusal("cuDNN", false, false, () -> {
            asked.set(true);
            return null;
        });
        assertTrue(off.contains("switched off"), off);
        assertFalse(asked.get(), "the load was attempted although the library may not run");
        assertEquals("cuDNN not loaded: libcudnn.so.9 missing",
                VendorPaths.libraryRefusal("cuDNN", false, true, () -> "libcudnn.so.9 missing"));
        assertNull(VendorPaths.libraryRefusal("cuDNN", false, true, () -> null));
    }

    @Test
    void theLogLineIsWrittenOncePerFamilyShapeAndPath() {
        String shape = "f32 [3, 5] test-" + System.nanoTime();
        assertTrue(VendorPaths.logOnce("matmul", shape, "soma tiled GEMM"));
        assertFalse(VendorPaths.logOnce("matmul", shape, "soma tiled GEMM"));
        assertTrue(VendorPaths.logOnce("conv2d forward", shape, "soma implicit-GEMM"));
        assertTrue(VendorPaths.logOnce("matmul", shape, "cuBLAS"), "a new path for the same shape is logged again");
        VendorPaths.ran("matmul", shape, "cuBLAS gemmStridedBatchedEx");
        assertEquals("cuBLAS gemmStridedBatchedEx", VendorPaths.lastPath("matmul"));
    }

    // ------------------------------------------------------------------ cuBLAS eligibility

    /** An operand stored in a flat array and read through an offset-free stride set (elements). */
    private record Operand(double[] data, long[] strides) {}

    /** A [batch..., rows, cols] operand: "plain", "transposed" (columns dense) or "broadcast" (batch stride 0). */
    private static Operand operand(SplittableRandom r, long[] batch, long rows, long cols, String layout) {
        int nb = batch.length;
        long[] strides = new long[nb + 2];
        long matrix = rows * cols;
        if (layout.equals("transposed")) {
            strides[nb] = 1;
            strides[nb + 1] = rows;
        } else {
            strides[nb] = cols;
            strides[nb + 1] = 1;
        }
        long count = 1;
        for (int j = nb - 1; j >= 0; j--) {
            strides[j] = layout.equals("broadcast") ? 0 : matrix * count;
            count *= batch[j];
        }
        long size = layout.equals("broadcast") ? matrix : matrix * count;
        double[] data = new double[(int) size];
        for (int i = 0; i < data.length; i++) data[i] = r.nextInt(-4, 5);
        return new Operand(data, strides);
    }

    private static long flat(long[] index, long[] strides) {
        long o = 0;
        for (int i = 0; i < index.length; i++) o += index[i] * strides[i];
        return o;
    }

    /** Row-major a @ b over the batch, read through the strides: the reference. */
    private static double[] reference(long[] batch, long m, long k, long n, Operand a, Operand b) {
        long count = Arrays.stream(batch).reduce(1, (x, y) -> x * y);
        double[] out = new double[(int) (count * m * n)];
        int nb = batch.length;
        long[] idx = new long[nb + 2];
        for (long p = 0; p < count; p++) {
            long rest = p;
            for (int j = nb - 1; j >= 0; j--) {
                idx[j] = rest % batch[j];
                rest /= batch[j];
            }
            for (long i = 0; i < m; i++) {
                for (long jn = 0; jn < n; jn++) {
                    double s = 0;
                    for (long l = 0; l < k; l++) {
                        idx[nb] = i;
                        idx[nb + 1] = l;
                        double av = a.data()[(int) flat(idx, a.strides())];
                        idx[nb] = l;
                        idx[nb + 1] = jn;
                        s += av * b.data()[(int) flat(idx, b.strides())];
                    }
                    out[(int) (p * m * n + i * n + jn)] = s;
                }
            }
        }
        return out;
    }

    /** cuBLAS's strided-batched GEMM (column-major, alpha 1, beta 0) on host arrays, with A = b, B = a. */
    private static double[] cublasModel(VendorPaths.GemmPlan p, double[] aData, double[] bData, int outSize) {
        double[] c = new double[outSize];
        for (int q = 0; q < p.batch(); q++) {
            long offA = q * p.strideA(), offB = q * p.strideB(), offC = q * p.strideC();
            for (int i = 0; i < p.m(); i++) {
                for (int j = 0; j < p.n(); j++) {
                    double s = 0;
                    for (int l = 0; l < p.k(); l++) {
                        double x = bData[(int) (offA + (p.transA() ? l + (long) i * p.lda() : i + (long) l * p.lda()))];
                        double y = aData[(int) (offB + (p.transB() ? j + (long) l * p.ldb() : l + (long) j * p.ldb()))];
                        s += x * y;
                    }
                    c[(int) (offC + i + (long) j * p.ldc())] = s;
                }
            }
        }
        return c;
    }

    @Test
    void everyEligibleLayoutComputesTheRowMajorProduct() {
        SplittableRandom r = new SplittableRandom();
        long[][] batches = {{}, {3}, {2, 3}, {1, 4}};
        long[][] sizes = {{5, 7, 3}, {1, 6, 4}, {4, 1, 6}, {3, 5, 1}, {1, 1, 1}};
        String[] layouts = {"plain", "transposed", "broadcast"};
        int planned = 0;
        for (long[] batch : batches) {
            for (long[] mkn : sizes) {
                for (String al : layouts) {
                    for (String bl : layouts) {
                        long m = mkn[0], k = mkn[1], n = mkn[2];
                        Operand a = operand(r, batch, m, k, al);
                        Operand b = operand(r, batch, k, n, bl);
                        long[] out = Arrays.copyOf(batch, batch.length + 2);
                        out[batch.length] = m;
                        out[batch.length + 1] = n;
                        var d = VendorPaths.planGemm(DType.F32, out, k, a.strides(), b.strides());
                        String what = al + " a, " + bl + " b, batch " + Arrays.toString(batch) + ", MKN " + Arrays.toString(mkn);
                        assertTrue(d.eligible(), () -> what + ": " + d.refusal());
                        double[] want = reference(batch, m, k, n, a, b);
                        assertArrayEquals(want, cublasModel(d.plan(), a.data(), b.data(), want.length), what);
                        planned++;
                    }
                }
            }
        }
        assertEquals(4 * 5 * 9, planned);
    }

    @Test
    void shapesOneCallCannotTakeGoToOurKernel() {
        // a partial broadcast: a's first batch axis is real, its second broadcast (stride 0)
        long[] out = {2, 3, 4, 5};
        var partial = VendorPaths.planGemm(DType.F32, out, 6, new long[] {24, 0, 6, 1}, new long[] {90, 30, 5, 1});
        assertFalse(partial.eligible());
        assertTrue(partial.refusal().contains("a's batch axes"), partial.refusal());
        // every other column of a wider matrix: neither axis dense
        var strided = VendorPaths.planGemm(DType.F32, new long[] {4, 5}, 6, new long[] {12, 2}, new long[] {5, 1});
        assertFalse(strided.eligible());
        assertTrue(strided.refusal().contains("a is not dense"), strided.refusal());
        var broadcastInMatrix = VendorPaths.planGemm(DType.F32, new long[] {4, 5}, 6, new long[] {6, 1}, new long[] {0, 1});
        assertTrue(broadcastInMatrix.refusal().contains("b is not dense"), broadcastInMatrix.refusal());
        var k0 = VendorPaths.planGemm(DType.F64, new long[] {4, 5}, 0, new long[] {0, 1}, new long[] {5, 1});
        assertTrue(k0.refusal().contains("K = 0"), k0.refusal());
        var ints = VendorPaths.planGemm(DType.I32, new long[] {4, 5}, 6, new long[] {6, 1}, new long[] {5, 1});
        assertTrue(ints.refusal().contains("f32 and f64"), ints.refusal());
        var huge = VendorPaths.planGemm(DType.F32, new long[] {4, 1L << 31}, 6, new long[] {6, 1}, new long[] {1L << 31, 1});
        assertTrue(huge.refusal().contains("2^31"), huge.refusal());
    }

    @Test
    void tf32AndDtypeDoNotChangeThePlan() {
        var f32 = VendorPaths.planGemm(DType.F32, new long[] {8, 9}, 4, new long[] {4, 1}, new long[] {9, 1});
        var f64 = VendorPaths.planGemm(DType.F64, new long[] {8, 9}, 4, new long[] {4, 1}, new long[] {9, 1});
        assertEquals(f32.plan(), f64.plan());
        assertEquals(new VendorPaths.GemmPlan(false, false, 9, 8, 4, 9, 4, 9, 0, 0, 72, 1), f32.plan());
    }

    @Test
    void batchStrideCollapsesUniformBatchesOnly() {
        assertEquals(0, VendorPaths.batchStride(new long[] {4, 5}, new long[] {5, 1}));
        assertEquals(20, VendorPaths.batchStride(new long[] {2, 3, 4, 5}, new long[] {60, 20, 5, 1}));
        assertEquals(0, VendorPaths.batchStride(new long[] {2, 3, 4, 5}, new long[] {0, 0, 5, 1}));
        assertEquals(20, VendorPaths.batchStride(new long[] {1, 3, 4, 5}, new long[] {999, 20, 5, 1}));
        assertEquals(-1, VendorPaths.batchStride(new long[] {2, 3, 4, 5}, new long[] {20, 0, 5, 1}));
        assertEquals(-1, VendorPaths.batchStride(new long[] {2, 3, 4, 5}, new long[] {100, 20, 5, 1}));
    }

    // ------------------------------------------------------------------ cuDNN eligibility

    /** Geometry of a stride-s, k x k window over an h x h image, 3 -> 8 channels, explicit padding. */
    private static Geometry conv(long h, long k, long s, long dilation, long top, long bottom) {
        long oh = (h + top + bottom - (dilation * (k - 1) + 1)) / s + 1;
        return new Geometry(2, h, h, 3, oh, oh, 8, k, k, s, s, dilation, dilation, top, bottom, top, bottom);
    }

    @Test
    void cudnnTakesSymmetricOrEquivalentPaddingInF32() {
        assertNull(VendorPaths.cudnnConvRefusal(conv(5, 3, 2, 1, 1, 1), DType.F32));
        assertNull(VendorPaths.cudnnConvRefusal(conv(9, 3, 1, 2, 2, 2), DType.F32));
        // "same" on 7 rows, window 3, stride 2: top 0, bottom 1, yet the last window never reads the extra row
        assertNull(VendorPaths.cudnnConvRefusal(conv(7, 3, 2, 1, 0, 1), DType.F32));
        // window 2, "same", stride 1: the extra bottom row is read, so cuDNN's symmetric padding would differ
        String even = VendorPaths.cudnnConvRefusal(conv(6, 2, 1, 1, 0, 1), DType.F32);
        assertNotNull(even);
        assertTrue(even.contains("asymmetric padding"), even);
        String f64 = VendorPaths.cudnnConvRefusal(conv(5, 3, 2, 1, 1, 1), DType.F64);
        assertTrue(f64.contains("f32 only"), f64);
    }

    @Test
    void cudnnPoolingTakesInferenceAndNoDilation() {
        Geometry g = conv(6, 2, 2, 1, 0, 0);
        Geometry pool = new Geometry(g.n(), g.h(), g.w(), 3, g.oh(), g.ow(), 3, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0);
        assertNull(VendorPaths.cudnnPoolRefusal(pool, DType.F32, false));
        assertTrue(VendorPaths.cudnnPoolRefusal(pool, DType.F32, true).contains("records winners"));
        assertTrue(VendorPaths.cudnnPoolRefusal(pool, DType.F64, false).contains("f32 only"));
        Geometry dilated = new Geometry(2, 9, 9, 3, 5, 5, 3, 3, 3, 1, 1, 2, 2, 0, 0, 0, 0);
        assertTrue(VendorPaths.cudnnPoolRefusal(dilated, DType.F32, false).contains("dilation"));
    }

    @Test
    void symmetricOutputMatchesTheUsualFormula() {
        assertEquals(3, VendorPaths.symmetricOutput(5, 3, 2, 1, 1));
        assertEquals(5, VendorPaths.symmetricOutput(9, 3, 1, 2, 0));
        assertEquals(-1, VendorPaths.symmetricOutput(2, 5, 1, 1, 0));
    }

    // ------------------------------------------------------------------ cuDNN RNN eligibility

    private static Spec spec(Cell cell, int act, int ract, boolean back, long n, long t, long f, long h) {
        return new Spec(cell, act, ract, back, n, t, f, h);
    }

    @Test
    void cudnnRnnTakesPlainF32LstmsAndResetAfterGrusOnly() {
        int tanh = 1, sigmoid = 2, relu = 3, hardSigmoid = 4;
        for (Cell cell : new Cell[] {Cell.LSTM, Cell.GRU}) {
            for (boolean back : new boolean[] {false, true}) {
                assertNull(VendorPaths.cudnnRnnRefusal(spec(cell, tanh, sigmoid, back, 7, 13, 33, 64), DType.F32, false, false));
            }
            String why = VendorPaths.cudnnRnnRefusal(spec(cell, tanh, sigmoid, false, 7, 13, 33, 64), DType.F64, false, false);
            assertTrue(why.contains("f32 only"), why);
            why = VendorPaths.cudnnRnnRefusal(spec(cell, relu, sigmoid, false, 7, 13, 33, 64), DType.F32, false, false);
            assertTrue(why.contains("tanh and sigmoid"), why);
            why = VendorPaths.cudnnRnnRefusal(spec(cell, tanh, hardSigmoid, false, 7, 13, 33, 64), DType.F32, false, false);
            assertTrue(why.contains("tanh and sigmoid"), why);
            why = VendorPaths.cudnnRnnRefusal(spec(cell, tanh, sigmoid, false, 7, 13, 33, 64), DType.F32, true, false);
            assertTrue(why.contains("mask"), why);
            why = VendorPaths.cudnnRnnRefusal(spec(cell, tanh, sigmoid, false, 7, 13, 33, 64), DType.F32, false, true);
            assertTrue(why.contains("recurrent dropout"), why);
            why = VendorPaths.cudnnRnnRefusal(spec(cell, tanh, sigmoid, false, 1L << 20, 1L << 12, 3, 5), DType.F32, false, false);
            assertTrue(why.contains("2^31"), why);
            why = VendorPaths.cudnnRnnRefusal(spec(cell, tanh, sigmoid, false, 2, 3, 1L << 31, 5), DType.F32, false, false);
            assertTrue(why.contains("2^31"), why);
            why = VendorPaths.cudnnRnnRefusal(spec(cell, tanh, sigmoid, false, 2, 3, 4, 0), DType.F32, false, false);
            assertTrue(why.contains("empty"), why);
        }
        String why = VendorPaths.cudnnRnnRefusal(spec(Cell.GRU_RESET_BEFORE, tanh, sigmoid, false, 7, 13, 33, 64),
                DType.F32, false, false);
        assertTrue(why.contains("reset_after=False"), why);
        why = VendorPaths.cudnnRnnRefusal(spec(Cell.SIMPLE, tanh, sigmoid, false, 7, 13, 33, 64), DType.F32, false, false);
        assertTrue(why.contains("SimpleRNN"), why);
    }

    @Test
    void cudnnGateOrderMapsKerasGatesOntoCudnnLinearLayers() {
        // LSTM: Keras i, f, c, o = cuDNN i, f, g (c'), o. GRU: Keras z, r, h = cuDNN update (1), reset (0), new (2).
        for (int q = 0; q < 4; q++) assertEquals(q, CudnnRnn.cudnnGate(Cell.LSTM, q));
        assertEquals(1, CudnnRnn.cudnnGate(Cell.GRU, 0));
        assertEquals(0, CudnnRnn.cudnnGate(Cell.GRU, 1));
        assertEquals(2, CudnnRnn.cudnnGate(Cell.GRU, 2));
    }

    @Test
    void theRnnLibraryRefusalNamesTheSwitchAndTheEmulator() {
        AtomicBoolean asked = new AtomicBoolean();
        String off = VendorPaths.libraryRefusal("cuDNN", false, false, () -> {
            asked.set(true);
            return null;
        });
        assertEquals("cuDNN switched off (soma.cuda.vendor=false)", off);
        assertFalse(asked.get(), "a switched-off library is never loaded");
        assertEquals("emulated device: no cuDNN", VendorPaths.libraryRefusal("cuDNN", true, true, () -> null));
        assertEquals("lstm forward", CudaRecurrent.family(spec(Cell.LSTM, 1, 2, false, 1, 1, 1, 1), false));
        assertEquals("gru backward", CudaRecurrent.family(spec(Cell.GRU, 1, 2, false, 1, 1, 1, 1), true));
    }
}
