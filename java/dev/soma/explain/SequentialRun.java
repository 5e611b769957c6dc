package dev.soma.explain;

import dev.soma.errors.ShapeException;
import dev.soma.model.Sequential;
import dev.soma.nn.FoldableActivation;
import dev.soma.nn.Layer;
import dev.soma.tensor.Tensor;

import java.util.Arrays;
import java.util.List;

/**
 * Runs a range of a Sequential model's layers in inference mode, passing Keras masks along as
 * Sequential's own forward does. Attribution needs the pieces: logits (the whole model but the final activation)
 * and, for text, the part after the embedding, whose output is the differentiable input.
 */
final class SequentialRun {
    private SequentialRun() {}

    /** The whole model on a batch, optionally without the last layer's foldable activation. */
    static Tensor run(Sequential model, Tensor x, boolean withoutFinalActivation) {
        ensureBuilt(model, x);
        return layers(model, 0, model.layers().size(), x, null, withoutFinalActivation);
    }

    /** Layers {@code [from, to)} on {@code h} with the incoming mask (null for none). */
    static Tensor layers(Sequential model, int from, int to, Tensor h, Tensor mask, boolean withoutFinalActivation) {
        List<Layer> ls = model.layers();
        for (int i = from; i < to; i++) {
            Layer l = ls.get(i);
            if (i == to - 1 && withoutFinalActivation && l instanceof FoldableActivation f) {
                return f.callWithoutActivation(h, false);
            }
            Tensor next = l.apply(h, mask, false);
            mask = l.computeMask(h, mask);
            h = next;
        }
        return h;
    }

    /** The mask layers {@code [0, to)} hand to layer {@code to} for input {@code x}. */
    static Tensor maskBefore(Sequential model, int to, Tensor x) {
        Tensor h = x;
        Tensor mask = null;
        for (int i = 0; i < to; i++) {
            Layer l = model.layers().get(i);
            Tensor next = l.apply(h, mask, false);
            mask = l.computeMask(h, mask);
            h = next;
        }
        return mask;
    }

    static void ensureBuilt(Sequential model, Tensor x) {
        if (model.layers().isEmpty()) throw new ShapeException("explain: the Sequential model has no layers");
        if (!model.layers().get(0).isBuilt()) {
            long[] s = x.shape();
            model.build(Arrays.copyOfRange(s, 1, s.length));
        }
    }
}
