package dev.soma.explain;

/**
 * Integrated Gradients (Sundararajan et al. 2017), as Captum's: {@code (x - b) * integral_0^1 dF(b + a (x - b))/dx da},
 * the integral by an {@link IntegrationRule} with {@link #steps} points (default Gauss-Legendre, 50 steps). The
 * result carries Captum's convergence delta {@code sum(attributions) - (F(x) - F(b))}: completeness says it is 0,
 * so its size measures the quadrature's error.
 */
public final class IntegratedGradients implements AttributionMethod {
    private Baseline baseline = Baseline.zeros();
    private int steps = 50;
    private IntegrationRule rule = IntegrationRule.GAUSS_LEGENDRE;

    public IntegratedGradients baseline(Baseline b) {
        if (b == null) throw new IllegalArgumentException("IntegratedGradients: the baseline must not be null");
        this.baseline = b;
        return this;
    }

    public IntegratedGradients steps(int n) {
        if (n < 1) throw new IllegalArgumentException("IntegratedGradients: steps must be >= 1, got " + n);
        this.steps = n;
        return this;
    }

    public IntegratedGradients rule(IntegrationRule r) {
        if (r == null) throw new IllegalArgumentException("IntegratedGradients: the rule must not be null");
        this.rule = r;
        return this;
    }

    @Override
    public String name() {
        return "ig";
    }

    @Override
    public Attribution attribute(Target target, float[] example, long[] shape) {
        target.checkExample(name(), example, shape);
        float[] base = baseline.of(example, shape);
        if (base.length != example.length) {
            throw new dev.soma.errors.ShapeException("IntegratedGradients: the baseline has " + base.length
                    + " values, the example " + example.length);
        }
        Target.requireFinite(name(), "the baseline", base);
        double[][] aw = rule.pointsAndWeights(steps);
        int per = example.length;
        float[] path = new float[steps * per];
        for (int s = 0; s < steps; s++) {
            float alpha = (float) aw[0][s];
            for (int i = 0; i < per; i++) path[s * per + i] = base[i] + alpha * (example[i] - base[i]);
        }
        float[] grads = Gradients.withGradients(target, path, shape, steps).gradients();
        float[] attr = new float[per];
        for (int i = 0; i < per; i++) {
            double g = 0;
            for (int s = 0; s < steps; s++) g += aw[1][s] * grads[s * per + i];
            attr[i] = (float) ((example[i] - base[i]) * g);
        }
        float[] ends = new float[2 * per];
        System.arraycopy(example, 0, ends, 0, per);
        System.arraycopy(base, 0, ends, per, per);
        float[] f = Gradients.scores(target, ends, shape, 2);
        double sum = 0;
        for (float v : attr) sum += v;
        double delta = sum - ((double) f[0] - f[1]);
        return new Attribution(name(), shape, attr, f[0], delta);
    }
}
