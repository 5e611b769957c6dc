package dev.soma.tensor;

import dev.soma.autograd.Autograd;
import dev.soma.autograd.GradMode;
import dev.soma.autograd.Node;
import dev.soma.backend.Backend;
import dev.soma.backend.Backends;
import dev.soma.errors.ClosedTensorException;
import dev.soma.errors.DTypeException;
import dev.soma.errors.DeviceException;
import dev.soma.errors.ShapeException;
import dev.soma.memory.ScopedResource;
import dev.soma.ops.Elementwise;
import dev.soma.ops.Linalg;
import dev.soma.ops.Reductions;
import dev.soma.ops.Shapes;

import java.util.Arrays;

/**
 * An n-dimensional array in native memory: a view (offset, shape, strides in elements) of a {@link Storage}
 * block from its device's pool, plus autograd state. Tensors created while a {@link dev.soma.memory.Scope} is
 * open belong to it; others must be closed by their creator. Closing is idempotent; using a closed tensor
 * throws {@link ClosedTensorException}.
 *
 * <p>The instance methods below are the fluent face of the op classes in {@code dev.soma.ops}.
 */
public final class Tensor extends ScopedResource {
    private final Storage storage;
    private final long offset;
    private final long[] shape;
    private final long[] strides;
    private final DType dtype;
    private boolean closed;
    private boolean requiresGrad;
    private Tensor grad;
    private Node gradFn;

    private Tensor(Storage storage, long offset, long[] shape, long[] strides, DType dtype) {
        this.storage = storage;
        this.offset = offset;
        this.shape = shape;
        this.strides = strides;
        this.dtype = dtype;
        storage.retain();
        joinCurrentScope();
    }

    // ------------------------------------------------------------------ creation

    /** Uninitialised contiguous tensor. */
    public static Tensor empty(DType dtype, Device device, long... shape) {
        long[] s = Shapes.checkShape("empty", shape);
        long bytes = Math.multiplyExact(Shapes.numel(s), (long) dtype.byteSize());
        Backend backend = Backends.get(device);
        Storage storage = new Storage(device, backend.pool(), bytes, backend.currentStream());
        return new Tensor(storage, 0, s, Shapes.contiguousStrides(s), dtype);
    }

    public static Tensor empty(long... shape) {
        return empty(DType.F32, Device.cpu(), shape);
    }

    public static Tensor full(double value, DType dtype, Device device, long... shape) {
        Tensor t = empty(dtype, device, shape);
        t.backend().memory().fill(t, value);
        return t;
    }

    public static Tensor full(double value, long... shape) {
        return full(value, DType.F32, Device.cpu(), shape);
    }

    public static Tensor zeros(DType dtype, Device device, long... shape) {
        return full(0, dtype, device, shape);
    }

    public static Tensor zeros(long... shape) {
        return full(0, shape);
    }

    public static Tensor ones(DType dtype, Device device, long... shape) {
        return full(1, dtype, device, shape);
    }

    public static Tensor ones(long... shape) {
        return full(1, shape);
    }

    /** {@code start, start + step, ...} below {@code end} as float32 (see {@link dev.soma.ops.Creation#arange}). */
    public static Tensor arange(double start, double end, double step) {
        return dev.soma.ops.Creation.arange(start, end, step);
    }

    public static Tensor arange(double start, double end, double step, DType dtype) {
        return dev.soma.ops.Creation.arange(start, end, step, dtype);
    }

    /** Seeded uniform [0, 1) float32 values (Philox; reproducible for a seed). */
    public static Tensor rand(long seed, long... shape) {
        return dev.soma.ops.Creation.rand(seed, shape);
    }

    /** Seeded standard-normal float32 values (Philox + Box-Muller; reproducible for a seed). */
    public static Tensor randn(long seed, long... shape) {
        return dev.soma.ops.Creation.randn(seed, shape);
    }

    /** A zero-dimensional f32 tensor holding {@code value}. */
    public static Tensor scalar(double value) {
        return full(value, DType.F32, Device.cpu());
    }

    /** Copies {@code data} (row-major) into a new f32 CPU tensor of the given shape (1-d when none is given). */
    public static Tensor of(float[] data, long... shape) {
        Tensor t = empty(DType.F32, Device.cpu(), dataShape("Tensor.of", data.length, shape));
        t.backend().memory().write(t, data);
        return t;
    }

    public static Tensor of(double[] data, long... shape) {
        Tensor t = empty(DType.F64, Device.cpu(), dataShape("Tensor.of", data.length, shape));
        t.backend().memory().write(t, data);
        return t;
    }

    public static Tensor ofInts(int[] data, long... shape) {
        Tensor t = empty(DType.I32, Device.cpu(), dataShape("Tensor.ofInts", data.length, shape));
        t.backend().memory().write(t, data);
        return t;
    }

    private static long[] dataShape(String op, int length, long[] shape) {
        if (shape.length == 0) return new long[] {length};
        long[] s = Shapes.checkShape(op, shape);
        if (Shapes.numel(s) != length) {
            throw new ShapeException(op + ": " + length + " values cannot fill shape " + Arrays.toString(s)
                    + " (" + Shapes.numel(s) + " elements expected)");
        }
        return s;
    }

    /** A tensor over the same storage with new geometry; records nothing (callers do). */
    public Tensor viewOf(long offset, long[] shape, long[] strides) {
        checkOpen("view");
        ViewBounds.check(() -> "view of " + describe(), storage.bytes / dtype.byteSize(), offset, shape, strides);
        return new Tensor(storage, offset, shape.clone(), strides.clone(), dtype);
    }

    // ------------------------------------------------------------------ metadata

    public long[] shape() {
        return shape.clone();
    }

    /** Size of dimension {@code dim}; negative counts from the end. */
    public long size(int dim) {
        return shape[Shapes.axis("size", dim, shape.length)];
    }

    public int ndim() {
        return shape.length;
    }

    public long numel() {
        return Shapes.numel(shape);
    }

    public long[] strides() {
        return strides.clone();
    }

    public long offset() {
        return offset;
    }

    public DType dtype() {
        return dtype;
    }

    public Device device() {
        return storage.device;
    }

    public Backend backend() {
        return Backends.get(storage.device);
    }

    public boolean isContiguous() {
        if (numel() <= 1) return true;
        // As PyTorch: the stride of a size-1 axis never moves anything, so it does not matter (a head axis of 1
        // permuted elsewhere is still row-major).
        long expected = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            if (shape[i] == 1) continue;
            if (strides[i] != expected) return false;
            expected *= shape[i];
        }
        return true;
    }

    /** Address of the first element; for backends only. */
    public long address() {
        checkOpen("address");
        return storage.address() + offset * dtype.byteSize();
    }

    public boolean isClosed() {
        return closed;
    }

    /** Whether this tensor and {@code other} are views of one storage (the same memory, whatever their offsets). */
    public boolean sharesStorageWith(Tensor other) {
        return other != null && storage == other.storage;
    }

    /** "float32[2, 3] on cpu": how messages name a tensor. */
    public String describe() {
        return dtype + Arrays.toString(shape) + " on " + device() + (closed ? " (closed)" : "");
    }

    /** Throws when this tensor is closed; {@code op} names the caller in the message. */
    public void checkOpen(String op) {
        if (closed) {
            throw new ClosedTensorException(op + ": tensor " + describe() + " is closed (its scope ended or close() "
                    + "was called); keep() it or create it in an enclosing scope to use it longer");
        }
    }

    // ------------------------------------------------------------------ data in and out

    public float[] toFloatArray() {
        requireDType("toFloatArray", DType.F32);
        int length = hostLength("toFloatArray");
        try (Tensor c = contiguousDetached()) {
            float[] out = new float[length];
            backend().memory().read(c, out);
            return out;
        }
    }

    public double[] toDoubleArray() {
        int length = hostLength("toDoubleArray");
        if (dtype != DType.F64) {
            try (Tensor c = to(DType.F64)) {
                return c.toDoubleArray();
            }
        }
        try (Tensor c = contiguousDetached()) {
            double[] out = new double[length];
            backend().memory().read(c, out);
            return out;
        }
    }

    public int[] toIntArray() {
        requireDType("toIntArray", DType.I32);
        int length = hostLength("toIntArray");
        try (Tensor c = contiguousDetached()) {
            int[] out = new int[length];
            backend().memory().read(c, out);
            return out;
        }
    }

    /** The element count as a Java array length, or a ShapeException when no array can hold them all. */
    private int hostLength(String op) {
        long n = numel();
        if (n > Integer.MAX_VALUE - 8) {
            throw new ShapeException(op + ": tensor " + describe() + " has " + n + " elements, more than a Java array "
                    + "holds (" + (Integer.MAX_VALUE - 8) + "); read it in slices");
        }
        return (int) n;
    }

    /** The single value of a one-element tensor. */
    public double item() {
        if (numel() != 1) {
            throw new ShapeException("item: tensor " + describe() + " has " + numel() + " elements, expected 1");
        }
        return toDoubleArray()[0];
    }

    private void requireDType(String op, DType expected) {
        checkOpen(op);
        if (dtype != expected) {
            throw new DTypeException(op + ": tensor " + describe() + " has dtype " + dtype + ", expected " + expected);
        }
    }

    /** This tensor if contiguous, else a contiguous copy (recorded for autograd). */
    public Tensor contiguous() {
        checkOpen("contiguous");
        if (isContiguous()) return this;
        return Shapes.copy(this);
    }

    /** A contiguous copy or this very tensor, never recorded: for reading values out. */
    private Tensor contiguousDetached() {
        checkOpen("read");
        if (isContiguous()) return viewOf(offset, shape, strides);
        try (GradMode.Guard g = GradMode.disable()) {
            return Shapes.copy(this);
        }
    }

    /** A new tensor with the same values (recorded for autograd). */
    public Tensor copy() {
        return Shapes.copy(this);
    }

    /** Converts to another dtype (a copy; recorded for autograd between float types). */
    public Tensor to(DType target) {
        return Shapes.cast(this, target);
    }

    // ------------------------------------------------------------------ devices

    /**
     * A copy of this tensor on {@code target} (always a new contiguous tensor, in the current scope, even when this
     * one is already there); every dtype, CPU to CUDA and back. Recorded for autograd between floating types: the
     * gradient flows back to this tensor's device.
     */
    public Tensor to(Device target) {
        checkOpen("to(" + target + ")");
        Tensor out = dev.soma.backend.Transfers.to(this, target);
        if (!dtype.isFloating()) return out;
        Device from = device();
        return Autograd.record("to(" + target + ")", out, g -> new Tensor[] {dev.soma.backend.Transfers.to(g, from)}, this);
    }

    /**
     * Moves this tensor's values to {@code target} in place and returns this tensor: its storage (and so every view
     * of it) now lives on {@code target}, its old memory goes back to the old device's pool, and an accumulated
     * gradient moves too. This is how {@code Model.to} moves weights and optimizer state while every holder keeps
     * the same tensor object. Call it between steps, not while a graph that reads the tensor is alive.
     */
    public Tensor moveTo(Device target) {
        checkOpen("moveTo(" + target + ")");
        if (!device().equals(target)) {
            long n = storage.bytes / dtype.byteSize();
            try (Tensor whole = new Tensor(storage, 0, new long[] {n}, new long[] {1}, dtype);
                 Tensor moved = dev.soma.backend.Transfers.to(whole, target)) {
                storage.swapWith(moved.storage);
            }
        }
        if (grad != null && !grad.isClosed()) grad.moveTo(target);
        return this;
    }

    /**
     * Notes that work enqueued on the raw stream handle {@code stream} uses this tensor's memory (for code that runs
     * work on a second stream, such as the data prefetcher): when the memory is released it is not reused before
     * that work has finished. Without effect when {@code stream} is the one the memory was allocated for.
     */
    public void recordStream(long stream) {
        checkOpen("recordStream");
        storage.recordStream(stream);
    }

    // ------------------------------------------------------------------ autograd

    public boolean requiresGrad() {
        return requiresGrad;
    }

    /** Marks a leaf as needing gradients; only floating-point tensors can. Returns this. */
    public Tensor setRequiresGrad(boolean on) {
        checkOpen("setRequiresGrad");
        if (on && !dtype.isFloating()) {
            throw new DTypeException("setRequiresGrad: tensor " + describe() + " is not floating point");
        }
        if (!on && gradFn != null) {
            throw new IllegalStateException("setRequiresGrad(false): " + describe()
                    + " was computed by " + gradFn.op() + "; use detach() instead");
        }
        requiresGrad = on;
        return this;
    }

    /** The accumulated gradient of a leaf, or null before the first backward. Owned by this tensor. */
    public Tensor grad() {
        return grad;
    }

    public Node gradFn() {
        return gradFn;
    }

    /** Called by {@link Autograd#record}: makes this tensor a non-leaf output of an op. */
    public void setGradFn(Node node) {
        this.gradFn = node;
        this.requiresGrad = true;
    }

    /** Adds {@code g} into this leaf's gradient, allocating it (outside any scope) on first use. */
    public void accumulateGrad(Tensor g) {
        accumulateGrad(g, false);
    }

    /**
     * {@link #accumulateGrad(Tensor)}; when {@code adoptable} ({@code g} is a temporary of the caller's innermost
     * open scope that nothing else will read or write, as backward's own results are), a first gradient takes g
     * over instead of copying it, as PyTorch's autograd does. It does so only when g is a plain tensor of its own:
     * owned by that scope, contiguous, of this leaf's dtype, shape and device, and the only view of its whole storage.
     */
    public void accumulateGrad(Tensor g, boolean adoptable) {
        checkOpen("accumulateGrad");
        checkGradient("accumulateGrad", g);
        if (grad == null || grad.isClosed()) {
            if (adoptable && canAdopt(g)) {
                grad = g.keep();
                return;
            }
            Tensor fresh = Tensor.empty(dtype, device(), shape).keep();
            backend().memory().copy(g, fresh);
            grad = fresh;
        } else {
            backend().memory().accumulate(grad, g);
        }
    }

    /**
     * Throws unless {@code g} can be this tensor's gradient: open, and of its shape, dtype and device (as PyTorch
     * requires). Checked before the gradient's memory is allocated, so a refusal leaves nothing behind.
     */
    public void checkGradient(String op, Tensor g) {
        if (g == null) throw new IllegalArgumentException(op + ": the gradient for " + describe() + " is null");
        g.checkOpen(op);
        String expected = ": the gradient " + g.describe() + " must match the tensor " + describe()
                + " in shape, dtype and device";
        if (!Arrays.equals(g.shape, shape)) throw new ShapeException(op + expected);
        if (g.dtype != dtype) throw new DTypeException(op + expected);
        if (!g.device().equals(device())) throw new DeviceException(op + expected);
    }

    private boolean canAdopt(Tensor g) {
        // !g.requiresGrad: a gradient, never a recorded op's output.
        return g != this && !g.requiresGrad && !g.closed && g.owner() != null && g.owner() == dev.soma.memory.Scope.current()
                && g.dtype == dtype && Arrays.equals(g.shape, shape) && g.device().equals(device())
                && g.offset == 0 && g.isContiguous() && g.storage.bytes == g.numel() * dtype.byteSize()
                && g.storage.hasOneUser();
    }

    /** Drops the accumulated gradient (frees it). */
    public void zeroGrad() {
        if (grad != null) {
            grad.close();
            grad = null;
        }
    }

    /** A tensor sharing this one's storage but cut from the graph: no grad, no history. */
    public Tensor detach() {
        checkOpen("detach");
        return new Tensor(storage, offset, shape, strides, dtype);
    }

    public void backward() {
        Autograd.backward(this);
    }

    public void backward(Tensor gradOutput) {
        Autograd.backward(this, gradOutput);
    }

    // ------------------------------------------------------------------ lifetime

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        gradFn = null;
        if (grad != null) {
            grad.close();
            grad = null;
        }
        storage.release();
    }

    // ------------------------------------------------------------------ fluent ops

    public Tensor add(Tensor other) { return Elementwise.add(this, other); }
    public Tensor add(double v) { return Elementwise.add(this, v); }
    public Tensor sub(Tensor other) { return Elementwise.sub(this, other); }
    public Tensor sub(double v) { return Elementwise.sub(this, v); }
    public Tensor mul(Tensor other) { return Elementwise.mul(this, other); }
    public Tensor mul(double v) { return Elementwise.mul(this, v); }
    public Tensor div(Tensor other) { return Elementwise.div(this, other); }
    public Tensor div(double v) { return Elementwise.div(this, v); }
    public Tensor neg() { return Elementwise.neg(this); }
    public Tensor pow(double exponent) { return Elementwise.pow(this, exponent); }
    public Tensor pow(Tensor exponent) { return Elementwise.pow(this, exponent); }
    public Tensor exp() { return Elementwise.exp(this); }
    public Tensor log() { return Elementwise.log(this); }
    public Tensor sqrt() { return Elementwise.sqrt(this); }
    public Tensor abs() { return Elementwise.abs(this); }
    public Tensor tanh() { return Elementwise.tanh(this); }
    public Tensor sigmoid() { return Elementwise.sigmoid(this); }
    public Tensor relu() { return Elementwise.relu(this); }
    public Tensor leakyRelu(double alpha) { return Elementwise.leakyRelu(this, alpha); }
    public Tensor gelu() { return Elementwise.gelu(this); }
    public Tensor clamp(double min, double max) { return Elementwise.clamp(this, min, max); }
    public Tensor eq(Tensor other) { return Elementwise.eq(this, other); }
    public Tensor ne(Tensor other) { return Elementwise.ne(this, other); }
    public Tensor lt(Tensor other) { return Elementwise.lt(this, other); }
    public Tensor le(Tensor other) { return Elementwise.le(this, other); }
    public Tensor gt(Tensor other) { return Elementwise.gt(this, other); }
    public Tensor ge(Tensor other) { return Elementwise.ge(this, other); }

    public Tensor sum() { return Reductions.sum(this); }
    public Tensor sum(int[] axes, boolean keepDims) { return Reductions.sum(this, axes, keepDims); }
    public Tensor mean() { return Reductions.mean(this); }
    public Tensor mean(int[] axes, boolean keepDims) { return Reductions.mean(this, axes, keepDims); }
    public Tensor max(int[] axes, boolean keepDims) { return Reductions.max(this, axes, keepDims); }
    public Tensor min(int[] axes, boolean keepDims) { return Reductions.min(this, axes, keepDims); }
    public Tensor argmax(int axis, boolean keepDims) { return Reductions.argmax(this, axis, keepDims); }
    public Tensor variance(int[] axes, boolean keepDims) { return Reductions.variance(this, axes, keepDims); }
    public Tensor softmax(int axis) { return Reductions.softmax(this, axis); }
    public Tensor logSoftmax(int axis) { return Reductions.logSoftmax(this, axis); }

    public Tensor matmul(Tensor other) { return Linalg.matmul(this, other); }

    public Tensor reshape(long... newShape) { return Shapes.reshape(this, newShape); }
    public Tensor permute(int... axes) { return Shapes.permute(this, axes); }
    public Tensor transpose(int a, int b) { return Shapes.transpose(this, a, b); }
    public Tensor slice(int dim, long start, long end, long step) { return Shapes.slice(this, dim, start, end, step); }
    public Tensor select(int dim, long index) { return Shapes.select(this, dim, index); }
    public Tensor expand(long... newShape) { return Shapes.expand(this, newShape); }
    public Tensor squeeze(int dim) { return Shapes.squeeze(this, dim); }
    public Tensor unsqueeze(int dim) { return Shapes.unsqueeze(this, dim); }
    public Tensor flatten() { return Shapes.reshape(this, numel()); }

    @Override
    public String toString() {
        return TensorFormat.format(this);
    }
}
