package dev.soma.autograd;

import dev.soma.errors.DTypeException;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.function.Function;

/**
 * Checks an op's backward rule against central finite differences in float64. The loss is
 * {@code sum(w * f(inputs))} for fixed random weights {@code w}, so every output element contributes.
 *
 * <pre>{@code
 * Gradcheck.assertGradients("tanh", xs -> xs[0].tanh(), x);   // x: a float64 CPU tensor
 * }</pre>
 * Inputs of dtype float64 are checked; other inputs (int labels, say) are passed through untouched.
 */
public final class Gradcheck {
    /** Worst differences seen: per element (scaled by 1 + |numeric|) and as ‖analytic − numeric‖ / ‖numeric‖. */
    public record Result(double maxScaledError, double relativeError, String worst) {}

    public static final double EPS = 1e-6;
    public static final double TOLERANCE = 1e-6;

    private Gradcheck() {}

    /** Throws {@link AssertionError} with the worst element when the gradients disagree beyond TOLERANCE. */
    public static Result assertGradients(String op, Function<Tensor[], Tensor> f, Tensor... inputs) {
        Result r = check(op, f, inputs);
        if (!(r.maxScaledError <= TOLERANCE) || !(r.relativeError <= TOLERANCE)) {
            throw new AssertionError("gradcheck " + op + " failed: max scaled error " + r.maxScaledError
                    + ", relative error " + r.relativeError + "; worst " + r.worst);
        }
        return r;
    }

    /** {@link #assertGradients(String, Function, Tensor...)} of an op value (a custom op, say): its first output. */
    public static Result assertGradients(NamedOp op, Tensor... inputs) {
        return assertGradients(op.name(), op::apply, inputs);
    }

    /** {@link #check(String, Function, Tensor...)} of an op value (a custom op, say): its first output. */
    public static Result check(NamedOp op, Tensor... inputs) {
        return check(op.name(), op::apply, inputs);
    }

    public static Result check(String op, Function<Tensor[], Tensor> f, Tensor... inputs) {
        for (Tensor t : inputs) {
            t.checkOpen("gradcheck " + op);
            if (!t.isContiguous()) {
                throw new IllegalArgumentException("gradcheck " + op + ": input " + t.describe() + " must be contiguous");
            }
            if (t.dtype().isFloating() && t.dtype() != DType.F64) {
                throw new DTypeException("gradcheck " + op + ": input " + t.describe() + " must be float64");
            }
        }
        double[][] analytic = new double[inputs.length][];
        double[] weights;
        try (Scope scope = Scope.open()) {
            for (Tensor t : inputs) {
                if (t.dtype() == DType.F64) {
                    t.zeroGrad();
                    t.setRequiresGrad(true);
                }
            }
            Tensor out = f.apply(inputs);
            weights = randomWeights(out.numel());
            Tensor w = Tensor.of(weights).reshape(out.shape());
            out.backward(w);
            for (int i = 0; i < inputs.length; i++) {
                Tensor t = inputs[i];
                if (t.dtype() != DType.F64) continue;
                analytic[i] = t.grad() == null ? new double[(int) t.numel()] : t.grad().toDoubleArray();
                t.zeroGrad();
                t.setRequiresGrad(false);
            }
        }
        double worstScaled = 0;
        double diffSq = 0;
        double refSq = 0;
        String worst = "none";
        try (GradMode.Guard g = GradMode.disable()) {
            for (int i = 0; i < inputs.length; i++) {
                Tensor t = inputs[i];
                if (analytic[i] == null) continue;
                double[] x = t.toDoubleArray();
                for (int j = 0; j < x.length; j++) {
                    double saved = x[j];
                    x[j] = saved + EPS;
                    double plus = loss(f, inputs, t, x, weights);
                    x[j] = saved - EPS;
                    double minus = loss(f, inputs, t, x, weights);
                    x[j] = saved;
                    t.backend().memory().write(t, x);
                    double numeric = (plus - minus) / (2 * EPS);
                    double diff = analytic[i][j] - numeric;
                    double scaled = Math.abs(diff) / (1 + Math.abs(numeric));
                    if (!(scaled <= worstScaled)) {
                        worstScaled = Double.isNaN(scaled) ? Double.NaN : scaled;
                        worst = "input " + i + " element " + j + ": analytic " + analytic[i][j] + ", numeric " + numeric;
                    }
                    diffSq += diff * diff;
                    refSq += numeric * numeric;
                }
            }
        }
        double rel = refSq == 0 ? Math.sqrt(diffSq) : Math.sqrt(diffSq / refSq);
        return new Result(worstScaled, rel, worst);
    }

    private static double loss(Function<Tensor[], Tensor> f, Tensor[] inputs, Tensor t, double[] x, double[] w) {
        t.backend().memory().write(t, x);
        try (Scope scope = Scope.open()) {
            double[] y = f.apply(inputs).toDoubleArray();
            double s = 0;
            for (int k = 0; k < y.length; k++) s += y[k] * w[k];
            return s;
        }
    }

    private static double[] randomWeights(long n) {
        SplittableRandom r = new SplittableRandom(1234);
        double[] w = new double[Math.toIntExact(n)];
        Arrays.setAll(w, k -> r.nextDouble(0.5, 1.5) * (r.nextBoolean() ? 1 : -1));
        return w;
    }
}
