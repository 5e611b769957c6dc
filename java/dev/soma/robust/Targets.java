package dev.soma.robust;

import dev.soma.model.Model;
import dev.soma.tensor.Tensor;

/**
 * Class labels as the targets the model's compiled loss reads: int32 labels for sparse losses, one-hot rows
 * otherwise; on the model's device, in the caller's scope. A label outside the classes is refused (one-hot, it would
 * land in another example's row).
 */
final class Targets {
    private Targets() {}

    static Tensor of(Model model, int[] labels, int classes) {
        if (model.loss() == null) {
            throw new IllegalStateException("attack: the model is not compiled; its compiled loss is what the attack ascends");
        }
        for (int i = 0; i < labels.length; i++) {
            if (labels[i] < 0 || labels[i] >= classes) {
                throw new IllegalArgumentException("attack: label " + labels[i] + " of example " + i + " is not a class "
                        + "of the model's " + classes + " outputs (expected 0 to " + (classes - 1) + ")");
            }
        }
        Tensor host;
        if (model.loss().name().startsWith("sparse")) {
            host = Tensor.ofInts(labels, labels.length);
        } else {
            float[] hot = new float[labels.length * classes];
            for (int i = 0; i < labels.length; i++) hot[i * classes + labels[i]] = 1f;
            host = Tensor.of(hot, labels.length, classes);
        }
        return host.device().equals(model.device()) ? host : host.to(model.device());
    }
}
