package dev.soma.privacy;

import dev.soma.autograd.Autograd;
import dev.soma.memory.Scope;
import dev.soma.ops.GhostNorms;
import dev.soma.ops.Shapes;
import dev.soma.tensor.Tensor;

import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What DP-SGD's ghost-norm step records while it is open on this thread: for each Dense, Conv2D, Embedding and
 * LayerNormalization call of a training forward, the layer's input (the ids; the normalised input) and (after
 * backward) the loss gradient at its pre-activation (affine) output. Those layers compute
 * their output with detached parameters while a tape is open, so backward forms no batch gradient for them; the
 * tape later gives each example's squared gradient norm (GhostNorms) and the clip-weighted gradient sum.
 *
 * <p>Every recorded input must hold the step's examples along its first axis, or, inside a {@link #fold} (TimeDistributed
 * runs its inner layer on {@code [examples * steps, ...]}), that many rows per example, example after example; such
 * inputs are recorded as {@code [examples, steps, ...]}, so that each example's norm covers all its rows. An input of
 * any other length, or a folded convolution, makes the tape {@link #unfit}: the step then takes the per-example path.
 */
public final class GhostTape implements AutoCloseable {
    private static final ThreadLocal<GhostTape> ACTIVE = new ThreadLocal<>();

    private final List<Entry> entries = new ArrayList<>();
    private final GhostNorms.Method method;
    // A leaf requiring grad that every tap takes as a second input, so that a tap on a layer whose input needs no
    // gradient (the first layer) is still recorded and sees its output gradient.
    private final Tensor anchor;
    private final GhostTape previous;
    private final long examples;
    private long rowsPerExample = 1; // > 1 inside folds
    private boolean unfit;

    private GhostTape(GhostNorms.Method method, long examples) {
        this.method = method;
        this.examples = examples;
        Tensor a = Tensor.zeros(dev.soma.tensor.DType.F32, dev.soma.tensor.Device.cpu(), 1).keep();
        this.anchor = a.setRequiresGrad(true);
        this.previous = ACTIVE.get();
        ACTIVE.set(this);
    }

    /**
     * Opens a tape on this thread for a forward of {@code examples} examples (close it to stop recording and free what
     * it kept).
     */
    public static GhostTape open(GhostNorms.Method method, long examples) {
        if (examples < 1) throw new IllegalArgumentException("GhostTape: a step needs >= 1 example, got " + examples);
        return new GhostTape(method, examples);
    }

    /** A span of the forward in which layers see {@code steps} rows per example, until it is closed. */
    public interface Fold extends AutoCloseable {
        @Override
        void close();
    }

    /**
     * Layers called until the returned fold closes get {@code steps} rows per example, example after example (the
     * order of reshaping {@code [examples, steps, ...]} to {@code [examples * steps, ...]}); folds nest.
     */
    public Fold fold(long steps) {
        long before = rowsPerExample;
        if (steps < 1) unfit = true; // no rows to hold an example's share: left to the per-example path
        else rowsPerExample = Math.multiplyExact(rowsPerExample, steps);
        return () -> rowsPerExample = before;
    }

    /** Whether a recorded input did not hold the step's examples as rows (see the class comment). */
    boolean unfit() {
        return unfit;
    }

    /** The open tape of this thread, or null: layers ask this in their training forward. */
    public static GhostTape active() {
        return ACTIVE.get();
    }

    /** Dense's pre-activation output {@code x · kernel + bias}, recorded. */
    public Tensor dense(Tensor x, Tensor kernel, Tensor bias) {
        Tensor z = x.matmul(kernel.detach());
        if (bias != null) z = z.add(bias.detach());
        return tap(new Entry(Kind.DENSE, x, kernel, bias, null, null, null), z);
    }

    /** Conv2D's pre-activation output, recorded. */
    public Tensor conv2d(Tensor x, Tensor kernel, Tensor bias, int[] strides, String padding, int[] dilation) {
        Tensor z = dev.soma.ops.Convolution.conv2d(x, kernel.detach(), bias == null ? null : bias.detach(), strides,
                padding, dilation);
        return tap(new Entry(Kind.CONV2D, x, kernel, bias, strides, padding, dilation), z);
    }

    /** Embedding's looked-up vectors of int32 {@code ids}, recorded. */
    public Tensor embedding(Tensor ids, Tensor table) {
        Tensor z = dev.soma.ops.Embeddings.embedding(ids, table.detach());
        return tap(new Entry(Kind.EMBEDDING, ids, table, null, null, null, null), z);
    }

    /** LayerNormalization's output {@code xhat · gamma + beta} (either may be null), recorded with xhat. */
    public Tensor layerNorm(Tensor x, Tensor gamma, Tensor beta, double epsilon) {
        Tensor xhat = dev.soma.ops.Normalization.layerNorm(x, null, null, epsilon);
        Tensor z = xhat;
        if (gamma != null) z = z.mul(gamma.detach());
        if (beta != null) z = z.add(beta.detach());
        return tap(new Entry(Kind.LAYER_NORM, xhat, gamma, beta, null, null, null), z);
    }

    /** Records {@code e} and returns the layer's output {@code z}, tapped. */
    private Tensor tap(Entry e, Tensor z) {
        long rows = e.input.ndim() == 0 ? -1 : e.input.size(0); // (LayerNormalization's x̂ has its input's shape)
        if (rows != examples * rowsPerExample || (rowsPerExample > 1 && e.kind == Kind.CONV2D)) unfit = true;
        else if (rowsPerExample > 1) e.unfold(examples, rowsPerExample);
        entries.add(e);
        Tensor out = z.detach();
        return Autograd.record("ghost_tap", out, grad -> {
            // Autograd adds up a tensor's gradients before its node's backward runs, so each tap sees its output's
            // whole gradient once. Kept (taken from backward's scope) rather than copied; the tape closes it.
            Tensor g = grad.isContiguous() ? grad : Shapes.copy(grad);
            e.delta = (e.rowsPerExample > 1 ? g.reshape(unfolded(g.shape(), examples, e.rowsPerExample)) : g).keep();
            return new Tensor[] {grad, null};
        }, z, anchor);
    }

    /** {@code [examples * rows, rest...]} as {@code [examples, rows, rest...]}. */
    private static long[] unfolded(long[] shape, long examples, long rows) {
        long[] out = new long[shape.length + 1];
        out[0] = examples;
        out[1] = rows;
        System.arraycopy(shape, 1, out, 2, shape.length - 1);
        return out;
    }

    /** The parameters the tape covers; a parameter seen twice (a layer called twice) is in {@code shared}. */
    Set<Tensor> covered(Set<Tensor> shared) {
        Set<Tensor> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        for (Entry e : entries) {
            for (Tensor p : new Tensor[] {e.kernel, e.bias}) {
                if (p != null && !seen.add(p)) shared.add(p);
            }
        }
        return seen;
    }

    /**
     * Each example's squared gradient norm over the recorded layers that hold a parameter of {@code trained}, for the
     * loss backward ran on: [batch]. A frozen layer (none of its parameters trained) adds nothing: its gradient is
     * neither released nor clipped. A layer with one of kernel and bias frozen counts whole (an over-estimate: more
     * clipping, never less privacy).
     */
    Tensor squaredNorms(long batch, Tensor like, Set<Tensor> trained) {
        Tensor sum = Tensor.zeros(like.dtype(), like.device(), batch);
        for (Entry e : entries) {
            if (e.delta == null) continue; // the output did not reach the loss
            if (!trained.contains(e.kernel) && (e.bias == null || !trained.contains(e.bias))) continue; // frozen
            Tensor n = switch (e.kind) {
                case DENSE -> GhostNorms.linear(e.input, e.delta, e.bias != null, method);
                case CONV2D -> GhostNorms.conv2d(e.input, e.kernel, e.delta, e.strides, e.padding, e.dilation,
                        e.bias != null, method);
                case EMBEDDING -> GhostNorms.embedding(e.input, e.delta);
                case LAYER_NORM -> GhostNorms.layerNorm(e.input, e.delta, e.kernel != null, e.bias != null);
            };
            sum = sum.add(n);
        }
        return sum;
    }

    /**
     * Adds {@code sum_i weights[i] · grad_i} of every recorded layer's parameters into {@code sums} (keyed by
     * parameter), grad_i being example i's gradient of the loss backward ran on.
     */
    void addWeighted(Tensor weights, Map<Tensor, Tensor> sums) {
        for (Entry e : entries) {
            if (e.delta == null) continue;
            if (sums.get(e.kernel) == null && (e.bias == null || sums.get(e.bias) == null)) continue; // frozen layer
            try (Scope s = Scope.open()) {
                long[] shape = new long[e.delta.ndim()];
                java.util.Arrays.fill(shape, 1);
                shape[0] = weights.size(0);
                Tensor g = e.delta.mul(weights.reshape(shape));
                Tensor gk;
                Tensor gb = null;
                if (e.kind == Kind.EMBEDDING) {
                    // The sparse scatter-add of the lookup's own backward, run once for the weighted gradient.
                    Tensor table = e.kernel;
                    table.zeroGrad();
                    try (dev.soma.autograd.GradMode.Guard on = dev.soma.autograd.GradMode.enable()) {
                        dev.soma.ops.Embeddings.embedding(e.input, table).backward(g);
                    }
                    gk = table.grad();
                    add(sums.get(table), gk);
                    table.zeroGrad();
                    continue;
                } else if (e.kind == Kind.LAYER_NORM) {
                    long d = g.size(-1);
                    Tensor g2 = g.reshape(-1, d);
                    gk = e.kernel == null ? null : g2.mul(e.input.reshape(-1, d)).sum(new int[] {0}, false);
                    if (e.bias != null) gb = g2.sum(new int[] {0}, false);
                } else if (e.kind == Kind.DENSE) {
                    long d = e.input.size(-1);
                    long p = g.size(-1);
                    Tensor g2 = g.reshape(-1, p);
                    gk = e.input.reshape(-1, d).transpose(0, 1).matmul(g2);
                    if (e.bias != null) gb = g2.sum(new int[] {0}, false);
                } else {
                    gk = Tensor.empty(e.kernel.dtype(), e.kernel.device(), e.kernel.shape());
                    if (e.bias != null) gb = Tensor.empty(e.bias.dtype(), e.bias.device(), e.bias.shape());
                    GhostNorms.conv2dWeightGradients(e.input, e.kernel, g, e.strides, e.padding, e.dilation, gk, gb);
                }
                if (gk != null) add(sums.get(e.kernel), gk);
                if (gb != null) add(sums.get(e.bias), gb);
            }
        }
    }

    private static void add(Tensor sum, Tensor g) {
        if (sum != null) sum.backend().memory().accumulate(sum, g);
    }

    @Override
    public void close() {
        if (ACTIVE.get() == this) {
            if (previous == null) ACTIVE.remove();
            else ACTIVE.set(previous);
        }
        for (Entry e : entries) {
            if (e.delta != null) e.delta.close();
            e.delta = null;
        }
        entries.clear();
        anchor.close();
    }

    /** Stops recording (later forwards on this thread run normally) but keeps what was recorded. */
    void stopRecording() {
        if (ACTIVE.get() == this) {
            if (previous == null) ACTIVE.remove();
            else ACTIVE.set(previous);
        }
    }

    private enum Kind { DENSE, CONV2D, EMBEDDING, LAYER_NORM }

    private static final class Entry {
        final Kind kind;
        Tensor input;
        long rowsPerExample = 1;
        final Tensor kernel;
        final Tensor bias;
        final int[] strides;
        final String padding;
        final int[] dilation;
        Tensor delta;

        Entry(Kind kind, Tensor input, Tensor kernel, Tensor bias, int[] strides, String padding, int[] dilation) {
            this.kind = kind;
            this.input = input;
            this.kernel = kernel;
            this.bias = bias;
            this.strides = strides;
            this.padding = padding;
            this.dilation = dilation;
        }

        /** Regroups a folded input by example: {@code [examples * rows, ...]} to {@code [examples, rows, ...]}. */
        void unfold(long examples, long rows) {
            Tensor x = input.isContiguous() ? input : Shapes.copy(input);
            input = x.reshape(unfolded(x.shape(), examples, rows));
            rowsPerExample = rows;
        }
    }
}
