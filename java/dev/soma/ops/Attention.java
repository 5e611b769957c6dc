package dev.soma.ops;

import dev.soma.autograd.Autograd;
import dev.soma.autograd.GradMode;
import dev.soma.backend.AttentionKernels;
import dev.soma.backend.RandomKernels;
import dev.soma.errors.DTypeException;
import dev.soma.errors.DeviceException;
import dev.soma.errors.ShapeException;
import dev.soma.errors.SomaException;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

import java.util.Arrays;

/**
 * Scaled dot-product attention, {@code softmax(scale q k^T + mask) v}, for {@code q [B, H, Tq, D]},
 * {@code k [B, H, Tk, D]}, {@code v [B, H, Tk, Dv]}: one fused op whose kernel never stores the
 * {@code Tq x Tk} score matrix (online softmax over key blocks, FlashAttention-2 backward from the saved
 * log-sum-exp), so its memory grows linearly in the sequence length.
 *
 * <p>Masks ({@link Options}): key lengths, a 0/1 key mask {@code [B, Tk]} or {@code [B, Tq, Tk]} (non-zero =
 * attend), and a causal mask (query i sees keys j <= i, as Keras' {@code use_causal_mask}). A query that sees no
 * key at all gets a zero output (Keras would spread it uniformly; PyTorch gives NaN). Dropout acts on the
 * normalised weights with the counter-based generator: the same (seed, stream) drops the same weights in the
 * forward, the backward and {@link #plain}. Returned weights ({@link #withWeights}) are the normalised weights
 * before dropout and carry no gradient.
 *
 * <p>Inputs may be strided views (a head-split {@code [B, T, H, D]} tensor permuted to {@code [B, H, T, D]} is
 * read without a copy) as long as the last dimension is contiguous; the output follows q's layout.
 * {@link #plain} is the reference path built from matmul, softmax and matmul.
 */
public final class Attention {
    private static final String OP = "attention";

    private Attention() {}

    /** Options of one attention call; every setter returns this. */
    public static final class Options {
        private double scale = Double.NaN;
        private boolean causal;
        private Tensor keyLengths;
        private Tensor mask;
        private double dropout;
        private long seed;
        private long stream;

        /** Score scale; default {@code 1 / sqrt(D)}. */
        public Options scale(double s) {
            this.scale = s;
            return this;
        }

        /** Query i attends to keys j <= i only. */
        public Options causal(boolean on) {
            this.causal = on;
            return this;
        }

        /** int32 {@code [B]}: keys at positions >= length are masked (padding). */
        public Options keyLengths(Tensor lengths) {
            this.keyLengths = lengths;
            return this;
        }

        /** {@code [B, Tk]} or {@code [B, Tq, Tk]}, any dtype: non-zero where the query may attend to the key. */
        public Options mask(Tensor m) {
            this.mask = m;
            return this;
        }

        /** Dropout on the weights with probability {@code rate} from the Philox stream (seed, stream). */
        public Options dropout(double rate, long seed, long stream) {
            this.dropout = rate;
            this.seed = seed;
            this.stream = stream;
            return this;
        }

        public boolean causal() {
            return causal;
        }
    }

    /** Output and, when asked for, the weights {@code [B, H, Tq, Tk]} (no gradient). */
    public record Result(Tensor output, Tensor weights) {}

    public static Tensor scaledDotProduct(Tensor q, Tensor k, Tensor v) {
        return scaledDotProduct(q, k, v, new Options());
    }

    public static Tensor scaledDotProduct(Tensor q, Tensor k, Tensor v, Options o) {
        return run(q, k, v, o, false).output;
    }

    /** As {@link #scaledDotProduct}, also returning the weights (quadratic memory: for inspection). */
    public static Result withWeights(Tensor q, Tensor k, Tensor v, Options o) {
        return run(q, k, v, o, true);
    }

    // ------------------------------------------------------------------ fused op

    private static Result run(Tensor q, Tensor k, Tensor v, Options o, boolean wantWeights) {
        Geometry g = validate(q, k, v, o);
        Tensor lengths = lengths(g, o);
        Tensor mask = mask(g, o);
        AttentionKernels.Spec spec = new AttentionKernels.Spec(g.scale, o.causal, lengths, mask,
                mask == null ? 0 : (mask.ndim() == 3 ? g.tq * g.tk : g.tk), mask != null && mask.ndim() == 3 ? g.tk : 0,
                o.dropout, o.seed, o.stream);
        Tensor qc = unitLast(q);
        Tensor kc = unitLast(k);
        Tensor vc = unitLast(v);
        Tensor out = emptyLike(qc, g.dv);
        Tensor lse = Tensor.empty(g.dtype, q.device(), g.b, g.h, g.tq);
        Tensor weights = wantWeights ? Tensor.empty(g.dtype, q.device(), g.b, g.h, g.tq, g.tk) : null;
        q.backend().attention().forward(spec, qc, kc, vc, out, lse, weights);
        boolean grad = Autograd.needsGrad(q, k, v);
        if (!grad) {
            lse.close();
            if (lengths != null && lengths != o.keyLengths) lengths.close();
            if (mask != null && mask != o.mask) mask.close();
            if (qc != q) qc.close();
            if (kc != k) kc.close();
            if (vc != v) vc.close();
            return new Result(out, weights);
        }
        Autograd.record(OP, out, gOut -> {
            Tensor go = unitLast(gOut);
            Tensor dq = emptyLike(qc, g.d);
            Tensor dk = emptyLike(kc, g.d);
            Tensor dv = emptyLike(vc, g.dv);
            q.backend().attention().backward(spec, qc, kc, vc, out, lse, go, dq, dk, dv);
            if (go != gOut) go.close();
            return new Tensor[] {dq, dk, dv};
        }, q, k, v);
        return new Result(out, weights);
    }

    /** Shapes and scale of one call, validated. */
    private record Geometry(DType dtype, Device device, long b, long h, long tq, long tk, long d, long dv, double scale) {}

    private static void sameDevice(String what, Tensor t, Geometry g) {
        if (!t.device().equals(g.device)) {
            throw new DeviceException(OP + ": " + what + " " + t.describe() + " is not on " + g.device + " with q, k and v");
        }
    }

    private static Geometry validate(Tensor q, Tensor k, Tensor v, Options o) {
        if (o == null) throw new NullPointerException(OP + ": options are null");
        Check.sameDevice(OP, q, k, v);
        DType dtype = Check.sameDType(OP, q, k, v);
        Check.floating(OP, q);
        Check.rank(OP, q, 4);
        Check.rank(OP, k, 4);
        Check.rank(OP, v, 4);
        long[] qs = q.shape();
        long[] ks = k.shape();
        long[] vs = v.shape();
        if (qs[0] != ks[0] || qs[1] != ks[1] || qs[0] != vs[0] || qs[1] != vs[1] || qs[3] != ks[3] || ks[2] != vs[2]) {
            throw new ShapeException(OP + ": expected q [B, H, Tq, D], k [B, H, Tk, D], v [B, H, Tk, Dv], got q "
                    + q.describe() + ", k " + k.describe() + ", v " + v.describe());
        }
        double scale = Double.isNaN(o.scale) ? 1.0 / Math.sqrt(Math.max(1, qs[3])) : o.scale;
        if (!Double.isFinite(scale)) throw new SomaException(OP + ": scale must be finite, got " + o.scale);
        if (!(o.dropout >= 0 && o.dropout < 1)) {
            throw new SomaException(OP + ": dropout must be in [0, 1), got " + o.dropout);
        }
        return new Geometry(dtype, q.device(), qs[0], qs[1], qs[2], ks[2], qs[3], vs[3], scale);
    }

    /** The key lengths as a contiguous int32 [B] tensor after range checks, or null. */
    private static Tensor lengths(Geometry g, Options o) {
        Tensor l = o.keyLengths;
        if (l == null) return null;
        Check.open(OP + " keyLengths", l);
        sameDevice("keyLengths", l, g);
        Check.dtype(OP + " keyLengths", l, DType.I32);
        if (l.ndim() != 1 || l.size(0) != g.b) {
            throw new ShapeException(OP + ": keyLengths " + l.describe() + " must have shape [" + g.b + "] (one per batch entry)");
        }
        for (int n : l.toIntArray()) {
            if (n < 0 || n > g.tk) {
                throw new ShapeException(OP + ": keyLengths holds " + n + ", outside [0, " + g.tk + "] (Tk of k)");
            }
        }
        if (l.isContiguous()) return l;
        try (GradMode.Guard off = GradMode.disable()) {
            return Shapes.copy(l);
        }
    }

    /** The mask as a contiguous int32 0/1 tensor of shape [B, Tk] or [B, Tq, Tk], or null. */
    private static Tensor mask(Geometry g, Options o) {
        Tensor m = o.mask;
        if (m == null) return null;
        Check.open(OP + " mask", m);
        sameDevice("mask", m, g);
        boolean keyMask = Arrays.equals(m.shape(), new long[] {g.b, g.tk});
        boolean fullMask = Arrays.equals(m.shape(), new long[] {g.b, g.tq, g.tk});
        if (!keyMask && !fullMask) {
            throw new ShapeException(OP + ": mask " + m.describe() + " must have shape [" + g.b + ", " + g.tk + "] or ["
                    + g.b + ", " + g.tq + ", " + g.tk + "] ([B, Tk] or [B, Tq, Tk])");
        }
        if (m.dtype() == DType.I32 && m.isContiguous()) return m;
        try (GradMode.Guard off = GradMode.disable()) {
            if (m.dtype() == DType.I32) return Shapes.copy(m);
            if (!m.dtype().isFloating()) throw new DTypeException(OP + ": mask " + m.describe() + " has an unsupported dtype");
            try (Tensor zero = Tensor.zeros(m.dtype(), m.device()); Tensor nz = m.ne(zero)) {
                return nz.to(DType.I32);
            }
        }
    }

    /** t itself when its last dimension has unit stride (or size <= 1), else a contiguous copy (not recorded). */
    private static Tensor unitLast(Tensor t) {
        if (t.size(3) <= 1 || t.strides()[3] == 1) return t;
        try (GradMode.Guard off = GradMode.disable()) {
            return Shapes.copy(t);
        }
    }

    /**
     * An uninitialised [B, H, T, last] tensor laid out as {@code like}: time-major ([B, T, H, last] in memory,
     * seen through a permuted view) when like's time stride exceeds its head stride, else contiguous.
     */
    private static Tensor emptyLike(Tensor like, long last) {
        long[] s = like.shape();
        long[] st = like.strides();
        if (s[1] > 1 && s[2] > 1 && st[2] > st[1]) {
            Tensor base = Tensor.empty(like.dtype(), like.device(), s[0], s[2], s[1], last);
            Tensor view = base.viewOf(0, new long[] {s[0], s[1], s[2], last},
                    new long[] {s[1] * s[2] * last, last, s[1] * last, 1});
            base.close();
            return view;
        }
        return Tensor.empty(like.dtype(), like.device(), s[0], s[1], s[2], last);
    }

    // ------------------------------------------------------------------ reference path

    /**
     * The same function from plain ops (matmul, softmax, matmul), storing the whole score matrix: the reference
     * the fused op is tested against. Masked scores become -1e9 before the softmax and masked weights 0 after it
     * (so a query that sees no key gets a zero output, as in the fused op); dropout uses the same Philox mask.
     */
    public static Result plain(Tensor q, Tensor k, Tensor v, Options o) {
        Geometry g = validate(q, k, v, o);
        Tensor lengths = lengths(g, o);
        Tensor mask = mask(g, o);
        Tensor s = q.matmul(k.transpose(-1, -2)).mul(g.scale);
        Tensor vis = null;
        if (lengths != null || mask != null || o.causal) {
            vis = visibility(g, o.causal, lengths, mask);
            try (Tensor big = Tensor.full(-1e9, g.dtype, q.device())) {
                s = Elementwise.where(vis, s, big);
            }
        }
        Tensor p = s.softmax(-1);
        if (vis != null) {
            try (Tensor zero = Tensor.zeros(g.dtype, q.device())) {
                p = Elementwise.where(vis, p, zero);
            }
        }
        Tensor weights = p;
        if (o.dropout > 0) {
            Tensor keep;
            try (GradMode.Guard off = GradMode.disable();
                 Tensor u = Tensor.empty(DType.F32, q.device(), g.b, g.h, g.tq, g.tk);
                 Tensor rate = Tensor.full(o.dropout, DType.F32, q.device())) {
                u.backend().random().fill(RandomKernels.Distribution.UNIFORM, u, o.seed, o.stream, 0, 1);
                try (Tensor kept = u.ge(rate); Tensor kt = kept.to(g.dtype)) {
                    keep = kt.mul(1.0 / (1.0 - o.dropout));
                }
            }
            p = p.mul(keep);
        }
        return new Result(p.matmul(v), weights);
    }

    /** 1 where query i of batch b may see key j, else 0: [B, 1, Tq, Tk] in the call's dtype (no gradient). */
    private static Tensor visibility(Geometry g, boolean causal, Tensor lengths, Tensor mask) {
        int b = Math.toIntExact(g.b), tq = Math.toIntExact(g.tq), tk = Math.toIntExact(g.tk);
        int[] len = lengths == null ? null : lengths.toIntArray();
        int[] m = mask == null ? null : mask.toIntArray();
        boolean full = mask != null && mask.ndim() == 3;
        double[] vis = new double[b * tq * tk];
        for (int bi = 0; bi < b; bi++) {
            for (int i = 0; i < tq; i++) {
                for (int j = 0; j < tk; j++) {
                    boolean ok = (len == null || j < len[bi]) && (!causal || j <= i)
                            && (m == null || m[full ? (bi * tq + i) * tk + j : bi * tk + j] != 0);
                    vis[(bi * tq + i) * tk + j] = ok ? 1 : 0;
                }
            }
        }
        try (GradMode.Guard off = GradMode.disable(); Tensor t = Tensor.of(vis, g.b, 1, g.tq, g.tk)) {
            return t.to(g.dtype);
        }
    }
}
