package dev.soma.model;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonParseException;
import com.google.gson.reflect.TypeToken;
import dev.soma.errors.SomaException;
import dev.soma.io.CorruptFileException;
import dev.soma.io.Safetensors;
import dev.soma.memory.Scope;
import dev.soma.nn.Layer;
import dev.soma.nn.LayerRegistry;
import dev.soma.nn.Param;
import dev.soma.optim.Adam;
import dev.soma.optim.AdamW;
import dev.soma.optim.Optimizer;
import dev.soma.optim.RMSprop;
import dev.soma.optim.SGD;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

import java.io.IOException;
import java.lang.reflect.Type;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.zip.CRC32C;

/**
 * One safetensors file holds a whole training state: the weights ("weights/&lt;layer index&gt;/&lt;name&gt;"), the
 * optimizer's state ("optimizer/&lt;param index&gt;/&lt;slot&gt;") and, as JSON in the metadata, the model's
 * architecture, the compile arguments and the optimizer's configuration and step count. Written atomically
 * (temp file, fsync, rename). Loading a checkpoint and training on gives the same losses, bit for bit on the
 * CPU, as never having stopped.
 *
 * <p>Checkpoints are device-independent: a model on a CUDA device is saved with its values read back to the host
 * (the same file as on the CPU), and loading always yields a model on the CPU; {@link #load(Path, Device)} (or
 * {@code model.to(device)}) then moves it.
 */
public final class Checkpoint {
    private static final Gson GSON = new GsonBuilder().serializeSpecialFloatingPointValues().create();
    private static final Type MAP = new TypeToken<Map<String, Object>>() {}.getType();
    static final String FORMAT = "soma-checkpoint-1";
    static final String CHECKSUM_KEY = "data_crc32c";

    private Checkpoint() {}

    public static void save(Sequential model, Path file) throws IOException {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        List<Layer> layers = model.layers();
        List<Map<String, Object>> layerConfigs = new ArrayList<>();
        for (int i = 0; i < layers.size(); i++) {
            Layer l = layers.get(i);
            Map<String, Object> lc = new LinkedHashMap<>();
            lc.put("type", l.typeName());
            lc.put("config", l.config());
            layerConfigs.add(lc);
            for (Param p : l.params()) {
                String local = p.name().substring(p.name().indexOf('/') + 1);
                tensors.put("weights/" + i + "/" + local, p.value());
            }
        }
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", FORMAT);
        Map<String, Object> arch = new LinkedHashMap<>();
        arch.put("class", "Sequential");
        arch.put("seed", Long.toString(model.seed));
        arch.put("input_shape", layers.isEmpty() ? null : layers.get(0).inputShape());
        arch.put("layers", layerConfigs);
        meta.put("model", GSON.toJson(arch));
        if (model.loss() != null) {
            Map<String, Object> compile = new LinkedHashMap<>();
            compile.put("loss", model.loss().name());
            List<String> metricNames = new ArrayList<>();
            for (Metric m : model.metrics()) metricNames.add(m.name());
            compile.put("metrics", metricNames);
            meta.put("compile", GSON.toJson(compile));
        }
        Optimizer opt = model.optimizer();
        if (opt != null) {
            Map<String, Object> oc = new LinkedHashMap<>();
            oc.put("name", opt.name());
            oc.put("config", opt.config());
            oc.put("iterations", Long.toString(opt.iterations()));
            meta.put("optimizer", GSON.toJson(oc));
            opt.stateTensors(model.trainableTensors()).forEach((k, v) -> tensors.put("optimizer/" + k, v));
        }
        meta.put(CHECKSUM_KEY, checksum(tensors));
        Safetensors.write(file, tensors, meta);
    }

    /**
     * CRC-32C over every tensor in name order (name, then its values little-endian). Safetensors has no checksum
     * of its own, so without this a flipped bit in the data would load as a silently different weight.
     */
    static String checksum(Map<String, Tensor> tensors) {
        CRC32C crc = new CRC32C();
        for (String name : new TreeSet<>(tensors.keySet())) {
            crc.update(name.getBytes(StandardCharsets.UTF_8));
            Tensor t = tensors.get(name);
            ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(t.numel() * t.dtype().byteSize()))
                    .order(ByteOrder.LITTLE_ENDIAN);
            switch (t.dtype()) {
                case F32 -> b.asFloatBuffer().put(t.toFloatArray());
                case F64 -> b.asDoubleBuffer().put(t.toDoubleArray());
                case I32 -> b.asIntBuffer().put(t.toIntArray());
            }
            crc.update(b);
        }
        return String.format("%08x", crc.getValue());
    }

    /** As {@link #load(Path)}, then moves the model (weights and optimizer state) to {@code device}. */
    public static Sequential load(Path file, Device device) throws IOException {
        Sequential model = load(file);
        try {
            return model.to(device);
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    /** Rebuilds, compiles (when the file says how) and fills a model from a checkpoint, on the CPU. The caller closes it. */
    public static Sequential load(Path file) throws IOException {
        try (Scope scope = Scope.open()) {
            Safetensors.Loaded loaded = Safetensors.read(file);
            Map<String, String> meta = loaded.metadata();
            if (!FORMAT.equals(meta.get("format"))) {
                throw new SomaException("checkpoint " + file + ": not a Soma checkpoint (format '" + meta.get("format")
                        + "', expected '" + FORMAT + "')");
            }
            String stored = meta.get(CHECKSUM_KEY);
            if (stored != null && !stored.equals(checksum(loaded.tensors()))) {
                throw new CorruptFileException(file, "the tensor data does not match its checksum (stored " + stored
                        + ", computed " + checksum(loaded.tensors()) + "): the file is corrupted");
            }
            if (meta.get("model") == null) throw new CorruptFileException(file, "the metadata has no 'model' entry");
            Sequential model = new Sequential();
            try {
                fill(model, file, loaded, meta);
                return model;
            } catch (JsonParseException | ClassCastException | NullPointerException | IllegalArgumentException e) {
                model.close();
                String why = String.valueOf(e.getMessage()).lines().findFirst().orElse("");
                throw new CorruptFileException(file, "the checkpoint's metadata is malformed (" + why + ")", e);
            } catch (RuntimeException e) {
                model.close();
                throw e;
            }
        }
    }

    /** Builds the architecture, copies the weights and restores the optimizer, as the metadata describes. */
    private static void fill(Sequential model, Path file, Safetensors.Loaded loaded, Map<String, String> meta) {
        { // the body moved here unchanged from load(), which now closes the model when this throws
            Map<String, Object> arch = GSON.fromJson(meta.get("model"), MAP);
            model.seed(Long.parseLong((String) arch.get("seed")));
            @SuppressWarnings("unchecked")
            List<Map<String, Object>> layerConfigs = (List<Map<String, Object>>) arch.get("layers");
            for (Map<String, Object> lc : layerConfigs) {
                @SuppressWarnings("unchecked")
                Map<String, Object> config = (Map<String, Object>) lc.get("config");
                model.add(LayerRegistry.create((String) lc.get("type"), config));
            }
            if (arch.get("input_shape") != null) model.build(LayerRegistry.longsOf(arch, "input_shape"));
            List<Layer> layers = model.layers();
            for (int i = 0; i < layers.size(); i++) {
                for (Param p : layers.get(i).params()) {
                    String key = "weights/" + i + "/" + p.name().substring(p.name().indexOf('/') + 1);
                    Tensor saved = loaded.tensors().get(key);
                    if (saved == null) throw new SomaException("checkpoint " + file + ": weight '" + key + "' is missing");
                    dev.soma.ops.Check.sameShape("checkpoint " + file + ": load of " + key, p.value(), saved);
                    p.value().backend().memory().copy(saved, p.value());
                }
            }
            if (meta.containsKey("optimizer") && meta.containsKey("compile")) {
                Map<String, Object> oc = GSON.fromJson(meta.get("optimizer"), MAP);
                Optimizer opt = optimizer(oc);
                Map<String, Object> compile = GSON.fromJson(meta.get("compile"), MAP);
                @SuppressWarnings("unchecked")
                List<String> metricNames = (List<String>) compile.get("metrics");
                model.compile(opt, (String) compile.get("loss"), metricNames.toArray(String[]::new));
                opt.setIterations(Long.parseLong((String) oc.get("iterations")));
                Map<String, Tensor> state = new LinkedHashMap<>();
                loaded.tensors().forEach((k, v) -> {
                    if (k.startsWith("optimizer/")) state.put(k.substring("optimizer/".length()), v);
                });
                opt.loadStateTensors(model.trainableTensors(), state);
            }
        }
    }

    private static Optimizer optimizer(Map<String, Object> oc) {
        @SuppressWarnings("unchecked")
        Map<String, Object> c = (Map<String, Object>) oc.get("config");
        double lr = LayerRegistry.numOf(c, "learning_rate");
        return switch ((String) oc.get("name")) {
            case "sgd" -> new SGD(lr, LayerRegistry.numOf(c, "momentum"), LayerRegistry.boolOf(c, "nesterov"))
                    .weightDecay(LayerRegistry.numOf(c, "weight_decay"));
            case "adam" -> new Adam(lr, LayerRegistry.numOf(c, "beta_1"), LayerRegistry.numOf(c, "beta_2"),
                    LayerRegistry.numOf(c, "epsilon")).weightDecay(LayerRegistry.numOf(c, "weight_decay"));
            case "adamw" -> new AdamW(lr, LayerRegistry.numOf(c, "weight_decay"));
            case "rmsprop" -> new RMSprop(lr, LayerRegistry.numOf(c, "rho"), LayerRegistry.numOf(c, "momentum"),
                    LayerRegistry.numOf(c, "epsilon"));
            default -> throw new SomaException("checkpoint: unknown optimizer '" + oc.get("name") + "'");
        };
    }
}
