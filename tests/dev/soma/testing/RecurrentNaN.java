package dev.soma.testing;

import dev.soma.backend.RecurrentKernels.Cell;
import dev.soma.memory.Scope;
import dev.soma.ops.Recurrent;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A NaN in one input of a recurrent layer must reach every output it feeds, on every backend, for every cell and
 * activation: the fused kernels' own exp, ReLU and hard sigmoid once turned it into a finite value (a clamp written
 * with max and min drops NaN).
 */
public final class RecurrentNaN {
    private static final String[] ACTIVATIONS = {"tanh", "sigmoid", "relu", "hard_sigmoid", "linear"};

    private RecurrentNaN() {}

    /**
     * Two sequences of three steps, all weights positive, and one NaN: in sequence 0's first input (every gate of
     * sequence 0 reads it at step 0), in one kernel weight, or in one recurrent weight (every sequence reads those).
     * From the step after the NaN first enters, h_{t-1} carries it into every unit, so: NaN in x, every output of
     * sequence 0 is NaN and every output of sequence 1 finite; NaN in w, every output from step 1 on; NaN in u, every
     * output of the last step (a kernel may skip the product with a zero h_0 at step 0).
     */
    public static void checkPropagation(Device device) {
        for (DType dtype : new DType[] {DType.F32, DType.F64}) {
            for (Cell cell : Cell.values()) {
                for (String act : ACTIVATIONS) {
                    for (String where : new String[] {"x", "w", "u"}) check(device, dtype, cell, act, act, where);
                }
                // Keras' default pair: a plain f32 LSTM then runs on the library's primitive (oneDNN's on the CPU).
                for (String where : new String[] {"x", "w", "u"}) check(device, dtype, cell, "tanh", "sigmoid", where);
            }
        }
    }

    private static void check(Device device, DType dtype, Cell cell, String act, String ract, String where) {
        int n = 2, t = 3, f = 3, h = 2, g = cell.gates * h;
        double[] x = filled(n * t * f, 0.3), w = filled(f * g, 0.1), u = filled(h * g, 0.2);
        switch (where) {
            case "x" -> x[0] = Double.NaN;
            case "w" -> w[0] = Double.NaN; // feature 0 into the first gate of unit 0
            default -> u[0] = Double.NaN;  // unit 0 of h_{t-1} into the first gate of unit 0
        }
        try (Scope scope = Scope.open()) {
            Tensor y = Recurrent.run(cell, act, ract, false, false, on(x, dtype, device, n, t, f),
                    on(w, dtype, device, f, g), on(u, dtype, device, h, g), null, null, null, null);
            double[] out = y.toDoubleArray();
            String what = cell + " " + act + "/" + ract + " " + dtype + " on " + device + ", NaN in " + where + ": "
                    + Arrays.toString(out);
            for (int seq = 0; seq < n; seq++) {
                for (int step = 0; step < t; step++) {
                    for (int unit = 0; unit < h; unit++) {
                        double v = out[(seq * t + step) * h + unit];
                        boolean nan = switch (where) {
                            case "x" -> seq == 0;
                            case "w" -> step >= 1;
                            default -> step == t - 1;
                        };
                        if (nan) assertTrue(Double.isNaN(v), what);
                        if (where.equals("x") && seq == 1) assertTrue(Double.isFinite(v), what);
                    }
                }
            }
        }
    }

    private static double[] filled(int n, double v) {
        double[] a = new double[n];
        Arrays.fill(a, v);
        return a;
    }

    private static Tensor on(double[] v, DType dtype, Device device, long... shape) {
        return Tensor.of(v, shape).to(dtype).to(device);
    }
}
