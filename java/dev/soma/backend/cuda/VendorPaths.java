package dev.soma.backend.cuda;

import dev.soma.backend.ConvKernels.Geometry;
import dev.soma.backend.RecurrentKernels.Cell;
import dev.soma.backend.RecurrentKernels.Spec;
import dev.soma.tensor.DType;

import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * Which path each CUDA op family takes: a vendor library (cuBLAS, cuDNN) or our kernels of cuda-kernels/, and
 * why. Everything here is pure (switches, shape eligibility, the log line), so it is tested without a device;
 * the vendor calls themselves live in {@link CublasMatmul} and {@link CudnnConv}.
 *
 * <p>Switches: {@code -Dsoma.cuda.vendor=false} (or {@code SOMA_CUDA_VENDOR=0}) keeps every op on our kernels;
 * {@code -Dsoma.cuda.tf32=true} (or {@code SOMA_CUDA_TF32=1}) lets cuBLAS and cuDNN round f32 operands to TF32 on
 * tensor cores. TF32 is off by default, so f32 products keep full f32 precision as on the CPU.
 * {@link #setVendorEnabled} and {@link #setTf32} override both from code ({@code null} goes back to them).
 */
public final class VendorPaths {
    private static final System.Logger LOG = System.getLogger(VendorPaths.class.getName());
    /** Distinct (family, shape) log lines remembered; past this, new shapes are no longer logged. */
    private static final int LOGGED_LIMIT = 4096;
    private static final Set<String> LOGGED = ConcurrentHashMap.newKeySet();
    private static final Map<String, String> LAST = new ConcurrentHashMap<>();
    private static final long INT_MAX = Integer.MAX_VALUE;

    private static volatile Boolean vendorOverride;
    private static volatile Boolean tf32Override;

    private VendorPaths() {}

    // ------------------------------------------------------------------ switches

    /** Whether vendor libraries may be used at all (default true). */
    public static boolean vendorEnabled() {
        Boolean o = vendorOverride;
        return o != null ? o : flag("soma.cuda.vendor", "SOMA_CUDA_VENDOR", true);
    }

    /** Whether f32 products and convolutions may use TF32 tensor cores (default false). */
    public static boolean tf32Enabled() {
        Boolean o = tf32Override;
        return o != null ? o : flag("soma.cuda.tf32", "SOMA_CUDA_TF32", false);
    }

    /**
     * Whether cuDNN convolutions must use deterministic algorithms (default true: results repeat run to run, as
     * our own kernels do). {@code -Dsoma.cuda.cudnn.deterministic=false} also accepts algorithms that sum with
     * atomics, as PyTorch does unless told otherwise.
     */
    public static boolean cudnnDeterministic() {
        return flag("soma.cuda.cudnn.deterministic", "SOMA_CUDA_CUDNN_DETERMINISTIC", true);
    }

    /** cuDNN's recurrence algorithms that we ask for (cudnnRNNAlgo_t values). */
    public enum RnnAlgo {
        STANDARD(0), PERSIST_STATIC(1), PERSIST_STATIC_SMALL_H(3);

        public final int code;

        RnnAlgo(int code) {
            this.code = code;
        }
    }

    /**
     * The cuDNN algorithm for a one-layer unidirectional LSTM / GRU of {@code hidden} units: by default
     * ({@code -Dsoma.cuda.cudnn.rnnAlgo=auto}) the persistent small-hidden kernels (one launch for the whole
     * sequence, the recurrent weights kept on chip) where cuDNN has them, hidden <= 128 for training (the
     * backward's limit; forward and backward use one algorithm, so the reserve space matches) and <= 192 for
     * inference, as PyTorch chooses; else the standard algorithm (one product and one cell kernel per step). On an
     * H200 the standard algorithm ran the reference LSTM's recurrence (T 100, N 32, H 128) as 534 kernels per
     * training step where PyTorch's small-hidden choice ran 2. {@code standard}, {@code persist-static} or
     * {@code small-h} force one; where cuDNN refuses the one asked for, the standard algorithm runs.
     */
    public static RnnAlgo cudnnRnnAlgo(long hidden, boolean training) {
        String v = System.getProperty("soma.cuda.cudnn.rnnAlgo", System.getenv().getOrDefault("SOMA_CUDA_CUDNN_RNN_ALGO", "auto"));
        return switch (v.trim().toLowerCase(java.util.Locale.ROOT)) {
            case "auto" -> hidden <= (training ? 128 : 192) ? RnnAlgo.PERSIST_STATIC_SMALL_H : RnnAlgo.STANDARD;
            case "standard" -> RnnAlgo.STANDARD;
            case "persist-static" -> RnnAlgo.PERSIST_STATIC;
            case "small-h" -> RnnAlgo.PERSIST_STATIC_SMALL_H;
            default -> throw new IllegalArgumentException("soma.cuda.cudnn.rnnAlgo: unknown value '" + v
                    + "': expected auto, standard, persist-static or small-h");
        };
    }

    /**
     * Whether cuDNN convolutions may use FFT-based algorithms (default false). They round differently from a
     * direct sum: on an H200 with cuDNN 9.19 the measured choice for a 5x5 backward-data pass was FFT, 6.1e-4 off
     * the CPU's result where DESIGN.md bounds f32 at 1e-4. {@code -Dsoma.cuda.cudnn.fft=true} allows them.
     */
    public static boolean cudnnFft() {
        return flag("soma.cuda.cudnn.fft", "SOMA_CUDA_CUDNN_FFT", false);
    }

    /**
     * Whether cuDNN convolutions run in NCHW (default true): images and gradients are transposed around each
     * cuDNN call. On an H200 with cuDNN 9.19, f32 NHWC offered two algorithms per pass and the deterministic
     * weight gradient of the reference CNN's second convolution took 0.50 ms; in NCHW deterministic ones ran
     * all three passes of it in 0.21 ms. {@code -Dsoma.cuda.cudnn.nchw=false} passes our NHWC tensors as they are.
     */
    public static boolean cudnnNchw() {
        return flag("soma.cuda.cudnn.nchw", "SOMA_CUDA_CUDNN_NCHW", true);
    }

    /**
     * Whether cuDNN convolution algorithms are chosen by measuring them (default true: cudnnFind*, the fastest
     * acceptable one, remembered on disk by {@link CudnnAlgorithmCache} so later runs repeat the choice) or by
     * cuDNN's heuristic ({@code -Dsoma.cuda.cudnn.measure=false}: no measuring, the same choice on every machine
     * with the same cuDNN).
     */
    public static boolean cudnnMeasure() {
        return flag("soma.cuda.cudnn.measure", "SOMA_CUDA_CUDNN_MEASURE", true);
    }

    /** Overrides {@code soma.cuda.vendor} for the whole JVM; {@code null} goes back to the property. */
    public static void setVendorEnabled(Boolean enabled) {
        vendorOverride = enabled;
    }

    /** Overrides {@code soma.cuda.tf32} for the whole JVM; {@code null} goes back to the property. */
    public static void setTf32(Boolean enabled) {
        tf32Override = enabled;
    }

    static boolean flag(String property, String env, boolean fallback) {
        String p = System.getProperty(property);
        String source = "-D" + property;
        if (p == null) {
            p = System.getenv(env);
            source = env;
        }
        if (p == null || p.isEmpty()) return fallback;
        if (p.equalsIgnoreCase("true") || p.equals("1")) return true;
        if (p.equalsIgnoreCase("false") || p.equals("0")) return false;
        throw new IllegalArgumentException(source + "=" + p + ": expected true/false (or 1/0)");
    }

    // ------------------------------------------------------------------ choices

    /** The path of one op call: {@code vendor} or ours, and a short reason for describe strings and the log. */
    public record Choice(boolean vendor, String reason) {
        static Choice ours(String why) {
            return new Choice(false, why);
        }
    }

    /**
     * Whether a vendor library may run at all on this device: not on the emulated device, not when switched
     * off, not when it failed to load ({@code loadProblem}: why, or null when it loaded). Null: it may.
     */
    static String libraryRefusal(String library, boolean emulated, boolean enabled, Supplier<String> loadProblem) {
        if (emulated) return "emulated device: no " + library;
        if (!enabled) return library + " switched off (soma.cuda.vendor=false)";
        String problem = loadProblem.get(); // asked only here: a switched-off library is never loaded
        return problem == null ? null : library + " not loaded: " + problem;
    }

    // ------------------------------------------------------------------ cuBLAS eligibility

    /**
     * One strided-batched GEMM in cuBLAS's column-major terms. A row-major {@code out[M, N] = a @ b} is the
     * column-major {@code out^T[N, M] = b^T a^T}, so cuBLAS's A is our {@code b} and its B our {@code a}:
     * {@code m = N, n = M}. {@code transA}/{@code transB}: whether cuBLAS applies op T to that operand.
     */
    public record GemmPlan(boolean transA, boolean transB, int m, int n, int k, int lda, int ldb, int ldc,
                           long strideA, long strideB, long strideC, int batch) {}

    /** A plan, or why cuBLAS cannot take the product directly (then {@code plan} is null). */
    public record GemmDecision(GemmPlan plan, String refusal) {
        public boolean eligible() {
            return plan != null;
        }
    }

    /**
     * Whether one cublasGemmStridedBatchedEx call computes {@code out = a @ b}. {@code outShape}: the contiguous
     * {@code [batch..., M, N]}; {@code aStrides}/{@code bStrides}: a's and b's strides broadcast to
     * {@code [batch..., M, K]} and {@code [batch..., K, N]} (0 where broadcast), {@code k}: the inner size.
     * Each matrix must be dense along one axis (a transposed view is fine), and each operand's batch offsets
     * must be one stride times the flat batch index (a full stride-0 broadcast is; a broadcast of only some
     * batch axes is not).
     */
    public static GemmDecision planGemm(DType dtype, long[] outShape, long k, long[] aStrides, long[] bStrides) {
        if (dtype != DType.F32 && dtype != DType.F64) return refuse("cuBLAS path takes f32 and f64, not " + dtype);
        int r = outShape.length;
        long m = outShape[r - 2], n = outShape[r - 1];
        if (m <= 0 || n <= 0 || k <= 0) return refuse("empty operand (M, N or K = 0)");
        if (m > INT_MAX || n > INT_MAX || k > INT_MAX) return refuse("M, N or K over 2^31 - 1");
        long batch = 1;
        for (int i = 0; i < r - 2; i++) batch = Math.multiplyExact(batch, outShape[i]);
        if (batch > INT_MAX) return refuse("batch count over 2^31 - 1");
        // cuBLAS's A = b^T, a column-major N x K matrix; its B = a^T, K x M.
        long[] opA = columnMajorTranspose(k, n, bStrides[r - 2], bStrides[r - 1]);
        if (opA == null) return refuse("b is not dense along either axis" + strides(bStrides, r));
        long[] opB = columnMajorTranspose(m, k, aStrides[r - 2], aStrides[r - 1]);
        if (opB == null) return refuse("a is not dense along either axis" + strides(aStrides, r));
        long strideA = batchStride(outShape, bStrides);
        long strideB = batchStride(outShape, aStrides);
        if (strideA < 0) return refuse("b's batch axes are not one uniform stride (partial broadcast)");
        if (strideB < 0) return refuse("a's batch axes are not one uniform stride (partial broadcast)");
        return new GemmDecision(new GemmPlan(opA[0] == 1, opB[0] == 1, (int) n, (int) m, (int) k, (int) opA[1],
                (int) opB[1], (int) n, strideA, strideB, m * n, (int) batch), null);
    }

    private static String strides(long[] s, int r) {
        return " (strides " + s[r - 2] + ", " + s[r - 1] + ")";
    }

    private static GemmDecision refuse(String why) {
        return new GemmDecision(null, why);
    }

    /**
     * A row-major {@code [rows, cols]} operand read through ({@code rowStride}, {@code colStride}), seen by a
     * column-major library as its transpose {@code [cols, rows]}: {op (0: N, 1: T), ld}, or null when neither
     * axis is dense. The stride of an axis of size 1 is never read, so it is free.
     */
    static long[] columnMajorTranspose(long rows, long cols, long rowStride, long colStride) {
        if (rowStride < 0 || colStride < 0) return null;
        // Rows dense (the usual row-major matrix): column-major cols x rows with ld = row stride, op N.
        if ((colStride == 1 || cols == 1) && (rows == 1 || rowStride >= Math.max(cols, 1))) {
            long ld = rows == 1 ? Math.max(cols, 1) : rowStride;
            return ld <= INT_MAX ? new long[] {0, ld} : null;
        }
        // Columns dense (a transposed view): column-major rows x cols with ld = column stride, op T.
        if ((rowStride == 1 || rows == 1) && (cols == 1 || colStride >= Math.max(rows, 1))) {
            long ld = cols == 1 ? Math.max(rows, 1) : colStride;
            return ld <= INT_MAX ? new long[] {1, ld} : null;
        }
        return null;
    }

    /**
     * The one stride s with offset(batch index i) = s * i over the flat batch index of {@code outShape}'s batch
     * axes, for an operand with these (broadcast) strides; 0 with no batch; -1 when there is none.
     */
    static long batchStride(long[] outShape, long[] strides) {
        long s = -1, inner = 1;
        for (int j = outShape.length - 3; j >= 0; j--) {
            if (outShape[j] == 1) continue;
            if (strides[j] < 0) return -1;
            if (s < 0) {
                s = strides[j]; // the innermost axis of size > 1: inner is still 1
            } else if (strides[j] != s * inner) {
                return -1;
            }
            inner *= outShape[j];
        }
        return Math.max(s, 0);
    }

    // ------------------------------------------------------------------ cuDNN eligibility

    /**
     * Why cuDNN cannot run this convolution (null: it can). cuDNN pads symmetrically, so the geometry must give
     * the same output size with the top/left padding on both sides (then every window is the same, and the
     * extra bottom/right row Keras' "same" may add is never read); f32 only (our NHWC wiring), every size below
     * 2^31 elements.
     */
    public static String cudnnConvRefusal(Geometry g, DType dtype) {
        if (dtype != DType.F32) return "cuDNN path takes f32 only, not " + dtype;
        if (!fitsInt(g.n() * g.h() * g.w() * g.c()) || !fitsInt(g.n() * g.oh() * g.ow() * g.oc())
                || !fitsInt(g.kh() * g.kw() * g.c() * g.oc())) {
            return "a tensor of 2^31 elements or more";
        }
        return paddingRefusal(g);
    }

    /**
     * Why cuDNN cannot run this pooling forward (null: it can): f32 only, no dilation, symmetric-equivalent
     * padding, and no workspace to write ({@code recordsWorkspace}: a max-pool training forward records the
     * winners our backward reads, so it runs ours; average pooling records nothing).
     */
    public static String cudnnPoolRefusal(Geometry g, DType dtype, boolean recordsWorkspace) {
        if (dtype != DType.F32) return "cuDNN path takes f32 only, not " + dtype;
        if (recordsWorkspace) return "training forward records winners for our backward";
        if (g.dh() != 1 || g.dw() != 1) return "cuDNN pooling has no dilation";
        if (!fitsInt(g.n() * g.h() * g.w() * g.c())) return "a tensor of 2^31 elements or more";
        return paddingRefusal(g);
    }

    /**
     * Why cuDNN's RNN cannot run this recurrent layer (null: it can). cuDNN's cells are fixed: LSTM and GRU
     * with sigmoid gates and tanh, its GRU in the "linear before reset" form (Keras reset_after=True; our
     * {@link Cell#GRU_RESET_BEFORE} is not expressible), no recurrent dropout on h_{t-1}, and sequence lengths
     * instead of Keras masks (a mask may skip any step, which lengths cannot say). f32 only; every size and
     * element count below 2^31. go_backwards and initial / final states are ours to arrange, so they are fine.
     */
    public static String cudnnRnnRefusal(Spec s, DType dtype, boolean masked, boolean recurrentDropout) {
        if (s.cell() == Cell.SIMPLE) return "SimpleRNN is not wired to cuDNN";
        if (s.cell() == Cell.GRU_RESET_BEFORE) {
            return "GRU with reset_after=False: cuDNN's GRU applies the reset gate after the recurrent product";
        }
        if (dtype != DType.F32) return "cuDNN RNN path takes f32 only, not " + dtype;
        if (s.activation() != TANH || s.recurrentActivation() != SIGMOID) {
            return "activation code " + s.activation() + " / recurrent activation code " + s.recurrentActivation()
                    + ": cuDNN's cells use tanh and sigmoid only";
        }
        if (masked) return "a mask (cuDNN takes sequence lengths, not per-step masks)";
        if (recurrentDropout) return "recurrent dropout (cuDNN has none on h_{t-1})";
        long n = s.batch(), t = s.steps(), f = s.features(), h = s.hidden();
        if (n <= 0 || t <= 0 || f <= 0 || h <= 0) return "an empty size (batch, steps, features or units 0)";
        long g = s.cell().gates;
        if (!productFitsInt(g, h, Math.max(f, h)) || !productFitsInt(t, n, Math.max(f, h))) {
            return "a size or tensor of 2^31 elements or more";
        }
        return null;
    }

    private static boolean productFitsInt(long... factors) {
        long p = 1;
        for (long x : factors) {
            if (!fitsInt(x)) return false;
            p *= x; // each factor and the running product below 2^31: no overflow
            if (!fitsInt(p)) return false;
        }
        return true;
    }

    /** soma_rnn_activation codes (Recurrent.activationCode). */
    private static final int TANH = 1, SIGMOID = 2;

    private static String paddingRefusal(Geometry g) {
        if (g.padTop() > INT_MAX || g.padLeft() > INT_MAX || g.kh() > INT_MAX || g.kw() > INT_MAX) {
            return "window over 2^31";
        }
        if (symmetricOutput(g.h(), g.kh(), g.sh(), g.dh(), g.padTop()) != g.oh()
                || symmetricOutput(g.w(), g.kw(), g.sw(), g.dw(), g.padLeft()) != g.ow()) {
            return "asymmetric padding changes the output size (t" + g.padTop() + " b" + g.padBottom() + " l"
                    + g.padLeft() + " r" + g.padRight() + ")";
        }
        return null;
    }

    /** The output size cuDNN computes with {@code pad} on both sides; -1 when the window does not fit. */
    static long symmetricOutput(long in, long k, long stride, long dilation, long pad) {
        long span = in + 2 * pad - (dilation * (k - 1) + 1);
        return span < 0 || stride <= 0 ? -1 : span / stride + 1;
    }

    private static boolean fitsInt(long elements) {
        return elements >= 0 && elements <= INT_MAX;
    }

    // ------------------------------------------------------------------ the log line

    /**
     * Records that one call of {@code family} ran {@code path}: remembered as the family's {@link #lastPath},
     * and logged at INFO once per family, shape and path.
     */
    static void ran(String family, String shape, String path) {
        LAST.put(family, path);
        logOnce(family, shape, path);
    }

    /**
     * The path the latest call of a family ran, e.g. {@code lastPath("matmul")} (families: "matmul", "conv2d
     * forward", "conv2d backward data", "conv2d backward weights", "max pool2d forward", "average pool2d
     * forward"); null before the first call. For tests and debugging.
     */
    public static String lastPath(String family) {
        return LAST.get(family);
    }

    /**
     * Logs at INFO, once per family, shape and path: "CUDA path: matmul F32 [4, 64, 64] ... => cuBLAS ..."
     * (" => " because shapes may hold "->").
     * Returns whether this call logged (the first for that key).
     */
    static boolean logOnce(String family, String shape, String path) {
        String key = family + " " + shape;
        if (LOGGED.size() >= LOGGED_LIMIT || !LOGGED.add(key + " -> " + path)) return false;
        LOG.log(System.Logger.Level.INFO, () -> "CUDA path: " + key + " => " + path);
        return true;
    }
}
