package dev.soma.backend;

import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

/**
 * Moves tensors between devices by way of host memory (simple, not fast: a direct peer or pinned-memory path
 * can replace it later). The result is a new contiguous tensor on the target device, not recorded for autograd.
 */
public final class Transfers {
    private Transfers() {}

    /** A copy of {@code t} on {@code target} (a copy even when {@code t} is already there). */
    public static Tensor to(Tensor t, Device target) {
        t.checkOpen("to(" + target + ")");
        Backend dst = Backends.get(target);
        Tensor out = Tensor.empty(t.dtype(), target, t.shape());
        try {
            if (t.dtype() == DType.F32) {
                dst.memory().write(out, t.toFloatArray());
            } else if (t.dtype() == DType.F64) {
                dst.memory().write(out, t.toDoubleArray());
            } else {
                dst.memory().write(out, t.toIntArray());
            }
        } catch (RuntimeException e) {
            out.close();
            throw e;
        }
        return out;
    }
}
