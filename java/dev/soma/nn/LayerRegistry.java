package dev.soma.nn;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;

/**
 * Rebuilds layers from their {@link Layer#typeName()} and {@link Layer#config()} (checkpoints store both).
 * Layer families register their own types here.
 */
public final class LayerRegistry {
    private static final Map<String, Function<Map<String, Object>, Layer>> FACTORIES = new ConcurrentHashMap<>();

    static {
        register("dense", c -> new Dense(intOf(c, "units"), (String) c.get("activation")).useBias(boolOf(c, "use_bias"))
                .kernelRegularizer(Regularizer.fromConfig(c.get("kernel_regularizer")))
                .biasRegularizer(Regularizer.fromConfig(c.get("bias_regularizer"))));
        register("dale_dense", DaleDense::fromConfig);
        register("flatten", c -> new Flatten());
        register("reshape", c -> new Reshape(longsOf(c, "target_shape")));
        register("activation", c -> new Activation((String) c.get("activation")));
        register("dropout", c -> new Dropout(numOf(c, "rate")).restoreState(longOf(c, "seed"), longOf(c, "calls")));
        register("batch_normalization", c -> new BatchNormalization(numOf(c, "momentum"), numOf(c, "epsilon")));
        register("conv2d", Conv2D::fromConfig);
        register("max_pooling2d", MaxPooling2D::fromConfig);
        register("average_pooling2d", AveragePooling2D::fromConfig);
        register("global_average_pooling2d", c -> new GlobalAveragePooling2D());
        register("up_sampling2d", UpSampling2D::fromConfig);
        register("conv2d_transpose", Conv2DTranspose::fromConfig);
        register("layer_normalization", c -> new LayerNormalization(numOf(c, "epsilon")).center(boolOf(c, "center")).scale(boolOf(c, "scale")));
        register("multi_head_attention", MultiHeadAttention::fromConfig);
        register("global_average_pooling1d", c -> new GlobalAveragePooling1D());
        register("token_and_position_embedding", c -> new TokenAndPositionEmbedding(intOf(c, "vocabulary"), intOf(c, "max_length"), intOf(c, "dim"), boolOf(c, "sinusoidal"),
                c.containsKey("mask_zero") && boolOf(c, "mask_zero")));   // checkpoints before mask_zero have none
        register("transformer_encoder", c -> new TransformerEncoder(intOf(c, "num_heads"), intOf(c, "ff_dim"), numOf(c, "dropout"), boolOf(c, "causal")));
        register("leaky_re_lu", c -> new LeakyReLU(numOf(c, "negative_slope")));
        register("embedding", c -> new Embedding(intOf(c, "input_dim"), intOf(c, "output_dim"), boolOf(c, "mask_zero")));
        register("lstm", c -> new LSTM(intOf(c, "units")).configure(c));
        register("gru", GRU::fromConfig);
        register("simple_rnn", c -> new SimpleRNN(intOf(c, "units")).configure(c));
        register("time_distributed", TimeDistributed::fromConfig);
        register("masking", c -> new Masking(numOf(c, "mask_value")));
        register("slice", Slice::fromConfig);
        register("add", c -> new Add());
        register("multiply", c -> new Multiply());
        register("concatenate", c -> new Concatenate(intOf(c, "axis")));
        register("bidirectional", Bidirectional::fromConfig);
    }

    private LayerRegistry() {}

    public static void register(String type, Function<Map<String, Object>, Layer> factory) {
        FACTORIES.put(type, factory);
    }

    /** The registered type names (a snapshot, sorted). */
    public static java.util.SortedSet<String> types() {
        return new java.util.TreeSet<>(FACTORIES.keySet());
    }

    public static Layer create(String type, Map<String, Object> config) {
        Function<Map<String, Object>, Layer> f = FACTORIES.get(type);
        if (f == null) {
            throw new IllegalArgumentException("unknown layer type '" + type + "' (known: " + FACTORIES.keySet() + ")");
        }
        return f.apply(config);
    }

    public static double numOf(Map<String, Object> c, String key) {
        Object v = c.get(key);
        // Checkpoints write infinities and NaN as JSON's bare Infinity, -Infinity and NaN, which read back as strings.
        if (v instanceof String s && (s.equals("Infinity") || s.equals("-Infinity") || s.equals("NaN"))) {
            return Double.parseDouble(s);
        }
        if (!(v instanceof Number n)) throw new IllegalArgumentException("layer config: '" + key + "' missing or not a number: " + c);
        return n.doubleValue();
    }

    public static int intOf(Map<String, Object> c, String key) {
        return (int) numOf(c, key);
    }

    public static long longOf(Map<String, Object> c, String key) {
        Object v = c.get(key);
        if (v instanceof String s) return Long.parseLong(s);
        return (long) numOf(c, key);
    }

    public static boolean boolOf(Map<String, Object> c, String key) {
        Object v = c.get(key);
        if (!(v instanceof Boolean b)) throw new IllegalArgumentException("layer config: '" + key + "' missing or not a boolean: " + c);
        return b;
    }

    public static long[] longsOf(Map<String, Object> c, String key) {
        Object v = c.get(key);
        if (v instanceof long[] a) return a.clone();
        if (v instanceof int[] a) return java.util.Arrays.stream(a).asLongStream().toArray();
        if (v instanceof List<?> l) return l.stream().mapToLong(x -> ((Number) x).longValue()).toArray();
        throw new IllegalArgumentException("layer config: '" + key + "' missing or not a list of numbers: " + c);
    }
}
