package dev.soma.fuzz;

import dev.soma.nn.*;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Random Sequential classifiers for {@link PrivateFitFuzzTest}, drawn mostly from the layers whose per-example
 * gradient norms DP-SGD's ghost-norm path forms itself (Dense, Conv2D, Embedding, LayerNormalization), in every place
 * a user may put them: Dense over sequences and images, inside TimeDistributed, Conv2D with strides, dilation and
 * either padding, embeddings with masks, frozen layers, regularizers. Now and then a layer the ghost path does not
 * cover (a recurrent layer, attention, DaleDense): the step must then take the per-example path.
 */
final class PrivateStacks {
    private PrivateStacks() {}

    static ModelStacks.Stack draw(SplittableRandom r) throws Throwable {
        LayerKnobs k = new LayerKnobs(r, false);
        int classes = 2 + r.nextInt(3);
        List<Layer> layers = new ArrayList<>();
        long[] input;
        int vocabulary = 0;
        String family;
        switch (r.nextInt(4)) {
            case 0 -> {
                family = "image";
                input = new long[] {k.size(3, 7), k.size(3, 7), k.size(1, 3)};
                for (int i = 0, n = 1 + r.nextInt(3); i < n; i++) layers.add(imageLayer(k));
                layers.add(r.nextBoolean() ? new Flatten() : new GlobalAveragePooling2D());
            }
            case 1 -> {
                family = "sequence";
                input = new long[] {k.size(1, 5), k.size(2, 5)};
                if (r.nextInt(3) == 0) layers.add(new Masking(0));
                sequenceLayers(k, layers);
            }
            case 2 -> {
                family = "ids";
                vocabulary = 3 + r.nextInt(8);
                long steps = k.size(1, 6);
                input = new long[] {steps};
                int dim = k.count(2, 5);
                layers.add(r.nextInt(4) > 0 ? new Embedding(vocabulary, dim, k.flag())
                        : new TokenAndPositionEmbedding(vocabulary, (int) steps, dim, k.flag(), k.flag()));
                sequenceLayers(k, layers);
            }
            default -> {
                family = "features";
                input = new long[] {k.size(1, 8)};
                for (int i = 0, n = 1 + r.nextInt(3); i < n; i++) layers.add(featureLayer(k));
            }
        }
        layers.add(new Dense(classes, "softmax"));
        return new ModelStacks.Stack(layers, input, vocabulary, classes, family);
    }

    private static Layer imageLayer(LayerKnobs k) throws Throwable {
        SplittableRandom r = k.random();
        return switch (r.nextInt(9)) {
            case 0, 1, 2 -> {
                Conv2D c = new Conv2D(k.count(1, 4), k.count(1, 3), k.activation()).padding(k.padding());
                if (r.nextInt(3) == 0) c.strides(2);
                if (r.nextInt(4) == 0) c.dilation(2);
                yield optioned(c, k);
            }
            case 3 -> new MaxPooling2D(2).padding("same");
            case 4 -> new AveragePooling2D(2).padding("same");
            case 5 -> optioned(new Dense(k.count(1, 4), k.activation()), k); // over the last axis of an image
            case 6 -> new LayerNormalization().center(k.flag()).scale(k.flag());
            case 7 -> new Conv2DTranspose(k.count(1, 3), k.count(1, 3), k.activation()); // not on the ghost tape
            default -> new Activation(k.activation());
        };
    }

    private static Layer featureLayer(LayerKnobs k) throws Throwable {
        return switch (k.random().nextInt(7)) {
            case 0, 1, 2 -> optioned(new Dense(k.count(1, 8), k.activation()), k);
            case 3 -> new LayerNormalization().center(k.flag()).scale(k.flag());
            case 4 -> new LeakyReLU(k.number(0, 0.3));
            case 5 -> new DaleDense(k.count(3, 6), k.activation()); // not on the ghost tape
            default -> new Activation(k.activation());
        };
    }

    /** One to three layers keeping [steps, features], then one that ends the sequence. */
    private static void sequenceLayers(LayerKnobs k, List<Layer> layers) throws Throwable {
        SplittableRandom r = k.random();
        for (int i = 0, n = 1 + r.nextInt(3); i < n; i++) {
            layers.add(switch (r.nextInt(9)) {
                case 0, 1 -> optioned(new Dense(k.count(1, 5), k.activation()), k);
                case 2, 3 -> new TimeDistributed(optioned(new Dense(k.count(1, 5), k.activation()), k));
                case 4 -> new LayerNormalization().center(k.flag()).scale(k.flag());
                case 5 -> new MultiHeadAttention(k.count(1, 2), k.count(1, 3)); // not on the ghost tape
                case 6 -> new TransformerEncoder(1, k.count(2, 4), 0, k.flag());
                case 7 -> new SimpleRNN(k.count(1, 3)).returnSequences(true); // not on the ghost tape
                default -> new Activation(k.activation());
            });
        }
        layers.add(switch (r.nextInt(3)) {
            case 0 -> new GlobalAveragePooling1D();
            case 1 -> Slice.lastStep();
            default -> new Flatten();
        });
    }

    /** Random options (regularizers, initializers, bias) on half the layers. */
    private static Layer optioned(Layer l, LayerKnobs k) throws Throwable {
        if (k.flag()) LayerSetters.randomize(l, k);
        return l;
    }
}
