package dev.soma.model;

import dev.soma.errors.ShapeException;
import dev.soma.nn.Conv2D;
import dev.soma.nn.FoldableActivation;
import dev.soma.nn.Layer;
import dev.soma.nn.MaxPooling2D;
import dev.soma.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.SplittableRandom;

/** A plain stack of layers, each feeding the next, as Keras' Sequential. */
public class Sequential extends Model {
    private final List<Layer> layers = new ArrayList<>();

    public Sequential(Layer... layers) {
        for (Layer l : layers) add(l);
    }

    public Sequential add(Layer layer) {
        if (layer == null) throw new IllegalArgumentException("Sequential.add: the layer is null");
        if (layer.outputCount() != 1) {
            throw new IllegalArgumentException("Sequential: " + layer.name() + " returns " + layer.outputCount()
                    + " tensors (return_state or return_attention_scores), but a Sequential model passes one tensor "
                    + "from layer to layer; use a "
                    + "FunctionalModel with SymbolicTensor.applyAll");
        }
        if (!layers.isEmpty() && layers.get(0).isBuilt()) {
            long[] in = layers.get(layers.size() - 1).outputShape();
            layer.build(in, dtype, initRandom());
        }
        layers.add(layer);
        placeOnDevice();
        return this;
    }

    /** The dtype parameters are created in (F32 by default; F64 for gradient and equivalence checks); before build. */
    public Sequential dtype(dev.soma.tensor.DType d) {
        if (!layers.isEmpty() && layers.get(0).isBuilt()) {
            throw new IllegalStateException("Sequential.dtype: the model is already built");
        }
        if (!d.isFloating()) throw new IllegalArgumentException("Sequential.dtype: " + d + " is not a floating dtype");
        dtype = d;
        return this;
    }

    @Override
    public List<Layer> layers() {
        return Collections.unmodifiableList(layers);
    }

    @Override
    public void build(long... inputShape) {
        if (layers.isEmpty()) throw new IllegalStateException("Sequential.build: the model has no layers");
        SplittableRandom rng = initRandom();
        long[] shape = inputShape.clone();
        for (Layer l : layers) {
            l.build(shape, dtype, rng.split());
            shape = l.outputShape();
        }
        placeOnDevice(); // parameters are created on the CPU, then moved to the model's device
    }

    /** Moves the model to {@code device}; see {@link Model#to}. */
    @Override
    public Sequential to(dev.soma.tensor.Device device) {
        super.to(device);
        return this;
    }

    /** Per-example output shape, once built. */
    public long[] outputShape() {
        if (layers.isEmpty() || !layers.get(0).isBuilt()) {
            throw new IllegalStateException("Sequential.outputShape: build the model first (build(inputShape) or fit)");
        }
        return layers.get(layers.size() - 1).outputShape();
    }

    @Override
    protected Tensor forward(Tensor x, boolean training, boolean withoutFinalActivation) {
        if (layers.isEmpty()) throw new ShapeException("Sequential: the model has no layers");
        Tensor h = x;
        Tensor mask = null;   // Keras masks (e.g. from Embedding(mask_zero)) flow to the layers that follow
        int last = layers.size() - 1;
        for (int i = 0; i < last; i++) {
            Layer l = layers.get(i);
            if (l instanceof Conv2D conv && layers.get(i + 1) instanceof MaxPooling2D pool && conv.fusesWithMaxPool(pool, h)) {
                // One op for the pair (ops.ConvolutionPooling): the convolution's output is never a tensor. Neither
                // layer passes a mask on.
                h = conv.applyWithMaxPool(h, pool, training);
                mask = null;
                i++;
                if (i == last) return h;
                continue;
            }
            Tensor next = l.apply(h, mask, training);
            mask = l.computeMask(h, mask);
            h = next;
        }
        Layer tail = layers.get(last);
        if (withoutFinalActivation && tail instanceof FoldableActivation f) {
            return f.callWithoutActivation(h, training);
        }
        return tail.apply(h, mask, training);
    }

    @Override
    long[] outputShapeFor(long[] inputShape) {
        if (layers.isEmpty()) throw new ShapeException("Sequential: the model has no layers");
        long[] shape = inputShape.clone();
        for (Layer l : layers) {
            if (l.isBuilt()) {
                if (!Arrays.equals(l.inputShape(), shape)) {
                    throw new ShapeException(l.name() + " (in a nested Sequential) is built for input shape "
                            + Arrays.toString(l.inputShape()) + ", not " + Arrays.toString(shape));
                }
                shape = l.outputShape();
            } else {
                shape = l.computeOutputShape(shape);
            }
        }
        return shape;
    }

    /** Reads a checkpoint of a Sequential model written by {@link #save}. */
    public static Sequential load(java.nio.file.Path file) throws java.io.IOException {
        return Checkpoint.load(file);
    }

    /** The Keras-style table: layer (type), output shape, parameter count. */
    public String summary() {
        StringBuilder b = new StringBuilder();
        String rule = "_".repeat(65);
        b.append("Model: \"sequential\"\n").append(rule).append('\n');
        b.append(String.format("%-28s %-24s %10s%n", "Layer (type)", "Output Shape", "Param #"));
        b.append("=".repeat(65)).append('\n');
        long total = 0;
        long trainable = 0;
        for (Layer l : layers) {
            String shape = l.isBuilt() ? "(None, " + Layer.join(l.outputShape()) + ")"
                    : "(unbuilt)";
            b.append(String.format("%-28s %-24s %10d%n", l.name() + " (" + l.getClass().getSimpleName() + ")", shape,
                    l.paramCount()));
            total += l.paramCount();
            for (var p : l.params()) if (p.trainable()) trainable += p.value().numel();
        }
        b.append("=".repeat(65)).append('\n');
        b.append(String.format("Total params: %d%nTrainable params: %d%nNon-trainable params: %d%n", total, trainable,
                total - trainable));
        return b.toString();
    }
}
