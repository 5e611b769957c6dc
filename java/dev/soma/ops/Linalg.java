package dev.soma.ops;

import dev.soma.tensor.Tensor;

/** Matrix products: 2-d matmul and batched matmul with broadcast batch dimensions. */
public final class Linalg {
    private Linalg() {}

    public static Tensor matmul(Tensor a, Tensor b) {
        throw new UnsupportedOperationException("matmul: not implemented yet");
    }
}
