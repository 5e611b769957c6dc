package dev.soma.model;

import dev.soma.errors.SomaException;
import dev.soma.io.Safetensors;
import dev.soma.memory.Scope;
import dev.soma.nn.Layer;
import dev.soma.nn.Param;
import dev.soma.nn.Weights;
import dev.soma.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Weights-only files (Keras' save_weights / load_weights): a safetensors file whose tensors are named
 * "&lt;model-local layer name&gt;/&lt;weight&gt;" ("dense_2/kernel", "model_1/conv2d_1/bias" for a nested model), so
 * they load into any model with the same layers, however many layers the JVM made before.
 */
final class WeightFiles {
    static final String FORMAT = "soma-weights-1";

    private WeightFiles() {}

    /** Every weight of the model by its file name, in layer order. */
    private static Map<String, Param> named(Model model, String op) {
        requireBuilt(model, op);
        Map<String, Param> out = new LinkedHashMap<>();
        List<Layer> layers = model.layers();
        List<String> names = LayerNames.local(layers);
        for (int i = 0; i < layers.size(); i++) {
            for (Param p : layers.get(i).params()) out.put(names.get(i) + "/" + LayerNames.weightName(p), p);
        }
        return out;
    }

    private static void requireBuilt(Model model, String op) {
        boolean built = true;
        for (Layer l : model.layers()) built &= l.isBuilt() || l instanceof dev.soma.nn.Merge;
        if (built) return;
        if (model instanceof FunctionalModel f) {
            f.build();
            return;
        }
        throw new IllegalStateException(op + ": the model has no weights yet; build it first (build(inputShape), or "
                + "one fit, predict or call)");
    }

    static void save(Model model, Path file) throws IOException {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        named(model, "saveWeights").forEach((k, p) -> tensors.put(k, p.value()));
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", FORMAT);
        meta.put(Checkpoint.CHECKSUM_KEY, Checkpoint.checksum(tensors));
        Safetensors.write(file, tensors, meta);
    }

    static List<String> load(Model model, Path file, boolean skipMissing) throws IOException {
        Map<String, Param> params = named(model, "loadWeights");
        try (Scope scope = Scope.open()) {
            Safetensors.Loaded loaded = Safetensors.read(file);
            String format = loaded.metadata().get("format");
            if (Checkpoint.FORMAT.equals(format)) {
                throw new SomaException("loadWeights: " + file + " is a whole-model checkpoint, not a weights file; "
                        + "load it with Checkpoint.loadModel, or resume with FitOptions.resumeFrom");
            }
            String stored = loaded.metadata().get(Checkpoint.CHECKSUM_KEY);
            if (stored != null && !stored.equals(Checkpoint.checksum(loaded.tensors()))) {
                throw new dev.soma.io.CorruptFileException(file, "the tensor data does not match its checksum: the file "
                        + "is corrupted");
            }
            Map<String, Tensor> values = loaded.tensors();
            Set<String> missing = new LinkedHashSet<>(params.keySet());
            missing.removeAll(values.keySet());
            Set<String> unknown = new LinkedHashSet<>(values.keySet());
            unknown.removeAll(params.keySet());
            if (!skipMissing && (!missing.isEmpty() || !unknown.isEmpty())) {
                throw new SomaException("loadWeights: " + file + " does not match the model: "
                        + (missing.isEmpty() ? "" : "the file lacks " + sample(missing))
                        + (missing.isEmpty() || unknown.isEmpty() ? "" : "; ")
                        + (unknown.isEmpty() ? "" : "the model has no weight " + sample(unknown))
                        + " (the model's weights: " + sample(params.keySet())
                        + "; loadWeights(file, true) skips weights that are not in both)");
            }
            // Check every pair first, so a mismatch leaves the model as it was.
            for (Map.Entry<String, Param> e : params.entrySet()) {
                Tensor v = values.get(e.getKey());
                if (v != null) Weights.check("loadWeights " + file + ": " + e.getKey(), e.getValue().value(), v);
            }
            for (Map.Entry<String, Param> e : params.entrySet()) {
                Tensor v = values.get(e.getKey());
                if (v != null) Weights.assign("loadWeights " + file + ": " + e.getKey(), e.getValue().value(), v);
            }
            return List.copyOf(missing);
        }
    }

    /** At most eight names, then how many more. */
    private static String sample(Set<String> names) {
        List<String> l = new ArrayList<>(names);
        if (l.size() <= 8) return l.toString();
        return l.subList(0, 8) + " and " + (l.size() - 8) + " more";
    }
}
