package dev.soma.fuzz;

import dev.soma.nn.*;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Function;

/**
 * For every registered layer type, a random layer of that type and per-example input shapes that fit it (most of the
 * time: the knobs may go wild, and setters may pick options that a shape does not allow). Sizes stay small, so that
 * each layer runs in float32, in float64 twice and on the GPU in milliseconds.
 */
final class LayerRecipes {
    private LayerRecipes() {}

    /**
     * A layer to fuzz and its inputs' per-example shapes; {@code vocabulary} above 0 makes the first input integer ids
     * below it (one past it now and then: the layer must refuse those).
     */
    record Draw(Layer layer, List<long[]> inputs, int vocabulary) {
        Draw(Layer layer, long[] input) {
            this(layer, List.of(input), 0);
        }
    }

    private static final Map<String, Function<LayerKnobs, Draw>> RECIPES = new TreeMap<>();

    static {
        RECIPES.put("dense", k -> new Draw(new Dense(k.count(1, 6), k.activation()), features(k)));
        RECIPES.put("dale_dense", k -> {
            // At least 2 features: over one, the initial inhibition balances the excitation exactly (W_IE is W_EE's
            // mean), so a divisive layer's output does not depend on its input and the input gradient is rounding noise.
            long[] in = features(k);
            in[in.length - 1] = Math.max(2, in[in.length - 1]);
            return new Draw(new DaleDense(k.count(2, 6), k.activation()), in);
        });
        RECIPES.put("flatten", k -> new Draw(new Flatten(), anyShape(k)));
        RECIPES.put("reshape", k -> {
            long a = k.size(1, 4), b = k.size(1, 4), c = k.size(1, 3);
            long[] target = switch (k.random().nextInt(3)) {
                case 0 -> new long[] {a * b * c};
                case 1 -> new long[] {a * c, b};
                default -> new long[] {c, -1, a};
            };
            return new Draw(new Reshape(target), new long[] {b, a * c});
        });
        RECIPES.put("activation", k -> new Draw(new Activation(k.activation()), anyShape(k)));
        RECIPES.put("dropout", k -> new Draw(new Dropout(k.rate(0.7)), anyShape(k)));
        RECIPES.put("batch_normalization", k -> new Draw(new BatchNormalization(k.positive(0.5, 0.999),
                k.positive(1e-5, 1e-2)), features(k)));
        RECIPES.put("conv2d", k -> new Draw(new Conv2D(k.count(1, 4), kernel(k), k.activation()), image(k)));
        RECIPES.put("conv2d_transpose", k -> new Draw(new Conv2DTranspose(k.count(1, 4), kernel(k), k.activation()),
                image(k)));
        RECIPES.put("max_pooling2d", k -> new Draw(new MaxPooling2D(kernel(k)), image(k)));
        RECIPES.put("average_pooling2d", k -> new Draw(new AveragePooling2D(kernel(k)), image(k)));
        RECIPES.put("global_average_pooling2d", k -> new Draw(new GlobalAveragePooling2D(), image(k)));
        RECIPES.put("up_sampling2d", k -> new Draw(new UpSampling2D(new int[] {k.count(1, 3), k.count(1, 3)}), image(k)));
        RECIPES.put("layer_normalization", k -> new Draw(new LayerNormalization(k.positive(1e-6, 1e-2)), features(k)));
        RECIPES.put("multi_head_attention", k -> {
            MultiHeadAttention m = k.flag() ? new MultiHeadAttention(k.count(1, 3), k.count(1, 4))
                    : new MultiHeadAttention(k.count(1, 3), k.count(1, 4), k.count(1, 4));
            return new Draw(m, sequence(k));
        });
        RECIPES.put("global_average_pooling1d", k -> new Draw(new GlobalAveragePooling1D(), sequence(k)));
        RECIPES.put("token_and_position_embedding", k -> {
            int vocabulary = k.count(2, 9);
            int maxLength = k.count(1, 7);
            long steps = k.size(1, Math.max(1, Math.min(maxLength, 7)));
            return new Draw(new TokenAndPositionEmbedding(vocabulary, maxLength, k.count(1, 6), k.flag(), k.flag()),
                    List.of(new long[] {steps}), Math.max(vocabulary, 1));
        });
        RECIPES.put("transformer_encoder", k -> {
            int heads = k.count(1, 3);
            long features = (long) Math.max(1, Math.min(heads, 3)) * k.size(1, 3); // a wild head count is refused
            return new Draw(new TransformerEncoder(heads, k.count(1, 8), k.rate(0.3), k.flag()),
                    new long[] {k.size(1, 5), features});
        });
        RECIPES.put("leaky_re_lu", k -> new Draw(new LeakyReLU(k.number(0, 0.5)), anyShape(k)));
        RECIPES.put("embedding", k -> {
            int vocabulary = k.count(1, 9);
            long[] ids = k.flag() ? new long[] {k.size(1, 6)} : new long[] {k.size(1, 4), k.size(1, 3)};
            return new Draw(new Embedding(vocabulary, k.count(1, 6), k.flag()), List.of(ids), Math.max(vocabulary, 1));
        });
        RECIPES.put("lstm", k -> new Draw(new LSTM(k.count(1, 5)), sequence(k)));
        RECIPES.put("gru", k -> new Draw(new GRU(k.count(1, 5)), sequence(k)));
        RECIPES.put("simple_rnn", k -> new Draw(new SimpleRNN(k.count(1, 5)), sequence(k)));
        RECIPES.put("bidirectional", k -> {
            RecurrentLayer<?> forward = recurrent(k), backward = sameKind(forward, k);
            boolean sequences = k.flag();
            forward.returnSequences(sequences);
            backward.returnSequences(sequences);
            return new Draw(new Bidirectional(forward, backward), sequence(k));
        });
        RECIPES.put("time_distributed", k -> {
            if (k.flag()) {
                return new Draw(new TimeDistributed(new Dense(k.count(1, 5), k.activation())),
                        new long[] {k.size(1, 4), k.size(1, 5)});
            }
            long[] image = image(k);
            return new Draw(new TimeDistributed(new Conv2D(k.count(1, 3), kernel(k), k.activation())),
                    new long[] {k.size(1, 3), image[0], image[1], image[2]});
        });
        RECIPES.put("masking", k -> new Draw(new Masking(k.flag() ? 0 : k.number(-1, 1)), sequence(k)));
        RECIPES.put("slice", k -> {
            long[] in = anyShape(k);
            int axis = k.random().nextInt(in.length);
            long size = in[axis];
            Slice s = switch (k.random().nextInt(3)) {
                case 0 -> Slice.index(axis, k.random().nextLong(-size, size));
                case 1 -> Slice.range(axis, k.random().nextLong(-size, size), k.random().nextLong(-size, size + 1));
                default -> Slice.lastStep();
            };
            return new Draw(s, in);
        });
        RECIPES.put("add", k -> merge(new Add(), k));
        RECIPES.put("multiply", k -> merge(new Multiply(), k));
        RECIPES.put("concatenate", k -> {
            long[] first = anyShape(k);
            int axis = 1 + k.random().nextInt(first.length);
            List<long[]> inputs = new ArrayList<>();
            for (int i = 0, n = 2 + k.random().nextInt(2); i < n; i++) {
                long[] s = first.clone();
                s[axis - 1] = k.size(1, 4);
                inputs.add(s);
            }
            return new Draw(new Concatenate(k.flag() ? axis : axis - first.length - 1), inputs, 0);
        });
    }

    /** The layer types with a recipe. */
    static List<String> types() {
        return List.copyOf(RECIPES.keySet());
    }

    /** A random layer of {@code type} with its options set at random ({@link LayerSetters}). */
    static Draw draw(String type, LayerKnobs knobs) throws Throwable {
        Function<LayerKnobs, Draw> recipe = RECIPES.get(type);
        if (recipe == null) throw new AssertionError("no layer recipe for " + type);
        Draw d = recipe.apply(knobs);
        LayerSetters.randomize(d.layer(), knobs);
        return d;
    }

    private static RecurrentLayer<?> recurrent(LayerKnobs k) {
        return switch (k.random().nextInt(3)) {
            case 0 -> new LSTM(k.count(1, 4));
            case 1 -> new GRU(k.count(1, 4));
            default -> new SimpleRNN(k.count(1, 4));
        };
    }

    /**
     * A backward layer of the forward's kind and units with options of its own: Keras allows a backward layer
     * configured differently, and a save must keep both.
     */
    private static RecurrentLayer<?> sameKind(RecurrentLayer<?> forward, LayerKnobs k) {
        RecurrentLayer<?> backward = forward instanceof LSTM ? new LSTM(forward.units())
                : forward instanceof GRU ? new GRU(forward.units()) : new SimpleRNN(forward.units());
        if (k.flag()) backward.activation(k.recurrentActivation());
        if (k.flag()) backward.useBias(k.flag());
        return backward;
    }

    private static Draw merge(Merge layer, LayerKnobs k) {
        long[] shape = anyShape(k);
        List<long[]> inputs = new ArrayList<>();
        for (int i = 0, n = 2 + k.random().nextInt(2); i < n; i++) inputs.add(shape.clone());
        return new Draw(layer, inputs, 0);
    }

    private static int[] kernel(LayerKnobs k) {
        return new int[] {k.count(1, 3), k.count(1, 3)};
    }

    /** [features], or [steps, features], or [a, b, features]. */
    private static long[] features(LayerKnobs k) {
        return switch (k.random().nextInt(3)) {
            case 0 -> new long[] {k.size(1, 7)};
            case 1 -> new long[] {k.size(1, 4), k.size(1, 6)};
            default -> new long[] {k.size(1, 3), k.size(1, 3), k.size(1, 5)};
        };
    }

    /** [steps, features]. */
    private static long[] sequence(LayerKnobs k) {
        return new long[] {k.size(1, 6), k.size(1, 5)};
    }

    /** [height, width, channels]. */
    private static long[] image(LayerKnobs k) {
        return new long[] {k.size(1, 8), k.size(1, 8), k.size(1, 3)};
    }

    /** Rank 1 to 3. */
    private static long[] anyShape(LayerKnobs k) {
        long[] s = new long[1 + k.random().nextInt(3)];
        for (int i = 0; i < s.length; i++) s[i] = k.size(1, 5);
        return s;
    }
}
