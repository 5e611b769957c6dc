package dev.soma.autograd;

import dev.soma.memory.Scope;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A leaf's first gradient takes over backward's own result instead of copying it (Tensor.accumulateGrad with
 * adoptable set), and only where nothing else can see that tensor: not the caller's output gradient, not a view,
 * not a tensor another gradient still to be used is, not one of another scope.
 */
@ExtendWith(NoLeaks.class)
class GradAdoptionTest {

    private static Tensor leaf(float... v) {
        return Tensor.of(v, v.length).setRequiresGrad(true);
    }

    @Test
    void aPlainTemporaryOfTheCurrentScopeIsTakenOverAndOthersAreCopied() {
        try (Scope outer = Scope.open()) {
            Tensor fromOuter = Tensor.of(new float[] {1, 2}, 2);
            try (Scope inner = Scope.open()) {
                Tensor a = leaf(0, 0), b = leaf(0, 0), c = leaf(0, 0), d = leaf(0, 0, 0, 0);
                Tensor g = Tensor.of(new float[] {1, 2}, 2);
                a.accumulateGrad(g, true);
                assertSame(g, a.grad(), "a plain temporary of this scope becomes the gradient");
                assertNull(g.owner(), "and leaves the scope, which would otherwise free it");

                b.accumulateGrad(fromOuter, true);
                assertNotSame(fromOuter, b.grad(), "another scope's tensor is copied");

                Tensor whole = Tensor.of(new float[] {1, 2, 3, 4}, 4);
                Tensor half = whole.slice(0, 0, 2, 1);
                c.accumulateGrad(half, true);
                assertFalse(c.grad().sharesStorageWith(whole), "a view is copied");

                Tensor shared = Tensor.of(new float[] {1, 2, 3, 4}, 4);
                Tensor otherView = shared.reshape(2, 2);
                d.accumulateGrad(shared, true);
                assertFalse(d.grad().sharesStorageWith(otherView), "a storage with another view open is copied");

                Tensor e = leaf(0, 0);
                Tensor h = Tensor.of(new float[] {5, 6}, 2);
                e.accumulateGrad(h, false);
                assertNotSame(h, e.grad(), "not adoptable: copied");
                for (Tensor t : new Tensor[] {a, b, c, d, e}) t.zeroGrad();
            }
        }
    }

    @Test
    void theCallersOutputGradientIsNeverTheLeafsGradient() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3).setRequiresGrad(true);
            Tensor y = x.reshape(6);
            Tensor gOut = Tensor.of(new float[] {1, 1, 1, 1, 1, 1}, 6);
            y.backward(gOut);
            assertFalse(x.grad().sharesStorageWith(gOut));
            x.backend().memory().fill(gOut, 7);
            assertArrayEquals(new float[] {1, 1, 1, 1, 1, 1}, x.grad().toFloatArray(), "the caller rewrote its own tensor");
            x.zeroGrad();
        }
    }

    @Test
    void twoLeavesFedTheSameGradientGetTwoTensors() {
        try (Scope s = Scope.open()) {
            Tensor a = leaf(1, 2, 3), b = leaf(4, 5, 6);
            a.add(b).mul(2).sum().backward(); // add passes one gradient tensor to both
            assertNotSame(a.grad(), b.grad());
            assertFalse(a.grad().sharesStorageWith(b.grad()));
            a.backend().memory().fill(a.grad(), -1);
            assertArrayEquals(new float[] {2, 2, 2}, b.grad().toFloatArray());
            a.zeroGrad();
            b.zeroGrad();
        }
    }

    /**
     * A data-parallel hook rewrites a leaf's gradient in place as soon as it is final. When the same tensor is also
     * the gradient of an intermediate whose backward has not run yet, that backward must still see the original.
     */
    @Test
    void aHookRewritingALeafGradientDoesNotReachAGradientStillToBeUsed() {
        for (boolean leafFirst : new boolean[] {true, false}) {
            try (Scope s = Scope.open()) {
                Tensor w = leaf(1, 2, 3), x = leaf(1, 1, 1);
                Tensor h = x.mul(3);
                Tensor z = leafFirst ? w.add(h) : h.add(w);
                Tensor loss = z.mul(2).sum();
                Autograd.backward(loss, t -> {
                    if (t == w) t.backend().memory().fill(t.grad(), 1000);
                });
                assertArrayEquals(new float[] {6, 6, 6}, x.grad().toFloatArray(), "leafFirst=" + leafFirst);
                assertArrayEquals(new float[] {1000, 1000, 1000}, w.grad().toFloatArray());
                w.zeroGrad();
                x.zeroGrad();
            }
        }
    }
}
