package dev.soma.nn;

import dev.soma.autograd.GradMode;
import dev.soma.memory.Scope;
import dev.soma.tensor.Tensor;

import java.util.List;

/**
 * A projection applied to a weight after every optimizer step (Keras' {@code kernel_constraint}): the weight is
 * overwritten in place with {@link #project} of itself, so the optimizer's state, which is keyed by the tensor,
 * stays attached. Projections are built from ordinary ops and so run on every backend.
 */
@FunctionalInterface
public interface Constraint {
    /** The projected weight: a new tensor of the same shape, dtype and device. */
    Tensor project(Tensor weight);

    /** Short name for summaries and docs. */
    default String name() {
        return "custom";
    }

    /** Keras' NonNeg: negative entries become 0 (the projection onto the non-negative orthant). */
    static Constraint nonNeg() {
        return new Constraint() {
            @Override
            public Tensor project(Tensor w) {
                return w.relu();
            }

            @Override
            public String name() {
                return "non_neg";
            }
        };
    }

    /** Projects every parameter that has a constraint, in place; called right after an optimizer step. */
    static void applyAll(List<Param> params) {
        for (Param p : params) {
            if (p.constraint() == null || !p.trainable()) continue;
            Tensor w = p.value();
            try (Scope s = Scope.open(); GradMode.Guard g = GradMode.disable()) {
                Tensor projected = p.constraint().project(w);
                if (!java.util.Arrays.equals(projected.shape(), w.shape()) || projected.dtype() != w.dtype()) {
                    throw new IllegalStateException("constraint " + p.constraint().name() + " on " + p.name()
                            + " returned " + projected.describe() + " for weight " + w.describe()
                            + ": a projection must keep the shape and dtype");
                }
                w.backend().memory().copy(projected, w);
            }
        }
    }
}
