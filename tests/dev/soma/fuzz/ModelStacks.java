package dev.soma.fuzz;

import dev.soma.nn.*;
import dev.soma.optim.Adam;
import dev.soma.optim.AdamW;
import dev.soma.optim.Optimizer;
import dev.soma.optim.RMSprop;
import dev.soma.optim.SGD;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Random Sequential classifiers of the four families' layers: an image stack, a sequence stack, an id stack (embedding
 * then a sequence stack) and a feature stack, each with random options ({@link LayerSetters} on some layers) ending in
 * a softmax over 2 to 4 classes. Small, so that a model trains two epochs in milliseconds. Some draws do not fit
 * together (a "valid" convolution larger than what reaches it): the model must then refuse clearly.
 */
final class ModelStacks {
    private ModelStacks() {}

    /** A model's layers, its per-example input shape, the ids' vocabulary (0: float inputs) and its class count. */
    record Stack(List<Layer> layers, long[] input, int vocabulary, int classes, String family) {}

    static Stack draw(SplittableRandom r) throws Throwable {
        LayerKnobs k = new LayerKnobs(r, false);
        int classes = 2 + r.nextInt(3);
        List<Layer> layers = new ArrayList<>();
        long[] input;
        int vocabulary = 0;
        String family;
        switch (r.nextInt(4)) {
            case 0 -> {
                family = "image";
                input = new long[] {k.size(3, 8), k.size(3, 8), k.size(1, 3)};
                for (int i = 0, n = 1 + r.nextInt(3); i < n; i++) layers.add(optioned(imageLayer(k), k));
                layers.add(r.nextBoolean() ? new Flatten() : new GlobalAveragePooling2D());
            }
            case 1 -> {
                family = "sequence";
                input = new long[] {k.size(2, 6), k.size(2, 5)};
                if (r.nextInt(3) == 0) layers.add(new Masking(0));
                sequenceLayers(k, layers);
            }
            case 2 -> {
                family = "ids";
                vocabulary = 3 + r.nextInt(8);
                long steps = k.size(2, 6);
                input = new long[] {steps};
                int dim = k.count(2, 5);
                layers.add(r.nextBoolean() ? new Embedding(vocabulary, dim, k.flag())
                        : new TokenAndPositionEmbedding(vocabulary, (int) steps, dim, k.flag(), k.flag()));
                sequenceLayers(k, layers);
            }
            default -> {
                family = "features";
                input = new long[] {k.size(2, 8)};
                for (int i = 0, n = 1 + r.nextInt(3); i < n; i++) layers.add(optioned(featureLayer(k), k));
            }
        }
        layers.add(new Dense(classes, "softmax"));
        return new Stack(layers, input, vocabulary, classes, family);
    }

    /** Options set at random on half the layers (the rest keep their defaults, the most used path). */
    private static Layer optioned(Layer l, LayerKnobs k) throws Throwable {
        if (k.flag()) LayerSetters.randomize(l, k);
        return l;
    }

    private static Layer imageLayer(LayerKnobs k) {
        return switch (k.random().nextInt(8)) {
            case 0, 1 -> new Conv2D(k.count(1, 4), k.count(1, 3), k.activation()).padding("same");
            case 2 -> new Conv2DTranspose(k.count(1, 3), k.count(1, 3), k.activation());
            case 3 -> new MaxPooling2D(2).padding("same");
            case 4 -> new AveragePooling2D(2).padding("same");
            case 5 -> new BatchNormalization();
            case 6 -> new UpSampling2D(2);
            default -> new Dropout(k.rate(0.5));
        };
    }

    private static Layer featureLayer(LayerKnobs k) {
        return switch (k.random().nextInt(8)) {
            case 0, 1 -> new Dense(k.count(2, 8), k.activation());
            case 2 -> new DaleDense(k.count(3, 8), k.activation());
            case 3 -> new BatchNormalization();
            case 4 -> new Dropout(k.rate(0.5));
            case 5 -> new LeakyReLU(k.number(0, 0.3));
            case 6 -> new LayerNormalization();
            default -> new Activation(k.activation());
        };
    }

    /** One to three sequence layers keeping [steps, features], then one that ends the sequence. */
    private static void sequenceLayers(LayerKnobs k, List<Layer> layers) throws Throwable {
        for (int i = 0, n = 1 + k.random().nextInt(3); i < n; i++) {
            Layer l = switch (k.random().nextInt(8)) {
                case 0 -> recurrent(k).returnSequences(true);
                case 1 -> new Bidirectional(recurrent(k, 3).returnSequences(true), recurrent(k, 3).returnSequences(true));
                case 2 -> new MultiHeadAttention(k.count(1, 2), k.count(1, 3)).useCausalMask(k.flag());
                case 3 -> new TransformerEncoder(1, k.count(2, 6), k.rate(0.3), k.flag());
                case 4 -> new LayerNormalization();
                case 5 -> new TimeDistributed(new Dense(k.count(2, 5), k.activation()));
                case 6 -> new Dense(k.count(2, 5), k.activation());
                default -> new Dropout(k.rate(0.5));
            };
            layers.add(l instanceof RecurrentLayer<?> || l instanceof Bidirectional ? l : optioned(l, k));
        }
        layers.add(switch (k.random().nextInt(3)) {
            case 0 -> new GlobalAveragePooling1D();
            case 1 -> Slice.lastStep();
            default -> recurrent(k);
        });
    }

    private static RecurrentLayer<?> recurrent(LayerKnobs k) throws Throwable {
        RecurrentLayer<?> l = recurrent(k, k.count(1, 4));
        if (k.flag()) l.dropout(k.rate(0.4));
        if (k.flag()) l.recurrentDropout(k.rate(0.4));
        if (k.flag()) l.goBackwards(true);
        if (k.flag()) l.activation(k.recurrentActivation());
        return l;
    }

    private static RecurrentLayer<?> recurrent(LayerKnobs k, int units) {
        return switch (k.random().nextInt(4)) {
            case 0 -> new LSTM(units);
            case 1 -> new GRU(units);
            case 2 -> new GRU(units).resetAfter(false);
            default -> new SimpleRNN(units);
        };
    }

    /** SGD (with momentum, Nesterov), Adam, AdamW or RMSprop, with small random rates. */
    static Optimizer optimizer(SplittableRandom r) {
        double lr = 0.001 + 0.05 * r.nextDouble();
        return switch (r.nextInt(5)) {
            case 0 -> new SGD(lr);
            case 1 -> new SGD(lr, 0.5 + 0.4 * r.nextDouble(), r.nextBoolean());
            case 2 -> new Adam(lr);
            case 3 -> new AdamW(lr, 0.01 * r.nextDouble());
            default -> new RMSprop(lr, 0.8 + 0.15 * r.nextDouble(), r.nextBoolean() ? 0 : 0.5, 1e-7);
        };
    }
}
