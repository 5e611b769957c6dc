package dev.soma.fuzz;

import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

import java.util.SplittableRandom;

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
 * <p>Two more runs are yardsticks for the rounding noise that cancellation leaves (a gradient that is 0 in exact
 * arithmetic, as the keys' gradient of attention over one key, comes out as float32 noise, which perturbing the
 * float64 inputs does not reproduce): the call itself on inputs nudged by about one unit in their last place, and
 * for a GPU call the CPU's own result in the same dtype. A result may also differ by 10 times either.
 *
 * @param widened whether floating inputs become float64
 * @param perturbed whether the inputs are perturbed by their dtype's rounding (2^-24 or 2^-53; 2^-23 or 2^-52 when
 *                  nudged in their own dtype)
 * @param onCpu whether the copies go to the CPU (else they stay on the call's device)
 * @param seed where the perturbation's random signs come from
 */
record Twin(boolean widened, boolean perturbed, boolean onCpu, long seed) {
    static Twin reference() {
        return new Twin(true, false, true, 0);
    }

    static Twin perturbed(long seed) {
        return new Twin(true, true, true, seed);
    }

    /** The same call on its own device and dtype, every input moved by about an ulp. */
    static Twin nudged(long seed) {
        return new Twin(false, true, false, seed);
    }

    /** The same dtypes on the CPU (the yardstick for a GPU call). */
    static Twin cpu() {
        return new Twin(false, false, true, 0);
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

    /** The twin of one input, needing a gradient when the original does. */
    Tensor copy(Tensor t) {
        Tensor c;
        if (t.dtype() == DType.I32) {
            c = (onCpu ? t.detach().to(Device.cpu()) : t.detach()).contiguous();
            if (c.sharesStorageWith(t)) c = c.copy();
        } else {
            double[] v = t.toDoubleArray();
            if (perturbed) {
                boolean f32 = t.dtype() == DType.F32;
                double u = widened ? (f32 ? 0x1p-24 : 0x1p-53) : (f32 ? 0x1p-23 : 0x1p-52);
                SplittableRandom r = new SplittableRandom(seed ^ v.length);
                for (int i = 0; i < v.length; i++) v[i] *= 1 + u * (2 * r.nextDouble() - 1);
            }
            c = Tensor.of(v, t.shape());
            if (!widened) c = c.to(t.dtype());
            if (!onCpu) c = c.to(t.device());
        }
        if (t.requiresGrad()) c.setRequiresGrad(true);
        return c;
    }
}
