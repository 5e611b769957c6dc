package dev.soma.explain;

import dev.soma.errors.ShapeException;
import dev.soma.errors.SomaException;
import dev.soma.model.FunctionalModel;
import dev.soma.model.Model;
import dev.soma.model.Sequential;
import dev.soma.nn.Param;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;

/**
 * What an attribution explains: a differentiable function from a batch of examples {@code [B, ...]} to one score
 * per example {@code [B]} (Captum's forward function with its {@code target}), usually one output unit of a model.
 * It also knows the model's parameters, which attribution freezes so that backward fills only the input's
 * gradient, and the example shape the model expects (null when unknown), so that a wrong input fails early.
 */
public final class Target {
    private final String description;
    private final Function<Tensor, Tensor> scores;
    private final List<Tensor> parameters;
    private final Device device;
    private final long[] exampleShape;

    public Target(String description, Function<Tensor, Tensor> scores, List<Tensor> parameters, Device device,
                  long[] exampleShape) {
        this.description = description;
        this.scores = scores;
        this.parameters = List.copyOf(parameters);
        this.device = device;
        this.exampleShape = exampleShape == null ? null : exampleShape.clone();
    }

    /** Output unit {@code index} of the model's (only) output, after its final activation (what {@code call} gives). */
    public static Target output(Model model, int index) {
        return new Target("output " + index + " of " + model.getClass().getSimpleName(),
                x -> pick(model.call(x), index), trainable(model), model.device(), exampleShapeOf(model));
    }

    /** Output unit {@code index} of output {@code output} of a functional model with several outputs. */
    public static Target output(FunctionalModel model, int output, int index) {
        if (output < 0 || output >= model.outputs().size()) {
            throw new SomaException("explain: output " + output + " is outside the model's " + model.outputs().size()
                    + " outputs");
        }
        return new Target("output " + output + "/" + index + " of FunctionalModel",
                x -> pick(model.call(List.of(x)).get(output), index), trainable(model), model.device(),
                exampleShapeOf(model));
    }

    /**
     * Unit {@code index} of a Sequential model's output before its final (foldable) activation: the logit, which
     * does not saturate as a softmax probability does, so gradients stay informative on confident predictions.
     */
    public static Target logit(Sequential model, int index) {
        return new Target("logit " + index + " of Sequential",
                x -> pick(SequentialRun.run(model, x, true), index), trainable(model), model.device(),
                exampleShapeOf(model));
    }

    /** The scores {@code [B]} of a batch; the caller owns the scope the result lives in. */
    public Tensor scores(Tensor batch) {
        Tensor s = scores.apply(batch);
        if (s.ndim() != 1 || s.size(0) != batch.size(0)) {
            throw new ShapeException("explain: the target " + description + " must give one score per example, got "
                    + s.describe() + " for a batch " + batch.describe());
        }
        return s;
    }

    public String description() {
        return description;
    }

    List<Tensor> parameters() {
        return parameters;
    }

    public Device device() {
        return device;
    }

    /** The example shape (no batch dimension) the model expects, or null when not known yet. */
    public long[] exampleShape() {
        return exampleShape == null ? null : exampleShape.clone();
    }

    /** Throws a clear ShapeException when an example's shape is not the one the model expects. */
    void checkExample(String method, float[] values, long[] shape) {
        long n = 1;
        for (long d : shape) {
            if (d <= 0) throw new ShapeException(method + ": example shape " + Arrays.toString(shape) + " has a non-positive dimension");
            n *= d;
        }
        if (n != values.length) {
            throw new ShapeException(method + ": " + values.length + " values do not fill the example shape "
                    + Arrays.toString(shape));
        }
        if (exampleShape != null && !Arrays.equals(exampleShape, shape)) {
            throw new ShapeException(method + ": the example has shape " + Arrays.toString(shape) + " but the model ("
                    + description + ") expects examples of shape " + Arrays.toString(exampleShape)
                    + " (no batch dimension)");
        }
        requireFinite(method, "the example", values);
    }

    /** Attributions of (or towards) a NaN or an infinity are NaN throughout: refused with the first such element. */
    static void requireFinite(String method, String what, float[] values) {
        for (int i = 0; i < values.length; i++) {
            if (!Float.isFinite(values[i])) {
                throw new IllegalArgumentException(method + ": " + what + " holds " + values[i] + " at element " + i
                        + " (flat index); attributions need finite values");
            }
        }
    }

    /** Column {@code index} of the model's output flattened to {@code [B, units]}, as {@code [B]}. */
    static Tensor pick(Tensor out, int index) {
        long units = out.numel() / out.size(0);
        if (index < 0 || index >= units) {
            throw new SomaException("explain: output index " + index + " is outside the model's " + units
                    + " output units (0.." + (units - 1) + ") of output " + out.describe());
        }
        Tensor flat = out.ndim() == 2 ? out : out.reshape(out.size(0), units);
        return flat.select(1, index);
    }

    private static List<Tensor> trainable(Model model) {
        List<Tensor> ps = new ArrayList<>();
        for (Param p : model.params()) ps.add(p.value());
        return ps;
    }

    private static long[] exampleShapeOf(Model model) {
        if (model instanceof FunctionalModel f && f.inputs().size() == 1) return f.inputs().get(0).shape();
        if (!model.layers().isEmpty() && model.layers().get(0).isBuilt()) return model.layers().get(0).inputShape();
        return null;
    }
}
