package dev.soma.robust;

import dev.soma.autograd.FrozenTensors;
import dev.soma.autograd.GradMode;
import dev.soma.memory.Scope;
import dev.soma.model.Model;
import dev.soma.tensor.Tensor;


/**
 * The gradient of a model's compiled loss (inference mode) with respect to its input batch, on host arrays. The
 * parameters are frozen for the pass so that backward stops at the input and leaves their gradients alone (a
 * training step's zeroed gradients must not pick up the attack's). Every tensor made here is freed before return.
 */
final class InputGradient {
    private InputGradient() {}

    static float[] of(Model model, float[] x, long[] shape, Tensor y) {
        try (FrozenTensors frozen = FrozenTensors.freeze(model.trainableTensors());
             Scope scope = Scope.open(); GradMode.Guard on = GradMode.enable()) {
            Tensor input = upload(x, shape, y);
            input.setRequiresGrad(true); // a fresh leaf: the gradient lands on the tensor we read back
            model.compiledLoss(input, y, false).backward();
            return input.grad().toFloatArray();
        }
    }

    /**
     * Refuses an input that is not float32: token ids (and other integers) have no gradient to ascend and no meaning
     * between two ids, and the host arithmetic here is float32's.
     */
    static void requireFloat32(String op, Tensor x) {
        x.checkOpen(op + " input");
        if (x.dtype() != dev.soma.tensor.DType.F32) {
            throw new dev.soma.errors.DTypeException(op + ": the input " + x.describe() + " is not float32; attacks and "
                    + "noise move float inputs (for token ids, perturb the embedding's output instead)");
        }
    }

    /** A host batch as a tensor on the device of {@code like}, in the caller's scope. */
    static Tensor upload(float[] x, long[] shape, Tensor like) {
        Tensor host = Tensor.of(x, shape);
        return host.device().equals(like.device()) ? host : host.to(like.device());
    }
}
