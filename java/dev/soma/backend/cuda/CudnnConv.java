package dev.soma.backend.cuda;

import dev.soma.backend.ElementwiseKernels.BiasActivation;
import dev.soma.backend.ConvKernels.Geometry;
import dev.soma.backend.ConvKernels.PoolKind;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import org.bytedeco.cuda.cudnn.cudnnContext;
import org.bytedeco.cuda.cudnn.cudnnConvolutionBwdDataAlgoPerf_t;
import org.bytedeco.cuda.cudnn.cudnnConvolutionBwdFilterAlgoPerf_t;
import org.bytedeco.cuda.cudnn.cudnnConvolutionFwdAlgoPerf_t;
import org.bytedeco.cuda.cudnn.cudnnConvolutionStruct;
import org.bytedeco.cuda.cudnn.cudnnFilterStruct;
import org.bytedeco.cuda.cudnn.cudnnPoolingStruct;
import org.bytedeco.cuda.cudnn.cudnnTensorStruct;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import static org.bytedeco.cuda.global.cudnn.*;

/**
 * Convolution passes and pooling forwards through cuDNN (legacy descriptor API, f32). Our images are NHWC and our
 * kernels Keras' HWIO: by default images and gradients are transposed to NCHW around each call and the kernel to
 * OIHW (VendorPaths#cudnnNchw says why); with {@code -Dsoma.cuda.cudnn.nchw=false} images go as they are and the
 * kernel as OHWI. Weight gradients come back in cuDNN's filter layout and are permuted into HWIO. Bias and ReLU
 * of the forward run after cuDNN as one pass of our fused bias-activation kernel (relu(NaN) stays NaN).
 *
 * <p>The algorithm of each pass is chosen once per geometry and mode: measured by cuDNN (cudnnFind*: the fastest
 * deterministic one with FMA math unless TF32 is on, FFT-based ones only on request, so results repeat as our deterministic kernels do; remembered
 * on disk by {@link CudnnAlgorithmCache}, so later runs on the machine repeat the choice and so the bits), or with
 * {@code -Dsoma.cuda.cudnn.measure=false} by cuDNN's heuristic (cudnnGet*Algorithm_v7). Workspaces come from the
 * backend's caching pool. One cuDNN handle per backend and thread, bound to the backend's stream before every
 * call. Every method returns null when cuDNN ran the pass, or why not (then the caller runs our kernel, which
 * overwrites its outputs whole).
 */
final class CudnnConv {
    /** One thread's handle with the host scalars 1 and 0 (f32 data: float scaling factors). */
    private record Handle(cudnnContext context, FloatPointer one, FloatPointer zero) {}

    /** A pass's algorithm, math type and workspace bytes for one geometry, or why there is none. */
    private record Algo(int algo, int mathType, long workspace, String refusal) {}

    /** A failed cuDNN status inside a pass: turned into the refusal text the caller gets. */
    private static final class Refusal extends RuntimeException {
        Refusal(String message) {
            super(message, null, false, false);
        }
    }

    private final CudaBackend backend;
    /** A handle per thread that convolves, destroyed after the thread ends. */
    private final PerThreadHandles<Handle> handles;
    private final Map<String, Algo> algos = new ConcurrentHashMap<>();
    /** Every geometry a pass chose an algorithm for (with its TF32 setting), for {@link #measuredAlternatives}. */
    private final Map<Geometry, Boolean> seen = new ConcurrentHashMap<>();
    /** The mode of the last pass (measuredAlternatives marks the picks made under it). */
    private volatile Mode lastMode = new Mode(false, true, true, true, false);
    /** Measured choices, on disk (created at the first measured pass). */
    private volatile CudnnAlgorithmCache cache;

    CudnnConv(CudaBackend backend) {
        this.backend = backend;
        int device = backend.device().index();
        this.handles = new PerThreadHandles<>(() -> {
            cudnnContext context = new cudnnContext();
            check(cudnnCreate(context), "cudnnCreate");
            return new Handle(context, new FloatPointer(1f), new FloatPointer(0f));
        }, h -> {
            VendorLibraries.bind(device); // cudnnDestroy waits for the handle's work
            cudnnDestroy(h.context());
            h.one().close();
            h.zero().close();
        });
    }

    // ------------------------------------------------------------------ convolution

    /**
     * The switches a call runs under (VendorPaths): TF32, NCHW instead of NHWC, deterministic algorithms only,
     * measured or heuristic choice, FFT algorithms allowed.
     */
    record Mode(boolean tf32, boolean nchw, boolean deterministic, boolean measure, boolean fft) {
        static Mode current(boolean tf32) {
            return new Mode(tf32, VendorPaths.cudnnNchw(), VendorPaths.cudnnDeterministic(), VendorPaths.cudnnMeasure(),
                    VendorPaths.cudnnFft());
        }

        int format() {
            return nchw ? CUDNN_TENSOR_NCHW : CUDNN_TENSOR_NHWC;
        }

        @Override
        public String toString() {
            return (nchw ? "NCHW" : "NHWC") + " f32, " + (tf32 ? "TF32 allowed" : "FMA math, TF32 off")
                    + (deterministic ? "" : ", non-deterministic algorithms allowed")
                    + (measure ? ", measured" : ", heuristic") + (fft ? ", FFT allowed" : "");
        }
    }

    String forward(Geometry g, Tensor x, Tensor kernel, Tensor bias, boolean relu, Tensor out, boolean tf32) {
        Mode mode = Mode.current(tf32);
        try (Descriptors d = new Descriptors(g, tf32, mode.format())) {
            Handle h = handle();
            Algo a = algo("forward", g, mode, () -> {
                Algo m = measured("forward", g, mode, () -> findForward(h, d));
                return m != null ? m : chooseForward(h, d, mode);
            });
            if (a.refusal() != null) return a.refusal();
            check(cudnnSetConvolutionMathType(d.conv, a.mathType()), "cudnnSetConvolutionMathType");
            try (Tensor w = filter(kernel, g, mode); Tensor ws = workspace(a.workspace(), x);
                 Tensor xc = mode.nchw() ? toNchw(x, g.n(), g.h(), g.w(), g.c()) : null;
                 Tensor yc = mode.nchw() ? Tensor.empty(DType.F32, out.device(), g.n(), g.oc(), g.oh(), g.ow()).keep() : null) {
                check(cudnnConvolutionForward(h.context(), h.one(), d.x, at(xc != null ? xc : x), d.w, at(w), d.conv,
                        a.algo(), at(ws), a.workspace(), h.zero(), d.y, at(yc != null ? yc : out)), "cudnnConvolutionForward");
                if (yc != null) fromNchw(yc, out, g.n(), g.oh(), g.ow(), g.oc());
            }
        } catch (Refusal r) {
            return r.getMessage();
        }
        // Our epilogue, in place on the output in one pass: relu(out + bias), out + bias or relu(out).
        if (bias != null) {
            backend.elementwise().biasActivation(relu ? BiasActivation.RELU : BiasActivation.LINEAR, out, bias, out, 0);
        } else if (relu) {
            backend.elementwise().unary(dev.soma.backend.ElementwiseKernels.UnaryOp.RELU, out, out, 0, 0);
        }
        return null;
    }

    String backwardData(Geometry g, Tensor gradOut, Tensor kernel, Tensor gradX, boolean tf32) {
        Mode mode = Mode.current(tf32);
        try (Descriptors d = new Descriptors(g, tf32, mode.format())) {
            Handle h = handle();
            Algo a = algo("backward data", g, mode, () -> {
                Algo m = measured("backward data", g, mode, () -> findBackwardData(h, d));
                return m != null ? m : chooseBackwardData(h, d, mode);
            });
            if (a.refusal() != null) return a.refusal();
            check(cudnnSetConvolutionMathType(d.conv, a.mathType()), "cudnnSetConvolutionMathType");
            try (Tensor w = filter(kernel, g, mode); Tensor ws = workspace(a.workspace(), gradX);
                 Tensor gc = mode.nchw() ? toNchw(gradOut, g.n(), g.oh(), g.ow(), g.oc()) : null;
                 Tensor xc = mode.nchw() ? Tensor.empty(DType.F32, gradX.device(), g.n(), g.c(), g.h(), g.w()).keep() : null) {
                check(cudnnConvolutionBackwardData(h.context(), h.one(), d.w, at(w), d.y, at(gc != null ? gc : gradOut),
                        d.conv, a.algo(), at(ws), a.workspace(), h.zero(), d.x, at(xc != null ? xc : gradX)),
                        "cudnnConvolutionBackwardData");
                if (xc != null) fromNchw(xc, gradX, g.n(), g.h(), g.w(), g.c());
            }
            return null;
        } catch (Refusal r) {
            return r.getMessage();
        }
    }

    String backwardWeights(Geometry g, Tensor x, Tensor gradOut, Tensor gradKernel, Tensor gradBias, boolean tf32) {
        Mode mode = Mode.current(tf32);
        try (Descriptors d = new Descriptors(g, tf32, mode.format())) {
            Handle h = handle();
            Algo a = algo("backward weights", g, mode, () -> {
                Algo m = measured("backward weights", g, mode, () -> findBackwardFilter(h, d));
                return m != null ? m : chooseBackwardFilter(h, d, mode);
            });
            if (a.refusal() != null) return a.refusal();
            check(cudnnSetConvolutionMathType(d.conv, a.mathType()), "cudnnSetConvolutionMathType");
            // cuDNN's filter: OHWI [OC, KH, KW, C] in NHWC, OIHW [OC, C, KH, KW] in NCHW
            long[] filter = mode.nchw() ? new long[] {g.oc(), g.c(), g.kh(), g.kw()} : new long[] {g.oc(), g.kh(), g.kw(), g.c()};
            try (Tensor dw = Tensor.empty(DType.F32, gradKernel.device(), filter).keep();
                 Tensor ws = workspace(a.workspace(), x);
                 Tensor xc = mode.nchw() ? toNchw(x, g.n(), g.h(), g.w(), g.c()) : null;
                 Tensor gc = mode.nchw() ? toNchw(gradOut, g.n(), g.oh(), g.ow(), g.oc()) : null) {
                Tensor xs = xc != null ? xc : x, gs = gc != null ? gc : gradOut;
                check(cudnnConvolutionBackwardFilter(h.context(), h.one(), d.x, at(xs), d.y, at(gs), d.conv,
                        a.algo(), at(ws), a.workspace(), h.zero(), d.w, at(dw)), "cudnnConvolutionBackwardFilter");
                if (gradBias != null) {
                    check(cudnnConvolutionBackwardBias(h.context(), h.one(), d.y, at(gs), h.zero(), d.bias,
                            at(gradBias)), "cudnnConvolutionBackwardBias");
                }
                // cuDNN's filter gradient read as HWIO [KH, KW, C, OC], copied into the HWIO gradient.
                long[] hwio = {g.kh(), g.kw(), g.c(), g.oc()};
                long[] strides = mode.nchw()
                        ? new long[] {g.kw(), 1, g.kh() * g.kw(), g.c() * g.kh() * g.kw()}
                        : new long[] {g.kw() * g.c(), g.c(), 1, g.kh() * g.kw() * g.c()};
                try (Tensor view = dw.viewOf(dw.offset(), hwio, strides).keep()) {
                    backend.memory().copy(view, gradKernel);
                }
            }
            return null;
        } catch (Refusal r) {
            return r.getMessage();
        }
    }

    /** The cached algorithm of a pass as a describe string, or null when none was chosen yet for this geometry. */
    String algorithm(String pass, Geometry g, boolean tf32) {
        Algo a = algos.get(key(pass, g, Mode.current(tf32)));
        if (a == null) return null;
        if (a.refusal() != null) return "refused: " + a.refusal();
        return "algorithm " + a.algo() + ", workspace " + a.workspace() + " B";
    }

    // ------------------------------------------------------------------ pooling

    /** Max (NaN never wins, as in our kernel) or average (padding excluded) pooling forward, inference only. */
    String poolForward(PoolKind kind, Geometry g, Tensor x, Tensor out) {
        cudnnPoolingStruct pool = new cudnnPoolingStruct();
        cudnnTensorStruct xd = new cudnnTensorStruct();
        cudnnTensorStruct yd = new cudnnTensorStruct();
        try {
            Handle h = handle();
            check(cudnnCreatePoolingDescriptor(pool), "cudnnCreatePoolingDescriptor");
            check(cudnnCreateTensorDescriptor(xd), "cudnnCreateTensorDescriptor");
            check(cudnnCreateTensorDescriptor(yd), "cudnnCreateTensorDescriptor");
            int mode = kind == PoolKind.MAX ? CUDNN_POOLING_MAX : CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING;
            check(cudnnSetPooling2dDescriptor(pool, mode, CUDNN_PROPAGATE_NAN, (int) g.kh(), (int) g.kw(),
                    (int) g.padTop(), (int) g.padLeft(), (int) g.sh(), (int) g.sw()), "cudnnSetPooling2dDescriptor");
            check(cudnnSetTensor4dDescriptor(xd, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, (int) g.n(), (int) g.c(),
                    (int) g.h(), (int) g.w()), "cudnnSetTensor4dDescriptor");
            check(cudnnSetTensor4dDescriptor(yd, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, (int) g.n(), (int) g.c(),
                    (int) g.oh(), (int) g.ow()), "cudnnSetTensor4dDescriptor");
            check(cudnnPoolingForward(h.context(), pool, h.one(), xd, at(x), h.zero(), yd, at(out)),
                    "cudnnPoolingForward");
            return null;
        } catch (Refusal r) {
            return r.getMessage();
        } finally {
            if (!pool.isNull()) cudnnDestroyPoolingDescriptor(pool);
            if (!xd.isNull()) cudnnDestroyTensorDescriptor(xd);
            if (!yd.isNull()) cudnnDestroyTensorDescriptor(yd);
        }
    }

    // ------------------------------------------------------------------ algorithms

    private interface Chooser {
        Algo choose();
    }

    private Algo algo(String pass, Geometry g, Mode mode, Chooser chooser) {
        seen.put(g, mode.tf32());
        lastMode = mode;
        return algos.computeIfAbsent(key(pass, g, mode), k -> {
            try {
                return chooser.choose();
            } catch (Refusal r) {
                return new Algo(-1, 0, 0, r.getMessage());
            }
        });
    }

    /** The persistent cache's key: the GPU and cuDNN version besides the pass, mode and geometry. */
    private String cacheKey(String pass, Geometry g, Mode mode) {
        var devices = dev.soma.backend.CudaProbe.devices();
        int index = backend.device().index();
        String gpu = index < devices.size() ? devices.get(index) : backend.device().toString();
        return gpu + " | cuDNN " + cudnnGetVersion() + " | " + key(pass, g, mode);
    }

    private CudnnAlgorithmCache cache() {
        CudnnAlgorithmCache c = cache;
        if (c == null) {
            synchronized (this) {
                if (cache == null) cache = CudnnAlgorithmCache.configured();
                c = cache;
            }
        }
        return c;
    }

    /** One measured algorithm (what cudnnFind* reported) as the fields the caches keep. */
    private record Measured(int status, int algo, int determinism, int mathType, long memory, float ms) {}

    /**
     * The measured choice of a pass: from the disk cache, else the fastest acceptable of cuDNN's own timings
     * (cudnnFind*: sorted by time), remembered there; null when measuring is off or found nothing acceptable
     * (the caller then takes cuDNN's heuristic).
     */
    private Algo measured(String pass, Geometry g, Mode mode, java.util.function.Supplier<List<Measured>> find) {
        if (!mode.measure()) return null;
        String key = cacheKey(pass, g, mode);
        CudnnAlgorithmCache.Entry e = cache().get(key);
        if (e != null) return new Algo(e.algo(), e.mathType(), e.workspace(), null);
        for (Measured m : find.get()) {
            if (acceptable(m.status(), m.determinism(), m.mathType(), isFft(pass, m.algo()), mode)) {
                cache().put(key, new CudnnAlgorithmCache.Entry(m.algo(), m.mathType(), m.memory(), m.ms()));
                return new Algo(m.algo(), m.mathType(), m.memory(), null);
            }
        }
        return null;
    }

    private List<Measured> findForward(Handle h, Descriptors d) {
        int count = CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
        List<Measured> out = new ArrayList<>();
        try (IntPointer returned = new IntPointer(1);
             cudnnConvolutionFwdAlgoPerf_t perf = new cudnnConvolutionFwdAlgoPerf_t(count)) {
            if (cudnnFindConvolutionForwardAlgorithm(h.context(), d.x, d.w, d.conv, d.y, count, returned, perf)
                    != CUDNN_STATUS_SUCCESS) return out;
            for (int i = 0; i < returned.get(); i++) {
                cudnnConvolutionFwdAlgoPerf_t p = perf.getPointer(i);
                out.add(new Measured(p.status(), p.algo(), p.determinism(), p.mathType(), p.memory(), p.time()));
            }
        }
        return out;
    }

    private List<Measured> findBackwardData(Handle h, Descriptors d) {
        int count = CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT;
        List<Measured> out = new ArrayList<>();
        try (IntPointer returned = new IntPointer(1);
             cudnnConvolutionBwdDataAlgoPerf_t perf = new cudnnConvolutionBwdDataAlgoPerf_t(count)) {
            if (cudnnFindConvolutionBackwardDataAlgorithm(h.context(), d.w, d.y, d.conv, d.x, count, returned, perf)
                    != CUDNN_STATUS_SUCCESS) return out;
            for (int i = 0; i < returned.get(); i++) {
                cudnnConvolutionBwdDataAlgoPerf_t p = perf.getPointer(i);
                out.add(new Measured(p.status(), p.algo(), p.determinism(), p.mathType(), p.memory(), p.time()));
            }
        }
        return out;
    }

    private List<Measured> findBackwardFilter(Handle h, Descriptors d) {
        int count = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT;
        List<Measured> out = new ArrayList<>();
        try (IntPointer returned = new IntPointer(1);
             cudnnConvolutionBwdFilterAlgoPerf_t perf = new cudnnConvolutionBwdFilterAlgoPerf_t(count)) {
            if (cudnnFindConvolutionBackwardFilterAlgorithm(h.context(), d.x, d.y, d.conv, d.w, count, returned, perf)
                    != CUDNN_STATUS_SUCCESS) return out;
            for (int i = 0; i < returned.get(); i++) {
                cudnnConvolutionBwdFilterAlgoPerf_t p = perf.getPointer(i);
                out.add(new Measured(p.status(), p.algo(), p.determinism(), p.mathType(), p.memory(), p.time()));
            }
        }
        return out;
    }

    private static String key(String pass, Geometry g, Mode mode) {
        return pass + " " + mode + " " + g;
    }

    /**
     * The first answer that succeeded and is deterministic, with FMA math only unless TF32 is on, and not FFT-based
     * unless allowed; never CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION, which may round f32 data down to 16 bits.
     */
    static boolean acceptable(int status, int determinism, int mathType, boolean fft, Mode mode) {
        boolean math = mathType == CUDNN_FMA_MATH
                || mode.tf32() && (mathType == CUDNN_DEFAULT_MATH || mathType == CUDNN_TENSOR_OP_MATH);
        return status == CUDNN_STATUS_SUCCESS && (determinism == CUDNN_DETERMINISTIC || !mode.deterministic()) && math
                && (!fft || mode.fft());
    }

    /** Whether a pass's algorithm is FFT-based (VendorPaths#cudnnFft says why they are off by default). */
    static boolean isFft(String pass, int algo) {
        return switch (pass) {
            case "forward" -> algo == CUDNN_CONVOLUTION_FWD_ALGO_FFT || algo == CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING;
            case "backward data" -> algo == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT
                    || algo == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING;
            case "backward weights" -> algo == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT
                    || algo == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING;
            default -> throw new IllegalArgumentException("cuDNN convolution: unknown pass '" + pass + "'");
        };
    }

    private static Algo none(String pass) {
        return new Algo(-1, 0, 0, "cuDNN offers no " + pass + " algorithm with the wanted math and determinism here");
    }

    private static Algo chooseForward(Handle h, Descriptors d, Mode mode) {
        int count = CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
        try (IntPointer returned = new IntPointer(1);
             cudnnConvolutionFwdAlgoPerf_t perf = new cudnnConvolutionFwdAlgoPerf_t(count)) {
            check(cudnnGetConvolutionForwardAlgorithm_v7(h.context(), d.x, d.w, d.conv, d.y, count, returned, perf),
                    "cudnnGetConvolutionForwardAlgorithm_v7");
            for (int i = 0; i < returned.get(); i++) {
                cudnnConvolutionFwdAlgoPerf_t p = perf.getPointer(i);
                if (acceptable(p.status(), p.determinism(), p.mathType(), isFft("forward", p.algo()), mode)) {
                    return new Algo(p.algo(), p.mathType(), p.memory(), null);
                }
            }
            return none("forward");
        }
    }

    private static Algo chooseBackwardData(Handle h, Descriptors d, Mode mode) {
        int count = CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT;
        try (IntPointer returned = new IntPointer(1);
             cudnnConvolutionBwdDataAlgoPerf_t perf = new cudnnConvolutionBwdDataAlgoPerf_t(count)) {
            check(cudnnGetConvolutionBackwardDataAlgorithm_v7(h.context(), d.w, d.y, d.conv, d.x, count, returned,
                    perf), "cudnnGetConvolutionBackwardDataAlgorithm_v7");
            for (int i = 0; i < returned.get(); i++) {
                cudnnConvolutionBwdDataAlgoPerf_t p = perf.getPointer(i);
                if (acceptable(p.status(), p.determinism(), p.mathType(), isFft("backward data", p.algo()), mode)) {
                    return new Algo(p.algo(), p.mathType(), p.memory(), null);
                }
            }
            return none("backward-data");
        }
    }

    private static Algo chooseBackwardFilter(Handle h, Descriptors d, Mode mode) {
        int count = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT;
        try (IntPointer returned = new IntPointer(1);
             cudnnConvolutionBwdFilterAlgoPerf_t perf = new cudnnConvolutionBwdFilterAlgoPerf_t(count)) {
            check(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h.context(), d.x, d.y, d.conv, d.w, count, returned,
                    perf), "cudnnGetConvolutionBackwardFilterAlgorithm_v7");
            for (int i = 0; i < returned.get(); i++) {
                cudnnConvolutionBwdFilterAlgoPerf_t p = perf.getPointer(i);
                if (acceptable(p.status(), p.determinism(), p.mathType(), isFft("backward weights", p.algo()), mode)) {
                    return new Algo(p.algo(), p.mathType(), p.memory(), null);
                }
            }
            return none("backward-filter");
        }
    }

    // ------------------------------------------------------------------ diagnostics

    /**
     * For every geometry seen so far, every algorithm cuDNN offers for each pass, timed by cuDNN itself
     * (cudnnFind*Algorithm: it allocates, runs and times each one, so the numbers are its own), one line each:
     * {@code pass geometry algo=K ms det|nondet math=M workspace=B [chosen]}, "chosen" marking the heuristic pick
     * the passes use. A benchmark's diagnostic (what an algorithm search would gain), not used for choosing.
     */
    List<String> measuredAlternatives() {
        List<String> lines = new ArrayList<>();
        Handle h = handle();
        for (Map.Entry<Geometry, Boolean> e : seen.entrySet()) {
            Geometry g = e.getKey();
            boolean tf32 = e.getValue();
            for (int format : new int[] {CUDNN_TENSOR_NHWC, CUDNN_TENSOR_NCHW}) {
            String layout = format == CUDNN_TENSOR_NHWC ? "nhwc" : "nchw";
            int first = lines.size();
            try (Descriptors d = new Descriptors(g, tf32, format)) {
                addLines(lines, layout, "forward", g, tf32, findForward(h, d));
                addLines(lines, layout, "backward data", g, tf32, findBackwardData(h, d));
                addLines(lines, layout, "backward weights", g, tf32, findBackwardFilter(h, d));
            } catch (Refusal r) {
                lines.add(layout + " " + g + ": " + r.getMessage());
            }
            // "[chosen]" names the pick of the layout in use; the same algorithm number in the other is another kernel
            if (format != lastMode.format()) {
                for (int i = first; i < lines.size(); i++) lines.set(i, lines.get(i).replace(" [chosen]", ""));
            }
            }
        }
        return lines;
    }

    private void addLines(List<String> lines, String layout, String pass, Geometry g, boolean tf32, List<Measured> found) {
        if (found.isEmpty()) lines.add(layout + " " + pass + " " + g + ": the search failed or found nothing");
        for (Measured m : found) {
            lines.add(layout + " " + line(pass, g, tf32, m.algo(), m.status(), m.ms(), m.determinism(), m.mathType(), m.memory()));
        }
    }

    private String line(String pass, Geometry g, boolean tf32, int algo, int status, float ms, int determinism,
                        int math, long workspace) {
        Mode m = lastMode;
        Algo chosen = algos.get(key(pass, g, new Mode(tf32, m.nchw(), m.deterministic(), m.measure(), m.fft())));
        boolean isChosen = chosen != null && chosen.algo() == algo && chosen.mathType() == math;  // (NHWC rows)
        return String.format(java.util.Locale.ROOT, "%-16s %s algo=%d %s %.4f ms %s math=%d workspace=%d%s", pass, g,
                algo, status == CUDNN_STATUS_SUCCESS ? "ok" : "status" + status, ms,
                determinism == CUDNN_DETERMINISTIC ? "det" : "nondet", math, workspace, isChosen ? " [chosen]" : "");
    }

    // ------------------------------------------------------------------ plumbing

    /** The descriptors of one convolution geometry: x [N, H, W, C], y [N, OH, OW, OC], OHWI filter, bias. */
    private static final class Descriptors implements AutoCloseable {
        final cudnnTensorStruct x = new cudnnTensorStruct();
        final cudnnTensorStruct y = new cudnnTensorStruct();
        final cudnnTensorStruct bias = new cudnnTensorStruct();
        final cudnnFilterStruct w = new cudnnFilterStruct();
        final cudnnConvolutionStruct conv = new cudnnConvolutionStruct();

        Descriptors(Geometry g, boolean tf32) {
            this(g, tf32, CUDNN_TENSOR_NHWC);
        }

        /** {@code format}: CUDNN_TENSOR_NHWC (ours) or CUDNN_TENSOR_NCHW (measuredAlternatives compares both). */
        Descriptors(Geometry g, boolean tf32, int format) {
            try {
                check(cudnnCreateTensorDescriptor(x), "cudnnCreateTensorDescriptor");
                check(cudnnCreateTensorDescriptor(y), "cudnnCreateTensorDescriptor");
                check(cudnnCreateTensorDescriptor(bias), "cudnnCreateTensorDescriptor");
                check(cudnnCreateFilterDescriptor(w), "cudnnCreateFilterDescriptor");
                check(cudnnCreateConvolutionDescriptor(conv), "cudnnCreateConvolutionDescriptor");
                // (4-d descriptors take N, C, H, W whatever the memory format; NHWC sets the strides)
                check(cudnnSetTensor4dDescriptor(x, format, CUDNN_DATA_FLOAT, (int) g.n(), (int) g.c(),
                        (int) g.h(), (int) g.w()), "cudnnSetTensor4dDescriptor");
                check(cudnnSetTensor4dDescriptor(y, format, CUDNN_DATA_FLOAT, (int) g.n(), (int) g.oc(),
                        (int) g.oh(), (int) g.ow()), "cudnnSetTensor4dDescriptor");
                check(cudnnSetTensor4dDescriptor(bias, format, CUDNN_DATA_FLOAT, 1, (int) g.oc(), 1, 1),
                        "cudnnSetTensor4dDescriptor");
                check(cudnnSetFilter4dDescriptor(w, CUDNN_DATA_FLOAT, format, (int) g.oc(), (int) g.c(),
                        (int) g.kh(), (int) g.kw()), "cudnnSetFilter4dDescriptor");
                check(cudnnSetConvolution2dDescriptor(conv, (int) g.padTop(), (int) g.padLeft(), (int) g.sh(),
                        (int) g.sw(), (int) g.dh(), (int) g.dw(), CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
                        "cudnnSetConvolution2dDescriptor");
                check(cudnnSetConvolutionMathType(conv, tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH),
                        "cudnnSetConvolutionMathType");
            } catch (RuntimeException e) {
                close();
                throw e;
            }
        }

        @Override
        public void close() {
            if (!x.isNull()) cudnnDestroyTensorDescriptor(x);
            if (!y.isNull()) cudnnDestroyTensorDescriptor(y);
            if (!bias.isNull()) cudnnDestroyTensorDescriptor(bias);
            if (!w.isNull()) cudnnDestroyFilterDescriptor(w);
            if (!conv.isNull()) cudnnDestroyConvolutionDescriptor(conv);
            x.setNull();
            y.setNull();
            bias.setNull();
            w.setNull();
            conv.setNull();
        }
    }

    /** The calling thread's handle, bound to the backend's device and stream. */
    private Handle handle() {
        VendorLibraries.bind(backend.device().index());
        Handle h = handles.get();
        check(cudnnSetStream(h.context(), VendorLibraries.stream(backend.stream())), "cudnnSetStream");
        return h;
    }

    /**
     * HWIO [KH, KW, C, OC] permuted into cuDNN's filter layout, a pooled temporary the caller closes: OHWI
     * [OC, KH, KW, C] for NHWC, OIHW [OC, C, KH, KW] for NCHW.
     */
    private static Tensor filter(Tensor kernel, Geometry g, Mode mode) {
        long kh = g.kh(), kw = g.kw(), c = g.c(), oc = g.oc();
        return mode.nchw()
                ? permuted(kernel, new long[] {oc, c, kh, kw}, new long[] {1, oc, kw * c * oc, c * oc})
                : permuted(kernel, new long[] {oc, kh, kw, c}, new long[] {1, kw * c * oc, c * oc, oc});
    }

    /** NHWC [n, h, w, c] copied into a pooled NCHW temporary (the caller closes it). */
    private static Tensor toNchw(Tensor nhwc, long n, long h, long w, long c) {
        return permuted(nhwc, new long[] {n, c, h, w}, new long[] {h * w * c, 1, w * c, c});
    }

    /** A pooled NCHW [n, c, h, w] copied into the contiguous NHWC tensor {@code out}. */
    private static void fromNchw(Tensor nchw, Tensor out, long n, long h, long w, long c) {
        try (Tensor view = nchw.viewOf(nchw.offset(), new long[] {n, h, w, c}, new long[] {c * h * w, w, 1, h * w}).keep()) {
            out.backend().memory().copy(view, out);
        }
    }

    /** {@code src} read through (shape, strides) from its offset, copied into a dense pooled temporary. */
    private static Tensor permuted(Tensor src, long[] shape, long[] strides) {
        Tensor dense = Tensor.empty(DType.F32, src.device(), shape).keep();
        try (Tensor view = src.viewOf(src.offset(), shape, strides).keep()) {
            src.backend().memory().copy(view, dense);
        } catch (RuntimeException e) {
            dense.close();
            throw e;
        }
        return dense;
    }

    /**
     * A pooled workspace of {@code bytes} (null for none). Freed right after the launches, which is safe
     * because the pool hands the block out again only to work on this same stream.
     */
    private static Tensor workspace(long bytes, Tensor like) {
        return bytes <= 0 ? null : Tensor.empty(DType.F32, like.device(), (bytes + 3) / 4).keep();
    }

    private static Pointer at(Tensor t) {
        return VendorLibraries.at(t == null ? 0 : t.address());
    }

    private static void check(int status, String function) {
        if (status != CUDNN_STATUS_SUCCESS) {
            String text = cudnnGetErrorString(status).getString();
            throw new Refusal(function + ": " + text + " (cuDNN status " + status + ")");
        }
    }
}
