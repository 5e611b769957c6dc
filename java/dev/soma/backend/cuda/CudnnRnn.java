package dev.soma.backend.cuda;

import dev.soma.backend.RecurrentKernels.Cell;
import dev.soma.backend.RecurrentKernels.Grads;
import dev.soma.backend.RecurrentKernels.Spec;
import dev.soma.backend.RecurrentKernels.Workspace;
import dev.soma.errors.NativeException;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import org.bytedeco.cuda.cudnn.cudnnContext;
import org.bytedeco.cuda.cudnn.cudnnRNNDataStruct;
import org.bytedeco.cuda.cudnn.cudnnRNNStruct;
import org.bytedeco.cuda.cudnn.cudnnTensorStruct;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.SizeTPointer;

import java.util.Arrays;

import static org.bytedeco.cuda.global.cudnn.*;

/**
 * One-layer unidirectional LSTM and GRU (reset_after=True) through cuDNN's v8 RNN API, f32. The caller
 * ({@link CudaRecurrent}) has checked eligibility ({@link VendorPaths#cudnnRnnRefusal}), put the input time-major
 * in processing order in {@code ws.xs [T, N, F]} and the initial states in {@code ws.h[0]} and {@code ws.c[0]};
 * cuDNN reads them there (sequence-major data, every sequence T long), writes its outputs to
 * {@code ws.h[1..T]} and the LSTM's final cell state to {@code ws.c[T]}.
 *
 * <p>Weights: our Keras {@code w [F, G*H]}, {@code u [H, G*H]} are copied gate by gate (transposed) into
 * cuDNN's weight space at the places cudnnGetRNNWeightParams names, before every forward (the weights change
 * every step). cuDNN's gate order is LSTM i, f, g, o (ours i, f, c, o) and GRU r, z, h' (ours z, r, h). The
 * bias mode is always double: the LSTM's one bias goes to the input bias and the recurrent bias is zero; the
 * GRU's {@code [2, 3H]} rows are exactly cuDNN's input and recurrent biases (its h' = tanh(W x + b_W + r * (R h
 * + b_R)) is Keras' reset_after=True). A training forward keeps the weight space, the reserve space and the
 * device sequence lengths in {@code ws.library()} for the backward; they belong to the forward's scope, as
 * the workspace does. Workspaces come from the pool and are freed right after the calls (the pool hands a
 * block out again only to work on this same stream). Everything runs on the backend's compute stream.
 */
final class CudnnRnn {
    /** What a training forward leaves its backward (tensors owned by the forward's scope). */
    record Saved(Tensor weights, long weightBytes, Tensor reserve, long reserveBytes, Tensor seqLengths, boolean tf32,
            VendorPaths.RnnAlgo algo) {}

    /** A failed cuDNN status or an unexpected weight layout: the forward's caller runs ours instead. */
    static final class Refusal extends RuntimeException {
        Refusal(String message) {
            super(message, null, false, false);
        }
    }

    private final CudaBackend backend;
    /** A handle per thread that runs a recurrence, destroyed after the thread ends. */
    private final PerThreadHandles<cudnnContext> handles;
    /** The algorithm of this thread's latest successful forward (for the path log). */
    private final ThreadLocal<VendorPaths.RnnAlgo> lastAlgo = new ThreadLocal<>();
    /**
     * What one geometry needs besides the data, made once (descriptors, weight-space size and layout, temporary
     * sizes) and kept as long as the backend: rebuilding them took some twenty cuDNN host calls per pass.
     * Descriptors are only read by the calls, so threads share them.
     */
    private final java.util.Map<String, Plan> plans = new java.util.concurrent.ConcurrentHashMap<>();

    /** One geometry's descriptors and sizes; {@code train} / {@code infer}: {workspace, reserve} bytes. */
    private record Plan(Descriptors d, long weightBytes, Layout layout, long[] train, long[] infer) {}

    CudnnRnn(CudaBackend backend) {
        this.backend = backend;
        int device = backend.device().index();
        this.handles = new PerThreadHandles<>(() -> {
            cudnnContext h = new cudnnContext();
            check(cudnnCreate(h), "cudnnCreate");
            return h;
        }, h -> {
            VendorLibraries.bind(device); // cudnnDestroy waits for the handle's work
            cudnnDestroy(h);
        });
    }

    /** cuDNN's linear-layer index of our (Keras-order) gate q: GRU z, r, h are cuDNN's 1, 0, 2. */
    static int cudnnGate(Cell cell, int q) {
        if (cell == Cell.GRU) return new int[] {1, 0, 2}[q];
        return q;
    }

    // ------------------------------------------------------------------ forward

    /**
     * The forward over the whole sequence; null when cuDNN ran it, else why not (then nothing of the output
     * was relied on and the caller runs ours, which rewrites everything).
     */
    String forward(Spec s, Tensor w, Tensor u, Tensor bias, Workspace ws, boolean tf32) {
        boolean training = ws.library() != null;
        int mode = training ? CUDNN_FWD_MODE_TRAINING : CUDNN_FWD_MODE_INFERENCE;
        Tensor weights = null, seq = null, reserve = null;
        boolean done = false;
        try {
            cudnnContext ctx = handle();
            VendorPaths.RnnAlgo algo = VendorPaths.cudnnRnnAlgo(s.hidden(), training);
            Plan plan;
            try {
                plan = plan(ctx, s, tf32, algo, w);
            } catch (Refusal r) {
                if (algo == VendorPaths.RnnAlgo.STANDARD) throw r;
                algo = VendorPaths.RnnAlgo.STANDARD; // cuDNN refuses the persistent kernels for this geometry
                plan = plan(ctx, s, tf32, algo, w);
            }
            Descriptors d = plan.d();
            long weightBytes = plan.weightBytes();
            weights = space(weightBytes, w, training);
            pack(s, w, u, bias, weights, plan.layout());
            long[] temp = training ? plan.train() : plan.infer();
            seq = Tensor.empty(DType.I32, w.device(), s.batch());
            if (!training) seq.keep();
            backend.memory().fill(seq, s.steps());
            if (training) reserve = space(temp[1], w, true);
            long es = 4, nh = s.batch() * s.hidden();
            long c = ws.c() == null ? 0 : ws.c().address();
            try (Tensor work = space(temp[0], w, false)) {
                check(cudnnRNNForward(ctx, d.rnn, mode, devInts(seq), d.x, at(ws.xs().address()), d.y,
                        at(ws.h().address() + nh * es), d.h, at(ws.h().address()), at(0), d.h, at(c),
                        at(c == 0 ? 0 : c + s.steps() * nh * es), weightBytes, at(weights.address()), temp[0], at(work),
                        training ? temp[1] : 0, at(reserve)), "cudnnRNNForward");
            }
            if (training) ws.library().set(new Saved(weights, weightBytes, reserve, temp[1], seq, tf32, algo));
            lastAlgo.set(algo);
            done = true;
            return null;
        } catch (Refusal r) {
            return r.getMessage();
        } finally {
            // Inference frees everything now; a refused training forward frees what it made (close is idempotent,
            // so closing a scope's tensor early is fine).
            if (!training || !done) {
                for (Tensor t : new Tensor[] {weights, seq, reserve}) if (t != null) t.close();
            }
        }
    }

    /** The algorithm this thread's latest successful forward ran (null before one). */
    VendorPaths.RnnAlgo lastForwardAlgo() {
        return lastAlgo.get();
    }

    // ------------------------------------------------------------------ backward

    /**
     * Backward from {@code dyT [T, N, H]} (time-major, processing order) and the LSTM's final-cell gradient
     * {@code dcy [N, H]} (null: zero) into {@code dxs [T, N, F]} (time-major, processing order; the caller
     * reorders it), {@code grads.dh0/dc0} and, when any is wanted, {@code grads.dw/du/db}. A failure throws:
     * the forward ran cuDNN, so our backward has none of the values it would need.
     */
    void backward(Spec s, Workspace ws, Saved saved, Tensor dyT, Tensor dcy, Tensor dxs, Grads g) {
        try {
            cudnnContext ctx = handle();
            Plan plan = plan(ctx, s, saved.tf32(), saved.algo(), dyT);
            Descriptors d = plan.d();
            long[] temp = plan.train();
            if (temp[1] != saved.reserveBytes()) {
                throw new Refusal("reserve space of " + temp[1] + " B now, " + saved.reserveBytes() + " B in the forward");
            }
            long es = 4, nh = s.batch() * s.hidden();
            long y = ws.h().address() + nh * es, hx = ws.h().address();
            long cx = ws.c() == null ? 0 : ws.c().address();
            try (Tensor work = space(temp[0], dyT, false)) {
                check(cudnnRNNBackwardData_v8(ctx, d.rnn, devInts(saved.seqLengths()), d.y, at(y), at(dyT.address()),
                        d.x, at(dxs.address()), d.h, at(hx), at(0), at(g.dh0() == null ? 0 : g.dh0().address()), d.h,
                        at(cx), at(dcy == null ? 0 : dcy.address()), at(g.dc0() == null ? 0 : g.dc0().address()),
                        saved.weightBytes(), at(saved.weights().address()), temp[0], at(work), saved.reserveBytes(),
                        at(saved.reserve())), "cudnnRNNBackwardData_v8");
                if (g.dw() == null && g.du() == null && g.db() == null) return;
                try (Tensor dWeights = space(saved.weightBytes(), dyT, false)) {
                    Layout layout = plan.layout();
                    backend.memory().fill(dWeights, 0.0); // cuDNN only adds into the weight gradients
                    check(cudnnRNNBackwardWeights_v8(ctx, d.rnn, CUDNN_WGRAD_MODE_ADD, devInts(saved.seqLengths()),
                            d.x, at(ws.xs().address()), d.h, at(hx), d.y, at(y), saved.weightBytes(),
                            at(dWeights.address()), temp[0], at(work), saved.reserveBytes(),
                            at(saved.reserve())), "cudnnRNNBackwardWeights_v8");
                    unpack(s, g, dWeights, layout);
                }
            }
        } catch (Refusal r) {
            throw new NativeException("cuDNN " + s.cell().name().toLowerCase(java.util.Locale.ROOT)
                    + " backward (batch " + s.batch() + ", steps " + s.steps() + ", features " + s.features()
                    + ", hidden " + s.hidden() + ") failed after a cuDNN forward: " + r.getMessage());
        }
    }

    /** The plan of (cell, sizes, TF32, algorithm), made at first use; a refusal while making it is not kept. */
    private Plan plan(cudnnContext ctx, Spec s, boolean tf32, VendorPaths.RnnAlgo algo, Tensor like) {
        String key = s.cell() + " n" + s.batch() + " t" + s.steps() + " f" + s.features() + " h" + s.hidden()
                + (tf32 ? " tf32 " : " fp32 ") + algo;
        Plan p = plans.get(key);
        if (p != null) return p;
        Descriptors d = new Descriptors(s, tf32, algo);
        try {
            long weightBytes = weightSpaceBytes(ctx, d);
            Layout layout;
            // Offsets into the space are relative: found once on a scratch space of the right size.
            try (Tensor scratch = space(weightBytes, like, false)) {
                layout = layout(ctx, d, s, scratch, weightBytes);
            }
            p = new Plan(d, weightBytes, layout, tempSpace(ctx, d, CUDNN_FWD_MODE_TRAINING),
                    tempSpace(ctx, d, CUDNN_FWD_MODE_INFERENCE));
        } catch (RuntimeException e) {
            d.close();
            throw e;
        }
        Plan raced = plans.putIfAbsent(key, p);
        if (raced != null) {
            d.close();
            return raced;
        }
        return p;
    }

    // ------------------------------------------------------------------ weights

    /**
     * Element offsets in the weight space of each linear layer's matrix and bias (cuDNN's ids 0..2G-1), and
     * whether, in our gate order, the input matrices, the recurrent matrices and the biases each follow one
     * another at equal steps (then each group moves in one strided copy instead of one per gate).
     */
    record Layout(long[] matrix, long[] bias, boolean evenlySpaced) {}

    /** Whether the blocks of our gates q = 0..g-1 (cuDNN ids first + cudnnGate(q)) sit {@code step} apart. */
    private static boolean evenly(long[] offsets, int first, Cell cell, int g, long step) {
        for (int q = 1; q < g; q++) {
            if (offsets[first + cudnnGate(cell, q)] != offsets[first + cudnnGate(cell, 0)] + q * step) return false;
        }
        return true;
    }

    private static long weightSpaceBytes(cudnnContext ctx, Descriptors d) {
        try (SizeTPointer size = new SizeTPointer(1)) {
            check(cudnnGetRNNWeightSpaceSize(ctx, d.rnn, size), "cudnnGetRNNWeightSpaceSize");
            return size.get();
        }
    }

    /** Where each matrix and bias lives, checked against the shapes we copy (row-major [H, in], bias [H]). */
    private static Layout layout(cudnnContext ctx, Descriptors d, Spec s, Tensor space, long bytes) {
        int g = s.cell().gates;
        long h = s.hidden(), f = s.features(), elements = bytes / 4;
        long[] matrix = new long[2 * g], bias = new long[2 * g];
        cudnnTensorStruct m = new cudnnTensorStruct();
        cudnnTensorStruct b = new cudnnTensorStruct();
        try (PointerPointer<Pointer> mAddr = new PointerPointer<>(1); PointerPointer<Pointer> bAddr = new PointerPointer<>(1)) {
            check(cudnnCreateTensorDescriptor(m), "cudnnCreateTensorDescriptor");
            check(cudnnCreateTensorDescriptor(b), "cudnnCreateTensorDescriptor");
            for (int id = 0; id < 2 * g; id++) {
                long in = id < g ? f : h;
                check(cudnnGetRNNWeightParams(ctx, d.rnn, 0, bytes, at(space.address()), id, m, mAddr, b, bAddr),
                        "cudnnGetRNNWeightParams");
                expectDims(m, new int[] {1, (int) h, (int) in}, "matrix " + id);
                expectDims(b, new int[] {1, (int) h, 1}, "bias " + id);
                matrix[id] = offset(mAddr.get(0), space, elements, h * in, "matrix " + id);
                bias[id] = offset(bAddr.get(0), space, elements, h, "bias " + id);
            }
        } finally {
            if (!m.isNull()) cudnnDestroyTensorDescriptor(m);
            if (!b.isNull()) cudnnDestroyTensorDescriptor(b);
        }
        Cell cell = s.cell();
        boolean even = evenly(matrix, 0, cell, g, h * f) && evenly(matrix, g, cell, g, h * h)
                && evenly(bias, 0, cell, g, h) && evenly(bias, g, cell, g, h);
        return new Layout(matrix, bias, even);
    }

    private static void expectDims(cudnnTensorStruct desc, int[] want, String what) {
        int[] type = new int[1], nb = new int[1], dims = new int[3], strides = new int[3];
        check(cudnnGetTensorNdDescriptor(desc, 3, type, nb, dims, strides), "cudnnGetTensorNdDescriptor");
        boolean rowMajor = strides[2] == 1 && (want[2] == 1 || strides[1] == want[2]);
        if (nb[0] != 3 || type[0] != CUDNN_DATA_FLOAT || !Arrays.equals(dims, want) || !rowMajor) {
            throw new Refusal("unexpected weight layout of " + what + ": dims " + Arrays.toString(dims) + " strides "
                    + Arrays.toString(strides) + " (type " + type[0] + ", " + nb[0] + " dims), expected "
                    + Arrays.toString(want) + " row-major f32");
        }
    }

    private static long offset(Pointer p, Tensor space, long elements, long size, String what) {
        long bytes = (p == null ? 0 : p.address()) - space.address();
        if (p == null || p.address() == 0 || bytes < 0 || bytes % 4 != 0 || bytes / 4 + size > elements) {
            throw new Refusal(what + " of " + size + " elements is not inside the weight space of " + elements);
        }
        return bytes / 4;
    }

    /** Our weights into cuDNN's space: per gate, W's and U's column block transposed, and the biases. */
    private void pack(Spec s, Tensor w, Tensor u, Tensor bias, Tensor space, Layout l) {
        int g = s.cell().gates;
        long h = s.hidden(), f = s.features(), gh = g * h, es = 4;
        boolean gru = s.cell() == Cell.GRU;
        // An LSTM's recurrent biases (and every bias without one) stay zero.
        if (!gru || bias == null) backend.memory().fill(space, 0.0);
        if (l.evenlySpaced) {
            int first = cudnnGate(s.cell(), 0);
            // gate q, row r, column c of cuDNN's [H, in] block = our w[c, q H + r]
            copy(new long[] {g, h, f}, w.address(), new long[] {h, 1, gh}, at(space, l.matrix[first]),
                    new long[] {h * f, f, 1});
            copy(new long[] {g, h, h}, u.address(), new long[] {h, 1, gh}, at(space, l.matrix[g + first]),
                    new long[] {h * h, h, 1});
            if (bias != null) {
                copy(new long[] {gh}, bias.address(), new long[] {1}, at(space, l.bias[first]), new long[] {1});
                if (gru) copy(new long[] {gh}, bias.address() + gh * es, new long[] {1}, at(space, l.bias[g + first]), new long[] {1});
            }
            return;
        }
        for (int q = 0; q < g; q++) {
            int id = cudnnGate(s.cell(), q);
            copy(new long[] {h, f}, w.address() + q * h * es, new long[] {1, gh}, at(space, l.matrix[id]), new long[] {f, 1});
            copy(new long[] {h, h}, u.address() + q * h * es, new long[] {1, gh}, at(space, l.matrix[g + id]), new long[] {h, 1});
            if (bias != null) {
                copy(new long[] {h}, bias.address() + q * h * es, new long[] {1}, at(space, l.bias[id]), new long[] {1});
                if (gru) {
                    copy(new long[] {h}, bias.address() + (gh + q * h) * es, new long[] {1}, at(space, l.bias[g + id]),
                            new long[] {1});
                }
            }
        }
    }

    /** cuDNN's weight gradients back into our layouts (each wanted gradient written whole). */
    private void unpack(Spec s, Grads gr, Tensor space, Layout l) {
        int g = s.cell().gates;
        long h = s.hidden(), f = s.features(), gh = g * h, es = 4;
        boolean gru = s.cell() == Cell.GRU;
        if (l.evenlySpaced) {
            int first = cudnnGate(s.cell(), 0);
            if (gr.dw() != null) {
                copy(new long[] {g, h, f}, at(space, l.matrix[first]), new long[] {h * f, f, 1}, gr.dw().address(),
                        new long[] {h, 1, gh});
            }
            if (gr.du() != null) {
                copy(new long[] {g, h, h}, at(space, l.matrix[g + first]), new long[] {h * h, h, 1}, gr.du().address(),
                        new long[] {h, 1, gh});
            }
            if (gr.db() != null) {
                copy(new long[] {gh}, at(space, l.bias[first]), new long[] {1}, gr.db().address(), new long[] {1});
                if (gru) copy(new long[] {gh}, at(space, l.bias[g + first]), new long[] {1}, gr.db().address() + gh * es, new long[] {1});
            }
            return;
        }
        for (int q = 0; q < g; q++) {
            int id = cudnnGate(s.cell(), q);
            if (gr.dw() != null) {
                copy(new long[] {h, f}, at(space, l.matrix[id]), new long[] {f, 1}, gr.dw().address() + q * h * es,
                        new long[] {1, gh});
            }
            if (gr.du() != null) {
                copy(new long[] {h, h}, at(space, l.matrix[g + id]), new long[] {h, 1}, gr.du().address() + q * h * es,
                        new long[] {1, gh});
            }
            if (gr.db() != null) {
                // The LSTM's one bias is cuDNN's input bias (its recurrent bias has the same gradient, unused).
                copy(new long[] {h}, at(space, l.bias[id]), new long[] {1}, gr.db().address() + q * h * es, new long[] {1});
                if (gru) {
                    copy(new long[] {h}, at(space, l.bias[g + id]), new long[] {1}, gr.db().address() + (gh + q * h) * es,
                            new long[] {1});
                }
            }
        }
    }

    private static long at(Tensor space, long elementOffset) {
        return space.address() + elementOffset * 4;
    }

    private void copy(long[] shape, long from, long[] fromStrides, long to, long[] toStrides) {
        backend.bind();
        int status = dev.soma.jni.CudaKernels.soma_cuda_strided_copy(DType.F32.code(), shape.length, shape, from,
                fromStrides, to, toStrides, backend.stream());
        CudaStatus.kernel(status, "soma_cuda_strided_copy", () -> "of " + Arrays.toString(shape)
                + " f32 between our recurrent weights and cuDNN's weight space");
    }

    // ------------------------------------------------------------------ plumbing

    /** {workspace bytes, reserve bytes} for this mode. */
    private static long[] tempSpace(cudnnContext ctx, Descriptors d, int mode) {
        try (SizeTPointer work = new SizeTPointer(1); SizeTPointer reserve = new SizeTPointer(1)) {
            check(cudnnGetRNNTempSpaceSizes(ctx, d.rnn, mode, d.x, work, reserve), "cudnnGetRNNTempSpaceSizes");
            return new long[] {work.get(), reserve.get()};
        }
    }

    /**
     * The descriptors of one run: the RNN (one layer, unidirectional, double bias, f32, FMA math unless TF32),
     * x and y as sequence-major data with every sequence T long, and h / c as {@code [1, N, H]}.
     */
    private static final class Descriptors implements AutoCloseable {
        final cudnnRNNStruct rnn = new cudnnRNNStruct();
        final cudnnRNNDataStruct x = new cudnnRNNDataStruct();
        final cudnnRNNDataStruct y = new cudnnRNNDataStruct();
        final cudnnTensorStruct h = new cudnnTensorStruct();
        final FloatPointer padding = new FloatPointer(0f);

        Descriptors(Spec s, boolean tf32, VendorPaths.RnnAlgo algo) {
            int n = (int) s.batch(), t = (int) s.steps(), f = (int) s.features(), hid = (int) s.hidden();
            try {
                check(cudnnCreateRNNDescriptor(rnn), "cudnnCreateRNNDescriptor");
                check(cudnnCreateRNNDataDescriptor(x), "cudnnCreateRNNDataDescriptor");
                check(cudnnCreateRNNDataDescriptor(y), "cudnnCreateRNNDataDescriptor");
                check(cudnnCreateTensorDescriptor(h), "cudnnCreateTensorDescriptor");
                int cell = s.cell() == Cell.LSTM ? CUDNN_LSTM : CUDNN_GRU;
                check(cudnnSetRNNDescriptor_v8(rnn, algo.code, cell, CUDNN_RNN_DOUBLE_BIAS,
                        CUDNN_UNIDIRECTIONAL, CUDNN_LINEAR_INPUT, CUDNN_DATA_FLOAT, CUDNN_DATA_FLOAT,
                        tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH, f, hid, hid, 1, null, CUDNN_RNN_PADDED_IO_ENABLED),
                        "cudnnSetRNNDescriptor_v8");
                int[] lengths = new int[n];
                Arrays.fill(lengths, t);
                check(cudnnSetRNNDataDescriptor(x, CUDNN_DATA_FLOAT, CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_UNPACKED, t, n, f,
                        lengths, padding), "cudnnSetRNNDataDescriptor");
                check(cudnnSetRNNDataDescriptor(y, CUDNN_DATA_FLOAT, CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_UNPACKED, t, n, hid,
                        lengths, padding), "cudnnSetRNNDataDescriptor");
                check(cudnnSetTensorNdDescriptor(h, CUDNN_DATA_FLOAT, 3, new int[] {1, n, hid}, new int[] {n * hid, hid, 1}),
                        "cudnnSetTensorNdDescriptor");
            } catch (RuntimeException e) {
                close();
                throw e;
            }
        }

        @Override
        public void close() {
            if (!rnn.isNull()) cudnnDestroyRNNDescriptor(rnn);
            if (!x.isNull()) cudnnDestroyRNNDataDescriptor(x);
            if (!y.isNull()) cudnnDestroyRNNDataDescriptor(y);
            if (!h.isNull()) cudnnDestroyTensorDescriptor(h);
            rnn.setNull();
            x.setNull();
            y.setNull();
            h.setNull();
            padding.close();
        }
    }

    /** The calling thread's handle, bound to the backend's device and stream. */
    private cudnnContext handle() {
        VendorLibraries.bind(backend.device().index());
        cudnnContext h = handles.get();
        check(cudnnSetStream(h, VendorLibraries.stream(backend.stream())), "cudnnSetStream");
        return h;
    }

    /**
     * A pooled block of {@code bytes} (null for none): kept (the caller closes it) unless it must outlive the
     * call ({@code scoped}: it joins the open scope, as the op's workspace does).
     */
    private static Tensor space(long bytes, Tensor like, boolean scoped) {
        if (bytes <= 0) return null;
        Tensor t = Tensor.empty(DType.F32, like.device(), (bytes + 3) / 4);
        return scoped ? t : t.keep();
    }

    private static Pointer at(long raw) {
        return VendorLibraries.at(raw);
    }

    private static Pointer at(Tensor t) {
        return VendorLibraries.at(t == null ? 0 : t.address());
    }

    /** A device int32 array as the preset's IntPointer (no ownership). */
    private static IntPointer devInts(Tensor t) {
        long raw = t.address();
        return new IntPointer() {
            {
                address = raw;
            }
        };
    }

    private static void check(int status, String function) {
        if (status != CUDNN_STATUS_SUCCESS) {
            String text = cudnnGetErrorString(status).getString();
            throw new Refusal(function + ": " + text + " (cuDNN status " + status + ")");
        }
    }
}
