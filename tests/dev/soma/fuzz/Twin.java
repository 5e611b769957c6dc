package dev.soma.fuzz;

import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

import java.util.SplittableRandom;
import java.util.function.UnaryOperator;

/**
 * How the fuzzer checks the values of a call that succeeded: the same call again on the CPU in float64 (our float64
 * loops, a reference independent of oneDNN's kernels, of our vectorised float32 ones and of the CUDA ones), and once
 * more with every floating input perturbed by its own dtype's rounding (relative 2^-24 for float32, 2^-53 for
 * float64). The second run measures how much rounding alone moves this call's results: a sum that cancels, a
 * recurrent layer whose state grows step by step, attention over one key. A result may then differ from the reference
 * by DESIGN.md's bound or by 100 times that sensitivity, whichever is larger; a kernel that is wrong differs by far
 * more. This found oneDNN's one-channel strided convolution and its strided batched matmul (float32 on the CPU), and
 * the recurrent kernels' lost NaN (CUDA against the CPU).
 *
 * @param perturbed whether the inputs are perturbed (the sensitivity run)
 * @param seed where the perturbation's random signs come from
 */
record Twin(boolean perturbed, long seed, boolean widened) {
    static Twin reference() {
        return new Twin(false, 0, true);
    }

    static Twin perturbed(long seed) {
        return new Twin(true, seed, true);
    }

    /**
     * The same dtypes on the CPU: for a GPU call, the CPU's own error against the reference is a second yardstick (a
     * gradient that cancels to 0 in exact arithmetic, attention over one key, comes out as float32 rounding noise on
     * both devices, which perturbing the inputs does not reproduce).
     */
    static Twin cpu() {
        return new Twin(false, 0, false);
    }

    /**
     * Whether a call on {@code home} with these inputs has a reference: on the CPU only a float32 one (a float64 call
     * there would be its own reference).
     */
    static boolean covers(Device home, Iterable<Tensor> inputs) {
        if (!home.equals(Device.cpu())) return true;
        boolean f32 = false;
        for (Tensor t : inputs) f32 |= t != null && !t.isClosed() && t.dtype() == DType.F32;
        return f32;
    }

    /**
     * The twin of one input: on the CPU, floating values in float64 unless this is the CPU twin (perturbed in the
     * perturbed one), needing a gradient when the original does.
     */
    Tensor copy(Tensor t) {
        Tensor c;
        if (t.dtype() == DType.I32 || !widened) {
            c = t.detach().to(Device.cpu()).contiguous();
            if (c.sharesStorageWith(t)) c = c.copy();
        } else {
            double[] v = t.toDoubleArray();
            if (perturbed) {
                double u = t.dtype() == DType.F32 ? 0x1p-24 : 0x1p-53;
                SplittableRandom r = new SplittableRandom(seed ^ v.length);
                for (int i = 0; i < v.length; i++) v[i] *= 1 + u * (2 * r.nextDouble() - 1);
            }
            c = Tensor.of(v, t.shape());
        }
        if (t.requiresGrad()) c.setRequiresGrad(true);
        return c;
    }

    /** {@link #copy} as a function, for ArgumentMaker. */
    UnaryOperator<Tensor> copier() {
        return this::copy;
    }
}
