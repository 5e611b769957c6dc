package dev.soma.explain;

/**
 * Saliency (Simonyan et al. 2014): the gradient of the target's score with respect to the input. Signed, as
 * Captum's {@code Saliency(abs=False)}; take absolute values for the classic saliency map.
 */
public final class Saliency implements AttributionMethod {
    @Override
    public String name() {
        return "saliency";
    }

    @Override
    public Attribution attribute(Target target, float[] example, long[] shape) {
        target.checkExample(name(), example, shape);
        Gradients.Evaluation e = Gradients.withGradients(target, example, shape, 1);
        return new Attribution(name(), shape, e.gradients(), e.scores()[0], Double.NaN);
    }
}
