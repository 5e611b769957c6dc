package dev.soma.ops;

import dev.soma.autograd.Gradcheck;
import dev.soma.memory.Scope;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** Gradients of matmul against finite differences in float64. */
@ExtendWith(NoLeaks.class)
class MatmulGradTest {
    private final SplittableRandom random = new SplittableRandom(3);

    private Tensor rand(long... shape) {
        double[] v = new double[(int) Shapes.numel(shape)];
        for (int i = 0; i < v.length; i++) v[i] = random.nextGaussian();
        return Tensor.of(v, shape);
    }

    private void check(String name, long[] a, long[] b) {
        Gradcheck.assertGradients(name, xs -> xs[0].matmul(xs[1]), rand(a), rand(b));
    }

    @Test
    void twoDimensional() {
        try (Scope s = Scope.open()) {
            check("2-d", new long[] {3, 4}, new long[] {4, 5});
            check("1x1", new long[] {1, 1}, new long[] {1, 1});
        }
    }

    @Test
    void vectors() {
        try (Scope s = Scope.open()) {
            check("vector @ matrix", new long[] {4}, new long[] {4, 5});
            check("matrix @ vector", new long[] {3, 4}, new long[] {4});
            check("dot", new long[] {4}, new long[] {4});
            check("batch @ vector", new long[] {2, 3, 4}, new long[] {4});
        }
    }

    @Test
    void batchedAndBroadcast() {
        try (Scope s = Scope.open()) {
            check("[B,M,K] @ [K,N]", new long[] {2, 3, 4}, new long[] {4, 5});
            check("[B,M,K] @ [B,K,N]", new long[] {2, 3, 4}, new long[] {2, 4, 5});
            check("[M,K] @ [B,K,N]", new long[] {3, 4}, new long[] {2, 4, 5});
            check("[2,1,M,K] @ [3,K,N]", new long[] {2, 1, 3, 4}, new long[] {3, 4, 2});
            check("[1,M,K] @ [B,K,N]", new long[] {1, 3, 4}, new long[] {2, 4, 2});
        }
    }

    @Test
    void transposedOperands() {
        try (Scope s = Scope.open()) {
            Gradcheck.assertGradients("a^T @ b", xs -> xs[0].transpose(0, 1).matmul(xs[1]), rand(4, 3), rand(4, 5));
            Gradcheck.assertGradients("a @ b^T", xs -> xs[0].matmul(xs[1].transpose(0, 1)), rand(3, 4), rand(5, 4));
            Gradcheck.assertGradients("batched a^T @ b", xs -> xs[0].transpose(1, 2).matmul(xs[1]),
                    rand(2, 4, 3), rand(4, 5));
        }
    }

    @Test
    void backwardGivesTheClosedFormAndLeavesUnusedInputsAlone() {
        try (Scope s = Scope.open()) {
            Tensor a = rand(3, 4).setRequiresGrad(true);
            Tensor b = rand(4, 5);
            Tensor g = rand(3, 5);
            a.matmul(b).backward(g);
            assertNull(b.grad(), "b does not require grad");
            double[] expected = MatmulReference.matmul(g.toDoubleArray(), new long[] {3, 5},
                    b.transpose(0, 1).toDoubleArray(), new long[] {5, 4});
            assertArrayEquals(expected, a.grad().toDoubleArray(), 1e-12);
        }
    }
}
