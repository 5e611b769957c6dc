package dev.soma.model;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.reflect.TypeToken;
import dev.soma.errors.SomaException;
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
import dev.soma.tensor.Tensor;

import java.io.IOException;
import java.lang.reflect.Type;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One safetensors file holds a whole training state: the weights ("weights/&lt;layer index&gt;/&lt;name&gt;"), the
 * optimizer's state ("optimizer/&lt;param index&gt;/&lt;slot&gt;") and, as JSON in the metadata, the model's
 * architecture, the compile arguments and the optimizer's configuration and step count. Written atomically
 * (temp file, fsync, rename). Loading a checkpoint and training on gives the same losses, bit for bit on the
 * CPU, as never having stopped.
 */
public final class Checkpoint {
    private static final Gson GSON = new GsonBuilder().serializeSpecialFloatingPointValues().create();
    private static final Type MAP = new TypeToken<Map<String, Object>>() {}.getType();
    static final String FORMAT = "soma-checkpoint-1";

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
        Safetensors.write(file, tensors, meta);
    }

    /** Rebuilds, compiles (when the file says how) and fills a model from a checkpoint. The caller closes it. */
    public static Sequential load(Path file) throws IOException {
        try (Scope scope = Scope.open()) {
            Safetensors.Loaded loaded = Safetensors.read(file);
            Map<String, String> meta = loaded.metadata();
            if (!FORMAT.equals(meta.get("format"))) {
                throw new SomaException("checkpoint " + file + ": not a Soma checkpoint (format '" + meta.get("format")
                        + "', expected '" + FORMAT + "')");
            }
            Map<String, Object> arch = GSON.fromJson(meta.get("model"), MAP);
            Sequential model = new Sequential();
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
                    dev.soma.ops.Check.sameShape("checkpoint load of " + key, p.value(), saved);
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
            return model;
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
