package dev.soma.backend;

import dev.soma.tensor.Tensor;

/**
 * Element-wise kernels. Codes match {@code soma_binary_op} / {@code soma_unary_op} in soma.h, shared by
 * the CPU and CUDA implementations. Contracts: the op has validated dtypes, devices and shapes; {@code out}
 * and gradients are fresh contiguous tensors; inputs may be strided views.
 */
public interface ElementwiseKernels {
    enum BinaryOp {
        ADD(0), SUB(1), MUL(2), DIV(3), POW(4), MAXIMUM(5), MINIMUM(6), EQ(7), NE(8), LT(9), LE(10), GT(11), GE(12);

        public final int code;

        BinaryOp(int code) {
            this.code = code;
        }
    }

    enum UnaryOp {
        NEG(0), EXP(1), LOG(2), SQRT(3), ABS(4), TANH(5), SIGMOID(6), RELU(7), LEAKY_RELU(8), GELU(9), CLAMP(10),
        POW_SCALAR(11), ADD_SCALAR(12), MUL_SCALAR(13), RSUB_SCALAR(14), RDIV_SCALAR(15), SQUARE(16);

        public final int code;

        UnaryOp(int code) {
            this.code = code;
        }
    }

    /** Activations with a fused bias epilogue; codes match {@code soma_bias_activation} in soma.h. */
    enum BiasActivation {
        LINEAR(0), RELU(1), LEAKY_RELU(2), SIGMOID(3), TANH(4), GELU(5);

        public final int code;

        BiasActivation(int code) {
            this.code = code;
        }

        /** True when the backward reads the forward output; false when it recomputes {@code y + bias}. */
        public boolean backwardFromOutput() {
            return this == RELU || this == SIGMOID || this == TANH;
        }
    }

    /** {@code out = op(a, b)}, broadcasting {@code a} and {@code b} to {@code out}'s shape. */
    void binary(BinaryOp op, Tensor a, Tensor b, Tensor out);

    /** {@code out = op(x; p0, p1)}, {@code x} and {@code out} of one shape. */
    void unary(UnaryOp op, Tensor x, Tensor out, double p0, double p1);

    /** {@code gradIn = gradOut * op'(x)}; {@code y} is the forward output. All of one shape. */
    void unaryBackward(UnaryOp op, Tensor x, Tensor y, Tensor gradOut, Tensor gradIn, double p0, double p1);

    /**
     * {@code out = act(y + bias)}, bias broadcast over the rows: {@code y} and {@code out} are contiguous with
     * {@code bias.numel()} columns, {@code bias} is contiguous; p0 is leaky relu's alpha.
     */
    void biasActivation(BiasActivation act, Tensor y, Tensor bias, Tensor out, double p0);

    /**
     * {@code gradIn = gradOut * act'(y + bias)}, all contiguous; reads {@code out} when
     * {@link BiasActivation#backwardFromOutput()} (y and bias may then be null), else {@code y} and {@code bias}.
     */
    void biasActivationBackward(BiasActivation act, Tensor y, Tensor bias, Tensor out, Tensor gradOut, Tensor gradIn,
                                double p0);

    /** {@code out = cond != 0 ? a : b}, all three broadcast to {@code out}'s shape; cond of a's dtype. */
    void where(Tensor cond, Tensor a, Tensor b, Tensor out);
}
