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
import dev.soma.nn.Weights;
import dev.soma.optim.Adam;
import dev.soma.optim.LearningRateSchedule;
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
 * architecture (Sequential, functional graphs, nested models; see {@link ModelArchitecture}), the compile
 * arguments, the optimizer's configuration, schedule and step count, the layers' random-stream state and the
 * epochs trained with their logged history. Written atomically (temp file, fsync, rename). Loading a checkpoint
 * and training on gives the same weights and losses, bit for bit on the CPU, as never having stopped.
 *
 * <p>Checkpoints are device-independent: a model on a CUDA device is saved with its values read back to the host
 * (the same file as on the CPU), and loading always yields a model on the CPU; {@link #load(Path, Device)} (or
 * {@code model.to(device)}) then moves it.
 */
public final class Checkpoint {
    static final Gson GSON = new GsonBuilder().serializeSpecialFloatingPointValues().create();
    static final Type MAP = new TypeToken<Map<String, Object>>() {}.getType();
    static final String FORMAT = "soma-checkpoint-1";
    /** A file of {@link #saveParts}: several models and their optimizers (a GAN's training state). */
    static final String PARTS_FORMAT = "soma-training-state-1";
    static final String CHECKSUM_KEY = "data_crc32c";
    /** Marks an optimizer whose schedule was a lambda: it cannot be stored, so training must set it again. */
    private static final String CUSTOM_SCHEDULE = "custom";
    /** Tensor names of EarlyStopping's kept best weights, one per param in order. */
    private static final String BEST_WEIGHTS = "best_weights/";

    private Checkpoint() {}

    /** Writes {@code model} (any Sequential or functional model, nested models included) to {@code file}. */
    public static void save(Model model, Path file) throws IOException {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", FORMAT);
        entries(model, model.optimizer(), tensors, meta);
        meta.put(CHECKSUM_KEY, checksum(tensors));
        Safetensors.write(file, tensors, meta);
    }

    /** One model of a training state with several (a GAN's generator or critic) and the optimizer that trains it. */
    public record Part(String name, Model model, Optimizer optimizer) {
        public Part {
            if (name == null || name.isEmpty() || name.contains("/")) {
                throw new IllegalArgumentException("Checkpoint.Part: the name must be non-empty and without '/', got " + name);
            }
        }
    }

    /**
     * Writes several models, each with its own optimizer (state, step count, schedule), into one file, atomically,
     * so they can never be out of step with each other; {@code extra} is stored as metadata for the caller's own
     * state (a trainer's random stream, its epoch). Each part's entries are those of {@link #save} under
     * "&lt;name&gt;/".
     */
    public static void saveParts(Path file, List<Part> parts, Map<String, String> extra) throws IOException {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", PARTS_FORMAT);
        for (Part part : parts) {
            Map<String, Tensor> t = new LinkedHashMap<>();
            Map<String, String> m = new LinkedHashMap<>();
            entries(part.model(), part.optimizer(), t, m);
            t.forEach((k, v) -> tensors.put(part.name() + "/" + k, v));
            m.forEach((k, v) -> meta.put(part.name() + "/" + k, v));
        }
        extra.forEach((k, v) -> {
            if (meta.containsKey(k) || k.equals(CHECKSUM_KEY)) {
                throw new IllegalArgumentException("Checkpoint.saveParts: extra metadata key '" + k + "' is taken");
            }
            meta.put(k, v);
        });
        meta.put(CHECKSUM_KEY, checksum(tensors));
        Safetensors.write(file, tensors, meta);
    }

    /**
     * Restores a file of {@link #saveParts} into existing models of the same architectures and their optimizers
     * (weights, optimizer state, step count and learning rate or built-in schedule, random streams, epochs and
     * history of each) and returns the whole metadata, where the caller finds its {@code extra} entries.
     */
    public static Map<String, String> restoreParts(Path file, List<Part> parts) throws IOException {
        try (Scope scope = Scope.open()) {
            Safetensors.Loaded loaded = Safetensors.read(file);
            Map<String, String> meta = loaded.metadata();
            if (!PARTS_FORMAT.equals(meta.get("format"))) {
                throw new SomaException("checkpoint " + file + ": not a Soma training state of several models (format '"
                        + meta.get("format") + "', expected '" + PARTS_FORMAT + "')");
            }
            verifyChecksum(file, loaded);
            try {
                for (Part part : parts) {
                    String prefix = part.name() + "/";
                    Map<String, Tensor> t = new LinkedHashMap<>();
                    loaded.tensors().forEach((k, v) -> { if (k.startsWith(prefix)) t.put(k.substring(prefix.length()), v); });
                    Map<String, String> m = new LinkedHashMap<>();
                    meta.forEach((k, v) -> { if (k.startsWith(prefix)) m.put(k.substring(prefix.length()), v); });
                    if (m.get("model") == null) {
                        throw new SomaException("checkpoint " + file + ": holds no model '" + part.name() + "'");
                    }
                    Safetensors.Loaded one = new Safetensors.Loaded(t, m);
                    Map<String, Object> arch = GSON.fromJson(m.get("model"), MAP);
                    checkSameArchitecture(part.model(), file, arch);
                    buildLike(part.model(), arch);
                    fillWeights(part.model(), file, one, m);
                    if (!m.containsKey("optimizer")) {
                        throw new SomaException("checkpoint " + file + ": holds no optimizer state for '" + part.name() + "'");
                    }
                    Map<String, Object> oc = GSON.fromJson(m.get("optimizer"), MAP);
                    if (!part.optimizer().name().equals(oc.get("name"))) {
                        throw new SomaException("checkpoint " + file + ": '" + part.name() + "' was trained with optimizer '"
                                + oc.get("name") + "', not '" + part.optimizer().name() + "'");
                    }
                    restoreOptimizer(part.model(), part.optimizer(), file, one, m);
                    restoreSchedule(part.optimizer(), oc);
                    restoreTraining(part.model(), m);
                    restoreBestWeights(part.model(), file, one, m);
                }
                return meta;
            } catch (JsonParseException | ClassCastException | NullPointerException e) {
                String why = String.valueOf(e.getMessage()).lines().findFirst().orElse("");
                throw new CorruptFileException(file, "the checkpoint's metadata is malformed (" + why + ")", e);
            }
        }
    }

    /** A model's entries (weights, architecture, random streams, training, compile) and {@code opt}'s state. */
    private static void entries(Model model, Optimizer opt, Map<String, Tensor> tensors, Map<String, String> meta) {
        // A functional model knows its input shapes: build it, so its weights are saved rather than re-drawn on load.
        if (model instanceof FunctionalModel f) f.build();
        List<Layer> layers = model.layers();
        Map<String, Object> randomState = new LinkedHashMap<>();
        List<String> frozen = new ArrayList<>();
        for (int i = 0; i < layers.size(); i++) {
            Layer l = layers.get(i);
            for (Param p : l.params()) {
                String key = "weights/" + i + "/" + LayerNames.weightName(p);
                tensors.put(key, p.value());
                if (!p.trainable()) frozen.add(key);
            }
            Map<String, String> rs = new LinkedHashMap<>();
            // Strings: a JSON number would lose the low bits of a 64-bit seed.
            l.randomState().forEach((k, v) -> rs.put(k, Long.toString(v)));
            if (!rs.isEmpty()) randomState.put(Integer.toString(i), rs);
        }
        // Non-trainable weights (frozen layers, BatchNormalization's statistics): the optimizer state holds slots for the
        // trainable ones only, so a loaded model must freeze the same weights before its optimizer state is restored.
        meta.put("frozen", GSON.toJson(frozen));
        meta.put("model", GSON.toJson(ModelArchitecture.describe(model)));
        if (!randomState.isEmpty()) meta.put("random_state", GSON.toJson(randomState));
        Map<String, Object> training = new LinkedHashMap<>();
        training.put("epochs", model.completedEpochs);
        Map<String, List<String>> history = new LinkedHashMap<>();
        // Strings: Double.toString reads back to the same bits, NaN and infinities included.
        model.history.all().forEach((k, v) -> history.put(k, v.stream().map(d -> Double.toString(d)).toList()));
        training.put("history", history);
        if (model.bestWeights != null) {
            // EarlyStopping's copies of its best epoch's weights: a resumed fit can still restore them.
            training.put("best_weights_epoch", model.bestWeightsEpoch);
            for (int i = 0; i < model.bestWeights.size(); i++) tensors.put(BEST_WEIGHTS + i, model.bestWeights.get(i));
        }
        if (model.privacyState != null) {
            // DP-SGD's accountant, so a resumed run continues its ε sequence (strings: exact doubles).
            var ps = model.privacyState;
            Map<String, Object> privacy = new LinkedHashMap<>();
            privacy.put("steps", Long.toString(ps.steps()));
            privacy.put("unbounded", ps.unbounded());
            privacy.put("orders", java.util.Arrays.stream(ps.orders()).mapToObj(Double::toString).toList());
            privacy.put("rdp", java.util.Arrays.stream(ps.rdp()).mapToObj(Double::toString).toList());
            training.put("privacy", privacy);
        }
        meta.put("training", GSON.toJson(training));
        if (model.loss() != null) {
            Map<String, Object> compile = new LinkedHashMap<>();
            compile.put("loss", model.loss().name());
            List<String> metricNames = new ArrayList<>();
            for (Metric m : model.metrics()) metricNames.add(m.name());
            compile.put("metrics", metricNames);
            List<String> losses = new ArrayList<>();
            List<Map<String, Object>> lossConfigs = new ArrayList<>();
            for (Loss l : model.losses()) {
                losses.add(l.name());
                lossConfigs.add(l.config()); // label smoothing: without it a restored loss would silently differ
            }
            compile.put("losses", losses);
            compile.put("loss_configs", lossConfigs);
            compile.put("loss_weights", model.lossWeights());
            compile.put("metrics_per_output", model.compiledMetricNames());
            meta.put("compile", GSON.toJson(compile));
        }
        if (opt != null) {
            Map<String, Object> oc = new LinkedHashMap<>();
            oc.put("name", opt.name());
            oc.put("config", opt.config());
            oc.put("iterations", Long.toString(opt.iterations()));
            Map<String, Object> schedule = opt.schedule().config();
            oc.put("schedule", schedule == null ? CUSTOM_SCHEDULE : schedule);
            oc.put("clip_value", opt.clipValue());
            oc.put("global_clip_norm", opt.globalClipNorm());
            meta.put("optimizer", GSON.toJson(oc));
            opt.stateTensors(model.trainableTensors()).forEach((k, v) -> tensors.put("optimizer/" + k, v));
        }
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
        return onDevice(load(file), device);
    }

    /** As {@link #loadModel(Path)}, then moves the model (weights and optimizer state) to {@code device}. */
    public static Model loadModel(Path file, Device device) throws IOException {
        return onDevice(loadModel(file), device);
    }

    private static <M extends Model> M onDevice(M model, Device device) {
        try {
            model.to(device);
            return model;
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    /** Loads a checkpoint that holds a Sequential model; see {@link #loadModel(Path)}. The caller closes it. */
    public static Sequential load(Path file) throws IOException {
        Model m = loadModel(file);
        if (m instanceof Sequential s) return s;
        m.close();
        throw new SomaException("checkpoint " + file + ": holds a " + m.getClass().getSimpleName()
                + ", not a Sequential model; load it with Checkpoint.loadModel or " + m.getClass().getSimpleName() + ".load");
    }

    /**
     * Rebuilds (Sequential, functional, nested), compiles (when the file says how) and fills a model from a
     * checkpoint, on the CPU, with its optimizer state, random-stream state, epoch count and history. The caller
     * closes it.
     */
    public static Model loadModel(Path file) throws IOException {
        try (Scope scope = Scope.open()) {
            Safetensors.Loaded loaded = read(file);
            Map<String, String> meta = loaded.metadata();
            Model model = null;
            try {
                model = ModelArchitecture.rebuild(GSON.fromJson(meta.get("model"), MAP));
                fillWeights(model, file, loaded, meta);
                compileFromFile(model, meta);
                if (model.optimizer() != null) restoreOptimizer(model, file, loaded, meta);
                restoreTraining(model, meta);
                restoreBestWeights(model, file, loaded, meta);
                return model;
            } catch (JsonParseException | ClassCastException | NullPointerException | IllegalArgumentException e) {
                if (model != null) model.close();
                String why = String.valueOf(e.getMessage()).lines().findFirst().orElse("");
                throw new CorruptFileException(file, "the checkpoint's metadata is malformed (" + why + ")", e);
            } catch (RuntimeException e) {
                if (model != null) model.close();
                throw e;
            }
        }
    }

    /**
     * Continues training from a checkpoint in an existing, compiled model of the same architecture (a freshly built
     * one, say): copies the weights, the optimizer's state, step count and learning rate or built-in schedule (a
     * lambda schedule stays the model's own and continues from the saved step), the layers' random-stream state, the
     * epoch count and the history. {@code fit(data, options.resumeFrom(file))} calls this. Returns the number of
     * epochs already trained.
     */
    public static int restore(Model model, Path file) throws IOException {
        if (model.optimizer() == null) {
            throw new IllegalStateException("Checkpoint.restore: compile the model first (the checkpoint's optimizer "
                    + "state is loaded into the model's optimizer)");
        }
        try (Scope scope = Scope.open()) {
            Safetensors.Loaded loaded = read(file);
            Map<String, String> meta = loaded.metadata();
            try {
                Map<String, Object> arch = GSON.fromJson(meta.get("model"), MAP);
                checkSameArchitecture(model, file, arch);
                buildLike(model, arch);
                fillWeights(model, file, loaded, meta);
                if (!meta.containsKey("optimizer")) {
                    throw new SomaException("checkpoint " + file + ": holds no optimizer state to resume from");
                }
                Map<String, Object> oc = GSON.fromJson(meta.get("optimizer"), MAP);
                if (!model.optimizer().name().equals(oc.get("name"))) {
                    throw new SomaException("checkpoint " + file + ": was trained with optimizer '" + oc.get("name")
                            + "', the model is compiled with '" + model.optimizer().name() + "'");
                }
                restoreOptimizer(model, file, loaded, meta);
                restoreSchedule(model.optimizer(), oc);
                restoreTraining(model, meta);
                restoreBestWeights(model, file, loaded, meta);
                return model.completedEpochs;
            } catch (JsonParseException | ClassCastException | NullPointerException e) {
                String why = String.valueOf(e.getMessage()).lines().findFirst().orElse("");
                throw new CorruptFileException(file, "the checkpoint's metadata is malformed (" + why + ")", e);
            }
        }
    }

    /** Reads and checks the file: Soma's format, the checksum, an architecture entry. */
    private static Safetensors.Loaded read(Path file) throws IOException {
        Safetensors.Loaded loaded = Safetensors.read(file);
        Map<String, String> meta = loaded.metadata();
        if (!FORMAT.equals(meta.get("format"))) {
            throw new SomaException("checkpoint " + file + ": not a Soma checkpoint (format '" + meta.get("format")
                    + "', expected '" + FORMAT + "')");
        }
        verifyChecksum(file, loaded);
        if (meta.get("model") == null) throw new CorruptFileException(file, "the metadata has no 'model' entry");
        return loaded;
    }

    private static void verifyChecksum(Path file, Safetensors.Loaded loaded) {
        String stored = loaded.metadata().get(CHECKSUM_KEY);
        if (stored != null && !stored.equals(checksum(loaded.tensors()))) {
            throw new CorruptFileException(file, "the tensor data does not match its checksum (stored " + stored
                    + ", computed " + checksum(loaded.tensors()) + "): the file is corrupted");
        }
    }

    /** The model's layer types must be the stored ones, in order (weights are matched by layer index). */
    private static void checkSameArchitecture(Model model, Path file, Map<String, Object> arch) {
        List<String> stored = new ArrayList<>();
        for (Object lc : (List<?>) arch.get("layers")) stored.add(String.valueOf(((Map<?, ?>) lc).get("type")));
        List<String> have = new ArrayList<>();
        for (Layer l : model.layers()) have.add(l.typeName());
        if (!stored.equals(have)) {
            throw new SomaException("checkpoint " + file + ": was written by a model with layers " + stored
                    + ", not this one's " + have);
        }
    }

    /** A model not built yet (a fresh one) is built for the saved input shape, so its weights exist to be filled. */
    private static void buildLike(Model model, Map<String, Object> arch) {
        boolean built = true;
        for (Layer l : model.layers()) built &= l.isBuilt() || l instanceof dev.soma.nn.Merge;
        if (built) return;
        if (model instanceof FunctionalModel f) {
            f.build();
        } else if (arch.get("input_shape") != null) {
            model.build(LayerRegistry.longsOf(arch, "input_shape"));
        }
    }

    /** Copies every weight (checked by name, shape and dtype) and each layer's random-stream state. */
    private static void fillWeights(Model model, Path file, Safetensors.Loaded loaded, Map<String, String> meta) {
        List<Layer> layers = model.layers();
        for (int i = 0; i < layers.size(); i++) {
            for (Param p : layers.get(i).params()) {
                String key = "weights/" + i + "/" + LayerNames.weightName(p);
                Tensor saved = loaded.tensors().get(key);
                if (saved == null) throw new SomaException("checkpoint " + file + ": weight '" + key + "' is missing");
                dev.soma.ops.Check.sameShape("checkpoint " + file + ": load of " + key, p.value(), saved);
                Weights.assign("checkpoint " + file + ": load of " + key, p.value(), saved);
            }
        }
        if (meta.containsKey("frozen")) { // older files: every weight trainable as built
            java.util.Set<String> frozen = new java.util.HashSet<>(GSON.fromJson(meta.get("frozen"), List.class));
            for (int i = 0; i < layers.size(); i++) {
                for (Param p : layers.get(i).params()) {
                    if (p.trainable() && frozen.contains("weights/" + i + "/" + LayerNames.weightName(p))) p.setTrainable(false);
                }
            }
        }
        if (meta.containsKey("random_state")) {
            Map<String, Object> rs = GSON.fromJson(meta.get("random_state"), MAP);
            for (Map.Entry<String, Object> e : rs.entrySet()) {
                int i = Integer.parseInt(e.getKey());
                if (i < 0 || i >= layers.size()) throw new IllegalArgumentException("random state of layer " + i + " of " + layers.size());
                Map<String, Long> state = new LinkedHashMap<>();
                ModelArchitecture.mapOf(e.getValue(), "random_state").forEach((k, v) -> state.put(k, Long.parseLong((String) v)));
                layers.get(i).restoreRandomState(state);
            }
        }
    }

    /** Compiles with the stored optimizer, losses and metrics; a model with a loss Soma cannot name stays uncompiled. */
    private static void compileFromFile(Model model, Map<String, String> meta) {
        if (!meta.containsKey("optimizer") || !meta.containsKey("compile")) return;
        Map<String, Object> oc = GSON.fromJson(meta.get("optimizer"), MAP);
        Map<String, Object> compile = GSON.fromJson(meta.get("compile"), MAP);
        List<Loss> losses = storedLosses(compile);
        if (losses == null) return; // a loss of the user's own: only its name was stored
        Optimizer opt = optimizer(oc);
        try {
            if (compile.containsKey("losses")) {
                List<Double> weights = new ArrayList<>();
                for (Object w : (List<?>) compile.get("loss_weights")) weights.add(((Number) w).doubleValue());
                List<List<String>> metrics = new ArrayList<>();
                for (Object ms : (List<?>) compile.get("metrics_per_output")) {
                    List<String> names = new ArrayList<>();
                    for (Object m : (List<?>) ms) names.add((String) m);
                    metrics.add(names);
                }
                model.compile(opt, losses, weights, metrics);
            } else { // checkpoints written before multi-output compile was stored
                @SuppressWarnings("unchecked")
                List<String> metricNames = (List<String>) compile.get("metrics");
                model.compile(opt, losses.get(0), metricNames.toArray(String[]::new));
            }
        } catch (RuntimeException e) {
            opt.close();
            throw e;
        }
    }

    /** The stored losses with their settings; null when one of them is not built in (a loss of the user's own). */
    private static List<Loss> storedLosses(Map<String, Object> compile) {
        List<?> names = compile.containsKey("losses") ? (List<?>) compile.get("losses") : List.of(compile.get("loss"));
        List<?> configs = (List<?>) compile.get("loss_configs"); // absent in older checkpoints
        if (configs != null && configs.size() != names.size()) {
            throw new IllegalArgumentException("loss_configs holds " + configs.size() + " entries for " + names.size()
                    + " losses");
        }
        List<Loss> losses = new ArrayList<>();
        for (int i = 0; i < names.size(); i++) {
            Loss builtIn;
            try {
                builtIn = Loss.byName((String) names.get(i));
            } catch (IllegalArgumentException unknownName) {
                return null;
            }
            @SuppressWarnings("unchecked")
            Map<String, ?> config = configs == null ? Map.of() : (Map<String, ?>) configs.get(i);
            losses.add(LabelSmoothedLoss.configured(builtIn, config));
        }
        return losses;
    }

    private static void restoreOptimizer(Model model, Path file, Safetensors.Loaded loaded, Map<String, String> meta) {
        restoreOptimizer(model, model.optimizer(), file, loaded, meta);
    }

    private static void restoreOptimizer(Model model, Optimizer opt, Path file, Safetensors.Loaded loaded,
                                         Map<String, String> meta) {
        Map<String, Object> oc = GSON.fromJson(meta.get("optimizer"), MAP);
        opt.setIterations(Long.parseLong((String) oc.get("iterations")));
        Map<String, Tensor> state = new LinkedHashMap<>();
        loaded.tensors().forEach((k, v) -> {
            // The file's tensors are on the CPU; a model resumed on another device gets its state there.
            if (!k.startsWith("optimizer/")) return;
            state.put(k.substring("optimizer/".length()), v.device().equals(model.device()) ? v : v.to(model.device()));
        });
        opt.loadStateTensors(model.trainableTensors(), state);
    }

    /**
     * The learning rate or built-in schedule the saved run was at (a LearningRateScheduler may have changed the
     * compiled one), as PyTorch's {@code optimizer.load_state_dict} restores each group's rate; a schedule written as
     * a lambda, which the file cannot hold, stays the model's own.
     */
    private static void restoreSchedule(Optimizer opt, Map<String, Object> oc) {
        Object schedule = oc.get("schedule");
        if (schedule != null && !CUSTOM_SCHEDULE.equals(schedule)) {
            opt.schedule(LearningRateSchedule.fromConfig(ModelArchitecture.mapOf(schedule, "schedule")));
        }
    }

    /** The epoch count and history, so that fit continues where the saved run stopped. */
    private static void restoreTraining(Model model, Map<String, String> meta) {
        History history = new History();
        int epochs = 0;
        if (meta.containsKey("training")) {
            Map<String, Object> t = GSON.fromJson(meta.get("training"), MAP);
            epochs = LayerRegistry.intOf(t, "epochs");
            Map<String, Object> h = ModelArchitecture.mapOf(t.get("history"), "history");
            List<Map<String, Double>> rows = new ArrayList<>();
            for (Map.Entry<String, Object> e : h.entrySet()) {
                List<?> values = (List<?>) e.getValue();
                for (int i = 0; i < values.size(); i++) {
                    while (rows.size() <= i) rows.add(new LinkedHashMap<>());
                    rows.get(i).put(e.getKey(), Double.parseDouble((String) values.get(i)));
                }
            }
            for (Map<String, Double> row : rows) history.record(row);
        }
        model.completedEpochs = epochs;
        model.history = history;
        model.privacyState = null;
        if (meta.containsKey("training")) {
            Map<String, Object> t = GSON.fromJson(meta.get("training"), MAP);
            if (t.get("privacy") != null) {
                Map<String, Object> p = ModelArchitecture.mapOf(t.get("privacy"), "privacy");
                model.privacyState = new dev.soma.privacy.PrivateStep.AccountantState(
                        Long.parseLong((String) p.get("steps")), (Boolean) p.get("unbounded"),
                        doubles(p.get("orders")), doubles(p.get("rdp")));
            }
        }
    }

    private static double[] doubles(Object list) {
        List<?> l = (List<?>) list;
        double[] out = new double[l.size()];
        for (int i = 0; i < out.length; i++) out[i] = Double.parseDouble((String) l.get(i));
        return out;
    }

    /** EarlyStopping's kept best weights, when the file has them: copies the model owns, on its device. */
    private static void restoreBestWeights(Model model, Path file, Safetensors.Loaded loaded, Map<String, String> meta) {
        model.dropBestWeights();
        if (!meta.containsKey("training")) return;
        Map<String, Object> t = GSON.fromJson(meta.get("training"), MAP);
        if (t.get("best_weights_epoch") == null) return;
        List<Param> params = model.params();
        List<Tensor> copies = new ArrayList<>();
        try {
            for (int i = 0; i < params.size(); i++) {
                Tensor saved = loaded.tensors().get(BEST_WEIGHTS + i);
                if (saved == null) throw new SomaException("checkpoint " + file + ": best weight '" + BEST_WEIGHTS + i + "' is missing");
                Tensor p = params.get(i).value();
                dev.soma.ops.Check.sameShape("checkpoint " + file + ": load of " + BEST_WEIGHTS + i, p, saved);
                Tensor copy = Tensor.empty(p.dtype(), p.device(), p.shape()).keep();
                copies.add(copy);
                Weights.assign("checkpoint " + file + ": load of " + BEST_WEIGHTS + i, copy, saved);
            }
        } catch (RuntimeException e) {
            for (Tensor c : copies) c.close();
            throw e;
        }
        model.keepBestWeights(LayerRegistry.intOf(t, "best_weights_epoch"), copies);
    }

    private static Optimizer optimizer(Map<String, Object> oc) {
        Optimizer opt = newOptimizer(oc);
        Object schedule = oc.get("schedule");
        if (CUSTOM_SCHEDULE.equals(schedule)) {
            opt.schedule(step -> {
                throw new IllegalStateException("the checkpoint's optimizer used a learning-rate schedule written as a "
                        + "lambda, which cannot be saved; set it again with optimizer().schedule(...) before training");
            });
        } else if (schedule != null) {
            opt.schedule(LearningRateSchedule.fromConfig(ModelArchitecture.mapOf(schedule, "schedule")));
        }
        if (oc.get("clip_value") != null) opt.clipValue(LayerRegistry.numOf(oc, "clip_value"));
        if (oc.get("global_clip_norm") != null) opt.globalClipNorm(LayerRegistry.numOf(oc, "global_clip_norm"));
        return opt;
    }

    private static Optimizer newOptimizer(Map<String, Object> oc) {
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
