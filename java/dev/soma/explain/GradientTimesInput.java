package dev.soma.explain;

/** Gradient × input (Shrikumar et al. 2016): the input gradient times the input, element by element. */
public final class GradientTimesInput implements AttributionMethod {
    @Override
    public String name() {
        return "gxi";
    }

    @Override
    public Attribution attribute(Target target, float[] example, long[] shape) {
        target.checkExample(name(), example, shape);
        Gradients.Evaluation e = Gradients.withGradients(target, example, shape, 1);
        float[] a = e.gradients();
        for (int i = 0; i < a.length; i++) a[i] *= example[i];
        return new Attribution(name(), shape, a, e.scores()[0], Double.NaN);
    }
}
