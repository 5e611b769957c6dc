package dev.soma.model;

import dev.soma.nn.Layer;
import dev.soma.nn.LayerRegistry;
import dev.soma.nn.Merge;
import dev.soma.tensor.DType;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A model's architecture as plain maps and lists (stored as JSON in checkpoints), and back: Sequential stacks,
 * functional graphs (inputs, layers, which layer each node applies to which tensors, outputs) and models nested
 * as layers, recursively. Layers are stored as {@link Layer#typeName()} and {@link Layer#config()} and rebuilt
 * through the {@link LayerRegistry}; a shared layer is stored once and referenced by its index.
 */
final class ModelArchitecture {
    static {
        // A nested model may sit inside a layer that rebuilds its inner layer through the registry (TimeDistributed).
        LayerRegistry.register("model", c -> new NestedModel(rebuild(mapOf(c.get("model"), "model"))));
    }

    private ModelArchitecture() {}

    static Map<String, Object> describe(Model model) {
        Map<String, Object> arch = new LinkedHashMap<>();
        arch.put("seed", Long.toString(model.seed));
        arch.put("dtype", model.dtype.name());
        if (model instanceof Sequential s) {
            arch.put("class", "Sequential");
            List<Layer> layers = s.layers();
            arch.put("input_shape", layers.isEmpty() ? null : layers.get(0).inputShape());
            arch.put("layers", layerConfigs(layers));
        } else if (model instanceof FunctionalModel f) {
            arch.put("class", "Functional");
            describeGraph(f, arch);
        } else {
            throw new UnsupportedOperationException("saving a " + model.getClass().getName() + " is not implemented: "
                    + "only Sequential and FunctionalModel (and models nested in them) are");
        }
        return arch;
    }

    private static List<Map<String, Object>> layerConfigs(List<Layer> layers) {
        List<Map<String, Object>> out = new ArrayList<>();
        for (Layer l : layers) {
            Map<String, Object> lc = new LinkedHashMap<>();
            lc.put("type", l.typeName());
            lc.put("config", l.config());
            out.add(lc);
        }
        return out;
    }

    private static void describeGraph(FunctionalModel f, Map<String, Object> arch) {
        Map<SymbolicTensor, String> refs = new IdentityHashMap<>();
        List<Map<String, Object>> inputs = new ArrayList<>();
        for (int i = 0; i < f.inputs().size(); i++) {
            Input in = f.inputs().get(i);
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", in.name());
            m.put("shape", in.shape());
            inputs.add(m);
            refs.put(in, "input:" + i);
        }
        List<Layer> layers = f.layers();
        Map<Layer, Integer> index = new IdentityHashMap<>();
        for (int i = 0; i < layers.size(); i++) index.put(layers.get(i), i);
        List<Map<String, Object>> nodes = new ArrayList<>();
        for (int k = 0; k < f.nodes().size(); k++) {
            LayerNode n = f.nodes().get(k);
            List<String> args = new ArrayList<>();
            for (SymbolicTensor t : n.inputs()) args.add(refs.get(t));
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("layer", index.get(n.layer()));
            m.put("inputs", args);
            nodes.add(m);
            // output 0 keeps the plain name (files of single-output graphs are unchanged); output j is "node:k:j"
            for (int j = 0; j < n.outputs().size(); j++) refs.put(n.outputs().get(j), j == 0 ? "node:" + k : "node:" + k + ":" + j);
        }
        List<Map<String, Object>> outputs = new ArrayList<>();
        for (SymbolicTensor o : f.outputs()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("tensor", refs.get(o));
            m.put("name", o.hasExplicitName() ? o.name() : null);
            outputs.add(m);
        }
        arch.put("inputs", inputs);
        arch.put("layers", layerConfigs(layers));
        arch.put("nodes", nodes);
        arch.put("outputs", outputs);
    }

    /** How deep models may nest in a file: a crafted file must not overflow the stack. */
    static final int MAX_NESTING = 32;
    private static final ThreadLocal<int[]> DEPTH = ThreadLocal.withInitial(() -> new int[1]);

    /** The model {@link #describe} described, built (parameters created, freshly initialised) on the CPU. */
    static Model rebuild(Map<String, Object> arch) {
        int[] depth = DEPTH.get();
        if (depth[0] >= MAX_NESTING) {
            throw new IllegalArgumentException("models are nested more than " + MAX_NESTING + " deep");
        }
        depth[0]++;
        try {
            String kind = String.valueOf(arch.get("class"));
            return switch (kind) {
                case "Sequential" -> rebuildSequential(arch);
                case "Functional" -> rebuildFunctional(arch);
                default -> throw new IllegalArgumentException("unknown model class '" + kind + "'");
            };
        } finally {
            depth[0]--;
        }
    }

    private static Sequential rebuildSequential(Map<String, Object> arch) {
        Sequential model = new Sequential();
        try {
            setCommon(model, arch);
            for (Layer l : rebuildLayers(arch)) model.add(l);
            if (arch.get("input_shape") != null) model.build(LayerRegistry.longsOf(arch, "input_shape"));
            return model;
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    private static FunctionalModel rebuildFunctional(Map<String, Object> arch) {
        List<Layer> layers = rebuildLayers(arch);
        try {
            List<Input> inputs = new ArrayList<>();
            Map<String, SymbolicTensor> refs = new LinkedHashMap<>();
            for (Map<String, Object> in : listOfMaps(arch.get("inputs"), "inputs")) {
                Input i = Input.of(LayerRegistry.longsOf(in, "shape")).named((String) in.get("name"));
                refs.put("input:" + inputs.size(), i);
                inputs.add(i);
            }
            List<Map<String, Object>> nodes = listOfMaps(arch.get("nodes"), "nodes");
            for (int k = 0; k < nodes.size(); k++) {
                Map<String, Object> n = nodes.get(k);
                Layer layer = layers.get(LayerRegistry.intOf(n, "layer"));
                List<SymbolicTensor> args = new ArrayList<>();
                for (Object r : (List<?>) n.get("inputs")) args.add(ref(refs, r));
                if (!(layer instanceof Merge) && args.size() != 1) {
                    throw new IllegalArgumentException("node " + k + " applies " + layer.typeName() + " to " + args.size() + " inputs");
                }
                if (layer.outputCount() > 1) {
                    List<SymbolicTensor> outs = SymbolicTensor.applyAll(layer, args.toArray(SymbolicTensor[]::new));
                    for (int j = 0; j < outs.size(); j++) refs.put(j == 0 ? "node:" + k : "node:" + k + ":" + j, outs.get(j));
                } else {
                    refs.put("node:" + k, SymbolicTensor.apply(layer, args.toArray(SymbolicTensor[]::new)));
                }
            }
            List<SymbolicTensor> outputs = new ArrayList<>();
            for (Map<String, Object> o : listOfMaps(arch.get("outputs"), "outputs")) {
                SymbolicTensor t = ref(refs, o.get("tensor"));
                if (o.get("name") != null) t.named((String) o.get("name"));
                outputs.add(t);
            }
            FunctionalModel model = new FunctionalModel(inputs, outputs);
            setCommon(model, arch);
            if (model.layers().size() != layers.size()) {
                throw new IllegalArgumentException(layers.size() + " layers are stored but the graph uses "
                        + model.layers().size());
            }
            model.build();
            return model;
        } catch (RuntimeException e) {
            for (Layer l : layers) l.close();
            throw e;
        }
    }

    private static SymbolicTensor ref(Map<String, SymbolicTensor> refs, Object r) {
        SymbolicTensor t = refs.get(String.valueOf(r));
        if (t == null) throw new IllegalArgumentException("the graph refers to '" + r + "', which comes later or does not exist");
        return t;
    }

    private static void setCommon(Model model, Map<String, Object> arch) {
        model.seed(Long.parseLong((String) arch.get("seed")));
        // Checkpoints from before the dtype was stored are F32.
        model.dtype = arch.get("dtype") == null ? DType.F32 : DType.valueOf((String) arch.get("dtype"));
    }

    private static List<Layer> rebuildLayers(Map<String, Object> arch) {
        List<Layer> out = new ArrayList<>();
        try {
            for (Map<String, Object> lc : listOfMaps(arch.get("layers"), "layers")) {
                out.add(LayerRegistry.create((String) lc.get("type"), mapOf(lc.get("config"), "config")));
            }
            return out;
        } catch (RuntimeException e) {
            for (Layer l : out) l.close();
            throw e;
        }
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> listOfMaps(Object o, String what) {
        if (!(o instanceof List<?> l)) throw new IllegalArgumentException("'" + what + "' is missing or not a list");
        for (Object x : l) if (!(x instanceof Map)) throw new IllegalArgumentException("'" + what + "' holds a non-object");
        return (List<Map<String, Object>>) o;
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> mapOf(Object o, String what) {
        if (!(o instanceof Map)) throw new IllegalArgumentException("'" + what + "' is missing or not an object");
        return (Map<String, Object>) o;
    }
}
