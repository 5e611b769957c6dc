package dev.soma.cuda;

import dev.soma.backend.Transfers;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.Reference;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** What CudaNormalizationTest (LayerNorm) and CudaBatchNormTest share: inputs on a device, comparisons, arrays. */
final class NormalizationTesting {
    private NormalizationTesting() {}

    /** v as a tensor of {@code dtype} on {@code device}. */
    static Tensor on(double[] v, DType dtype, Device device, long... shape) {
        Tensor host = Tensor.of(v, shape);
        Tensor typed = dtype == DType.F64 ? host : host.to(dtype);
        return device.isCpu() ? typed : Transfers.to(typed, device);
    }

    /** out against ref: every element written (no NaN left from the poison), relative error within the bound. */
    static void compare(String what, DType dtype, Tensor out, Tensor ref, double f32Bound) {
        double[] o = out.toDoubleArray(), r = ref.toDoubleArray();
        assertTrue(o.length == r.length, what + ": sizes differ");
        for (double d : o) assertTrue(!Double.isNaN(d), what + ": an element was not written (NaN)");
        double err = Reference.relativeError(o, r);
        double bound = dtype == DType.F32 ? f32Bound : 1e-12;
        assertTrue(err <= bound, what + ": relative error " + err + " exceeds " + bound);
    }

    /** A tensor kept beyond its scope (the caller closes it) that records gradients. */
    static Tensor leaf(Tensor t) {
        t.keep();
        return t.setRequiresGrad(true);
    }

    static double[] transpose(double[] v, int rows, int cols) {
        double[] t = new double[v.length];
        for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) t[j * rows + i] = v[i * cols + j];
        return t;
    }
}
