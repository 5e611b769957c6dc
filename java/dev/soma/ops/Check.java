package dev.soma.ops;

import dev.soma.errors.DTypeException;
import dev.soma.errors.DeviceException;
import dev.soma.errors.ShapeException;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

import java.util.Arrays;
import java.util.stream.Collectors;

/** Argument validation shared by every op: runs in Java before any native call, names the op in messages. */
public final class Check {
    private Check() {}

    /** Tensors are non-null and open. */
    public static void open(String op, Tensor... tensors) {
        for (int i = 0; i < tensors.length; i++) {
            if (tensors[i] == null) throw new NullPointerException(op + ": argument " + i + " is null");
            tensors[i].checkOpen(op);
        }
    }

    /** All tensors live on one device; returns it. */
    public static Device sameDevice(String op, Tensor... tensors) {
        open(op, tensors);
        Device d = tensors[0].device();
        for (Tensor t : tensors) {
            if (!t.device().equals(d)) {
                throw new DeviceException(op + ": tensors are on different devices (" + list(tensors)
                        + "); move them with to(device) first");
            }
        }
        return d;
    }

    /** All tensors have one dtype; returns it. */
    public static DType sameDType(String op, Tensor... tensors) {
        DType d = tensors[0].dtype();
        for (Tensor t : tensors) {
            if (t.dtype() != d) {
                throw new DTypeException(op + ": dtypes differ (" + list(tensors) + "); expected all " + d
                        + ", convert with to(dtype)");
            }
        }
        return d;
    }

    /** The tensor is floating point (f32 or f64). */
    public static void floating(String op, Tensor t) {
        if (!t.dtype().isFloating()) {
            throw new DTypeException(op + ": tensor " + t.describe() + " has dtype " + t.dtype()
                    + ", expected float32 or float64");
        }
    }

    public static void dtype(String op, Tensor t, DType expected) {
        if (t.dtype() != expected) {
            throw new DTypeException(op + ": tensor " + t.describe() + " has dtype " + t.dtype() + ", expected " + expected);
        }
    }

    /** The usual entry check of a binary op: open, one device, one floating dtype. */
    public static DType binaryFloat(String op, Tensor a, Tensor b) {
        sameDevice(op, a, b);
        DType d = sameDType(op, a, b);
        floating(op, a);
        return d;
    }

    public static void rank(String op, Tensor t, int... allowed) {
        for (int r : allowed) if (t.ndim() == r) return;
        throw new ShapeException(op + ": tensor " + t.describe() + " has rank " + t.ndim() + ", expected rank "
                + Arrays.stream(allowed).mapToObj(Integer::toString).collect(Collectors.joining(" or ")));
    }

    public static void sameShape(String op, Tensor a, Tensor b) {
        if (!Arrays.equals(a.shape(), b.shape())) {
            throw new ShapeException(op + ": shapes differ (" + a.describe() + " vs " + b.describe()
                    + "); expected equal shapes");
        }
    }

    static String list(Tensor... tensors) {
        return Arrays.stream(tensors).map(Tensor::describe).collect(Collectors.joining(", "));
    }
}
