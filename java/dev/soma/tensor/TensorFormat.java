package dev.soma.tensor;

import java.util.Arrays;

/** NumPy-like text for a tensor's values (summarised with "..." past a threshold). */
final class TensorFormat {
    private TensorFormat() {}

    static String format(Tensor t) {
        if (t.isClosed()) return "tensor(closed, " + t.describe() + ")";
        return "tensor(" + Arrays.toString(t.toDoubleArray()) + ", " + t.describe() + ")";
    }
}
