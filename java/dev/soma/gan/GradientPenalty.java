package dev.soma.gan;

import dev.soma.autograd.GradMode;
import dev.soma.model.Model;
import dev.soma.nn.Activation;
import dev.soma.nn.Dense;
import dev.soma.nn.Flatten;
import dev.soma.nn.Layer;
import dev.soma.nn.LeakyReLU;
import dev.soma.nn.Reshape;
import dev.soma.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * WGAN-GP's penalty {@code mean((‖∇x D(x̂)‖₂ − 1)²)} at random interpolates {@code x̂ = ε x + (1 − ε) G(z)}.
 *
 * <p>Its gradient with respect to D's weights is a second derivative, and Soma's autograd is first-order
 * (backward records nothing). So the input gradient is not taken from backward: it is <em>written out</em> as a
 * reverse sweep of ordinary, recorded forward ops over D's layers, {@code v ← (v ⊙ σ'(a)) Wᵀ} from {@code v = 1},
 * where {@code a = h W + b} is recomputed with a recorded forward and {@code σ'(a)} is itself a recorded op
 * ({@code 1 − tanh²(a)}, {@code s(1 − s)}; for relu / leaky relu a constant mask, their second derivative being
 * zero almost everywhere). The penalty built on that sweep is an ordinary graph in the weights, so one first-order
 * backward gives its exact gradient (tests compare it with finite differences of the penalty computed through
 * autograd's own input gradient).
 *
 * <p>Supported critics are MLPs: Dense (activations linear, relu, leaky_relu, tanh, sigmoid), LeakyReLU,
 * Activation (same list), Flatten and Reshape layers. Any other layer throws UnsupportedOperationException.
 */
public final class GradientPenalty {
    private GradientPenalty() {}

    /** One step of the reverse sweep: maps the gradient at a layer's output to the gradient at its input. */
    private interface Pullback extends UnaryOperator<Tensor> {}

    /**
     * {@code ∇x sum(D(x))} for a batch {@code x} (a constant: no gradient flows to it), as a tensor of x's shape
     * recorded for autograd as a function of D's weights. D runs in training mode.
     */
    public static Tensor inputGradient(Model critic, Tensor x) {
        if (critic.layers().isEmpty()) throw new IllegalArgumentException("WGAN-GP gradient penalty: the critic has no layers");
        if (!critic.layers().get(0).isBuilt()) critic.forwardTraining(x, false); // builds it on first use
        List<Pullback> sweep = new ArrayList<>();
        Tensor h = x;
        for (Layer layer : critic.layers()) {
            if (layer instanceof Dense dense) {
                Tensor a = dense.callWithoutActivation(h, true);
                Tensor derivative = activationDerivative(dense.activationName(), a, layer);
                Tensor kernelT = dense.kernel().transpose(0, 1);
                sweep.add(v -> (derivative == null ? v : v.mul(derivative)).matmul(kernelT));
                h = dev.soma.nn.Activations.get(dense.activationName()).apply(a);
            } else if (layer instanceof LeakyReLU leaky) {
                Tensor derivative = leakyMask(h, leaky.negativeSlope());
                sweep.add(v -> v.mul(derivative));
                h = layer.apply(h, true);
            } else if (layer instanceof Activation act) {
                Tensor derivative = activationDerivative(act.activationName(), h, layer);
                if (derivative != null) sweep.add(v -> v.mul(derivative));
                h = layer.apply(h, true);
            } else if (layer instanceof Flatten || layer instanceof Reshape) {
                long[] in = h.shape();
                sweep.add(v -> v.reshape(in));
                h = layer.apply(h, true);
            } else {
                throw unsupported(layer, "layer type '" + layer.typeName() + "'");
            }
        }
        Tensor v = Tensor.ones(h.dtype(), h.device(), h.shape());
        for (int i = sweep.size() - 1; i >= 0; i--) v = sweep.get(i).apply(v);
        return v;
    }

    /**
     * The penalty {@code mean((‖∇D(x̂)‖₂ − 1)²)} with {@code x̂} interpolated between {@code real} and {@code fake}
     * by one uniform ε per example drawn from {@code seed}; recorded as a function of D's weights.
     */
    public static Tensor penalty(Model critic, Tensor real, Tensor fake, long seed) {
        Tensor interpolates;
        try (GradMode.Guard g = GradMode.disable()) {
            long[] epsShape = new long[real.ndim()];
            java.util.Arrays.fill(epsShape, 1);
            epsShape[0] = real.size(0);
            Tensor eps = dev.soma.ops.Creation.rand(seed, real.dtype(), real.device(), epsShape);
            interpolates = fake.add(real.sub(fake).mul(eps));
        }
        return penaltyAt(critic, interpolates);
    }

    /** {@code mean((‖∇x D(x)‖₂ − 1)²)} at the given points (constants), recorded as a function of D's weights. */
    public static Tensor penaltyAt(Model critic, Tensor points) {
        Tensor grad = inputGradient(critic, points);
        Tensor rows = grad.reshape(grad.size(0), -1);
        // 1e-12 keeps sqrt's derivative finite at a zero gradient; it shifts the norm by at most 1e-6.
        Tensor norm = rows.mul(rows).sum(new int[] {1}, false).add(1e-12).sqrt();
        Tensor gap = norm.sub(1.0);
        return gap.mul(gap).mean();
    }

    /** σ'(a) as a recorded tensor, null for the identity; throws for activations without a rule here. */
    private static Tensor activationDerivative(String name, Tensor a, Layer layer) {
        return switch (name == null ? "linear" : name) {
            case "linear", "none" -> null;
            case "relu" -> leakyMask(a, 0.0);
            case "leaky_relu" -> leakyMask(a, 0.2); // Activations' leaky_relu slope
            case "tanh" -> {
                Tensor t = a.tanh();
                yield t.mul(t).neg().add(1.0);
            }
            case "sigmoid" -> {
                Tensor s = a.sigmoid();
                yield s.mul(s.neg().add(1.0));
            }
            default -> throw unsupported(layer, "activation '" + name + "'");
        };
    }

    /** 1 where a > 0, slope elsewhere: a constant (the mask's own derivative is zero almost everywhere). */
    private static Tensor leakyMask(Tensor a, double slope) {
        try (GradMode.Guard g = GradMode.disable()) {
            Tensor zero = Tensor.zeros(a.dtype(), a.device());
            Tensor positive = a.detach().gt(zero);
            return slope == 0 ? positive : positive.mul(1 - slope).add(slope);
        }
    }

    private static UnsupportedOperationException unsupported(Layer layer, String what) {
        return new UnsupportedOperationException("WGAN-GP gradient penalty: " + layer.name() + " has " + what
                + ", which has no explicit input-gradient rule; supported critics are MLPs of Dense (linear, relu, "
                + "leaky_relu, tanh, sigmoid), LeakyReLU, Activation, Flatten and Reshape layers");
    }
}
