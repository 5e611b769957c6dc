package dev.soma.model;

import dev.soma.errors.ShapeException;
import dev.soma.nn.Conv2D;
import dev.soma.nn.FoldableActivation;
import dev.soma.nn.Layer;
import dev.soma.nn.MaxPooling2D;
import dev.soma.nn.Merge;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * A model given as a graph of layer applications from {@link Input}s to outputs, as Keras' functional API;
 * several inputs and outputs, shared layers (one layer applied twice keeps one set of weights) and merge
 * layers. The graph is validated and put in topological order once, here; each batch then runs the nodes in
 * that order. Parameters are created on first use (or {@link #build}), so {@link #seed} and {@link #dtype}
 * apply when called right after construction.
 * <pre>{@code
 * Input a = Input.of(4).named("a"), b = Input.of(3).named("b");
 * SymbolicTensor h = SymbolicTensor.apply(new Concatenate(), a.then(new Dense(8, "relu")), b.then(new Dense(8, "relu")));
 * FunctionalModel m = new FunctionalModel(List.of(a, b), List.of(h.then(new Dense(3, "softmax"))));
 * }</pre>
 */
public class FunctionalModel extends Model {
    private final List<Input> inputs;
    private final List<SymbolicTensor> outputs;
    private final List<String> outputNames;
    /** Every layer application, in an order where each node's inputs come before it. */
    private final List<LayerNode> order;
    /** Distinct layers in order of first application. */
    private final List<Layer> layers;
    /** Slot of each symbolic tensor in the per-batch value array. */
    private final Map<SymbolicTensor, Integer> slots = new IdentityHashMap<>();
    private final int[][] nodeInputSlots;
    /** Per node, the slot of each of its outputs (several for an RNN with returnState). */
    private final int[][] nodeOutputSlots;
    private final int[] outputSlots;
    /** Per output: its layer when nothing else reads that output, so its final activation may be folded. */
    private final Layer[] foldableOutputLayers;
    /**
     * Per node, the index of the MaxPooling2D node that alone reads this Conv2D node's output (not a model output),
     * or -1: the pair may run as one op (ops.ConvolutionPooling), as in a Sequential.
     */
    private final int[] pooledBy;
    private boolean built;

    public FunctionalModel(List<Input> inputs, List<? extends SymbolicTensor> outputs) {
        if (inputs == null || inputs.isEmpty()) throw new IllegalArgumentException("FunctionalModel: no inputs given");
        if (outputs == null || outputs.isEmpty()) throw new IllegalArgumentException("FunctionalModel: no outputs given");
        this.inputs = List.copyOf(inputs);
        this.outputs = List.copyOf(outputs);
        Set<SymbolicTensor> inputSet = Collections.newSetFromMap(new IdentityHashMap<>());
        for (Input in : this.inputs) {
            if (!inputSet.add(in)) throw new IllegalArgumentException("FunctionalModel: input '" + in.name() + "' is given twice");
        }
        this.order = topologicalOrder(inputSet);
        checkEveryInputIsUsed();
        this.layers = distinctLayers(order);
        checkSharedLayers();
        this.outputNames = namesOf(this.outputs);
        checkUniqueNames();

        for (Input in : this.inputs) slots.put(in, slots.size());
        nodeInputSlots = new int[order.size()][];
        nodeOutputSlots = new int[order.size()][];
        Map<SymbolicTensor, Integer> readers = new IdentityHashMap<>();
        for (int k = 0; k < order.size(); k++) {
            LayerNode node = order.get(k);
            nodeInputSlots[k] = node.inputs().stream().mapToInt(slots::get).toArray();
            for (SymbolicTensor t : node.inputs()) readers.merge(t, 1, Integer::sum);
            nodeOutputSlots[k] = new int[node.outputs().size()];
            for (int j = 0; j < node.outputs().size(); j++) {
                slots.put(node.outputs().get(j), slots.size());
                nodeOutputSlots[k][j] = slots.get(node.outputs().get(j));
            }
        }
        outputSlots = this.outputs.stream().mapToInt(slots::get).toArray();
        pooledBy = convolutionsPooledAlone(readers);
        foldableOutputLayers = new Layer[this.outputs.size()];
        for (int i = 0; i < this.outputs.size(); i++) {
            SymbolicTensor out = this.outputs.get(i);
            boolean onlyHere = !readers.containsKey(out) && this.outputs.stream().filter(o -> o == out).count() == 1;
            if (out.producer() != null && onlyHere && out.producer().outputs().size() == 1) {
                foldableOutputLayers[i] = out.producer().layer();
            }
        }
    }

    /** {@link #pooledBy}, from how many nodes read each symbolic tensor. */
    private int[] convolutionsPooledAlone(Map<SymbolicTensor, Integer> readers) {
        int[] pooled = new int[order.size()];
        Arrays.fill(pooled, -1);
        Map<SymbolicTensor, Integer> producerOf = new IdentityHashMap<>();
        for (int k = 0; k < order.size(); k++) {
            LayerNode node = order.get(k);
            if (node.layer() instanceof Conv2D && node.outputs().size() == 1) producerOf.put(node.outputs().get(0), k);
        }
        for (int k = 0; k < order.size(); k++) {
            LayerNode node = order.get(k);
            if (!(node.layer() instanceof MaxPooling2D) || node.inputs().size() != 1) continue;
            SymbolicTensor z = node.inputs().get(0);
            Integer conv = producerOf.get(z);
            boolean output = this.outputs.stream().anyMatch(o -> o == z);
            if (conv != null && readers.getOrDefault(z, 0) == 1 && !output) pooled[conv] = k;
        }
        return pooled;
    }

    // ------------------------------------------------------------------ graph validation

    /** Depth-first from the outputs; every path must end at one of the model's inputs. */
    private List<LayerNode> topologicalOrder(Set<SymbolicTensor> inputSet) {
        List<LayerNode> out = new ArrayList<>();
        Set<SymbolicTensor> done = Collections.newSetFromMap(new IdentityHashMap<>());
        Set<LayerNode> added = Collections.newSetFromMap(new IdentityHashMap<>());
        for (int i = 0; i < outputs.size(); i++) {
            SymbolicTensor o = outputs.get(i);
            if (o == null) throw new IllegalArgumentException("FunctionalModel: output " + i + " is null");
            visit(o, inputSet, done, added, out, "output " + i + " ('" + o.name() + "')");
        }
        return out;
    }

    private void visit(SymbolicTensor t, Set<SymbolicTensor> inputSet, Set<SymbolicTensor> done, Set<LayerNode> added,
                       List<LayerNode> out, String output) {
        // Iterative post-order, so deep graphs cannot overflow the stack.
        List<SymbolicTensor> stack = new ArrayList<>();
        List<Integer> next = new ArrayList<>();
        stack.add(t);
        next.add(0);
        while (!stack.isEmpty()) {
            int top = stack.size() - 1;
            SymbolicTensor s = stack.get(top);
            if (done.contains(s)) {
                stack.remove(top);
                next.remove(top);
                continue;
            }
            if (s.producer() == null) {
                if (!inputSet.contains(s)) {
                    throw new IllegalArgumentException("FunctionalModel: " + output + " is not connected to the model's "
                            + "inputs: it depends on input '" + s.name() + "' " + Arrays.toString(s.shape())
                            + ", which is not among the inputs given (" + SymbolicTensor.describe(List.copyOf(inputs)) + ")");
                }
                done.add(s);
                continue;
            }
            List<SymbolicTensor> ins = s.producer().inputs();
            int k = next.get(top);
            if (k < ins.size()) {
                next.set(top, k + 1);
                stack.add(ins.get(k));
                next.add(0);
            } else {
                done.add(s);
                if (added.add(s.producer())) out.add(s.producer()); // a node with several outputs runs once
                stack.remove(top);
                next.remove(top);
            }
        }
    }

    private void checkEveryInputIsUsed() {
        Set<SymbolicTensor> used = Collections.newSetFromMap(new IdentityHashMap<>());
        for (LayerNode n : order) used.addAll(n.inputs());
        used.addAll(outputs);
        for (Input in : inputs) {
            if (!used.contains(in)) {
                throw new IllegalArgumentException("FunctionalModel: input '" + in.name() + "' " + Arrays.toString(in.shape())
                        + " is not connected to any output");
            }
        }
    }

    private static List<Layer> distinctLayers(List<LayerNode> order) {
        Set<Layer> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        List<Layer> out = new ArrayList<>();
        for (LayerNode n : order) if (seen.add(n.layer())) out.add(n.layer());
        return out;
    }

    /** A shared layer with weights has one input shape: every application must feed it that shape. */
    private void checkSharedLayers() {
        Map<Layer, LayerNode> first = new IdentityHashMap<>();
        for (LayerNode n : order) {
            if (n.layer() instanceof Merge) continue;
            LayerNode f = first.putIfAbsent(n.layer(), n);
            if (f != null && !Arrays.equals(f.inputs().get(0).shape(), n.inputs().get(0).shape())) {
                throw new ShapeException("FunctionalModel: layer " + n.layer().name() + " is shared by applications with "
                        + "different input shapes: " + SymbolicTensor.describe(f.inputs()) + " and "
                        + SymbolicTensor.describe(n.inputs()));
            }
        }
    }

    /** Default output names are the producing layers' names; repeats get "_2", "_3"... */
    private static List<String> namesOf(List<SymbolicTensor> outputs) {
        List<String> names = new ArrayList<>();
        Map<String, Integer> count = new LinkedHashMap<>();
        for (SymbolicTensor o : outputs) {
            String base = o.name();
            int c = count.merge(base, 1, Integer::sum);
            names.add(c == 1 || o.hasExplicitName() ? base : base + "_" + c);
        }
        return names;
    }

    private void checkUniqueNames() {
        Set<String> seen = new HashSet<>();
        for (Input in : inputs) {
            if (!seen.add(in.name())) throw new IllegalArgumentException("FunctionalModel: two inputs are named '" + in.name() + "'");
        }
        Set<String> outs = new HashSet<>();
        for (String n : outputNames) {
            if (!outs.add(n)) throw new IllegalArgumentException("FunctionalModel: two outputs are named '" + n + "'");
        }
    }

    // ------------------------------------------------------------------ structure

    public List<Input> inputs() {
        return inputs;
    }

    public List<SymbolicTensor> outputs() {
        return outputs;
    }

    /** The shape of the one input; a model with several inputs has none, which is refused with their shapes. */
    @Override
    public long[] exampleInputShape() {
        if (inputs.size() != 1) {
            List<String> shapes = new ArrayList<>();
            for (Input in : inputs) shapes.add(java.util.Arrays.toString(in.shape()));
            throw new IllegalStateException("FunctionalModel: the model has " + inputs.size() + " inputs " + shapes
                    + ", not one");
        }
        return inputs.get(0).shape().clone();
    }

    /** Every layer application in execution order. */
    public List<LayerNode> nodes() {
        return Collections.unmodifiableList(order);
    }

    /** Each distinct layer once (a shared layer appears once), in order of first application. */
    @Override
    public List<Layer> layers() {
        return Collections.unmodifiableList(layers);
    }

    @Override
    protected int outputCount() {
        return outputs.size();
    }

    @Override
    protected int inputCount() {
        return inputs.size();
    }

    @Override
    protected List<String> outputNames() {
        return outputNames;
    }

    @Override
    protected Layer outputLayer(int i) {
        return foldableOutputLayers[i];
    }

    /** The dtype parameters are created in (F32 by default; F64 for gradient checks); before the model is built. */
    public FunctionalModel dtype(DType d) {
        if (built) throw new IllegalStateException("FunctionalModel.dtype: the model is already built");
        if (!d.isFloating()) throw new IllegalArgumentException("FunctionalModel.dtype: " + d + " is not a floating dtype");
        dtype = d;
        return this;
    }

    // ------------------------------------------------------------------ build and run

    /**
     * Creates every layer's parameters for the inputs' declared shapes. With no arguments it uses those
     * shapes; a shape given (single-input models only) must equal the declared one.
     */
    @Override
    public void build(long... inputShape) {
        if (inputShape.length > 0) {
            if (inputs.size() != 1 || !Arrays.equals(inputShape, inputs.get(0).shape())) {
                throw new ShapeException("FunctionalModel.build: the inputs are declared as "
                        + SymbolicTensor.describe(List.copyOf(inputs)) + "; got shape " + Arrays.toString(inputShape));
            }
        }
        if (built) return;
        SplittableRandom rng = initRandom();
        for (LayerNode n : order) {
            Layer l = n.layer();
            if (l instanceof Merge || l.isBuilt()) continue;
            try {
                l.build(n.inputs().get(0).shape(), dtype, rng.split());
            } catch (ShapeException e) {
                throw new ShapeException("FunctionalModel: building " + l.name() + " on " + SymbolicTensor.describe(n.inputs())
                        + ": " + e.getMessage(), e);
            }
        }
        built = true;
        placeOnDevice(); // parameters are created on the CPU, then moved to the model's device
    }

    /** Moves the model to {@code device}; see {@link Model#to}. */
    @Override
    public FunctionalModel to(dev.soma.tensor.Device device) {
        super.to(device);
        return this;
    }

    @Override
    protected void ensureBuilt(List<Tensor> batchInputs) {
        if (!built) build();
    }

    @Override
    protected Tensor forward(Tensor x, boolean training, boolean withoutFinalActivation) {
        if (outputs.size() != 1) {
            throw new IllegalStateException("FunctionalModel: the model has " + outputs.size() + " outputs " + outputNames
                    + "; call it with call(List<Tensor>)");
        }
        return forwardAll(List.of(x), training, new boolean[] {withoutFinalActivation}).get(0);
    }

    @Override
    protected List<Tensor> forwardAll(List<Tensor> batchInputs, boolean training, boolean[] withoutFinalActivation) {
        checkBatchInputs(batchInputs);
        Tensor[] values = new Tensor[slots.size()];
        Tensor[] masks = new Tensor[slots.size()];  // Keras masks ([batch, steps]) flow along the edges, as in Sequential
        for (int i = 0; i < inputs.size(); i++) values[i] = batchInputs.get(i);
        // Outputs whose final activation the loss folds in are computed without it (nothing else reads them).
        Map<Integer, Integer> foldedSlots = new LinkedHashMap<>();
        for (int i = 0; i < outputs.size(); i++) {
            if (withoutFinalActivation[i] && foldableOutputLayers[i] instanceof FoldableActivation) {
                foldedSlots.put(outputSlots[i], i);
            }
        }
        boolean[] done = new boolean[order.size()];
        for (int k = 0; k < order.size(); k++) {
            if (done[k]) continue;
            LayerNode node = order.get(k);
            int[] in = nodeInputSlots[k];
            Tensor y;
            Tensor mask = null;
            int pool = pooledBy[k];
            if (pool >= 0 && node.layer() instanceof Conv2D conv && order.get(pool).layer() instanceof MaxPooling2D p
                    && conv.fusesWithMaxPool(p, values[in[0]])) {
                // Conv2D(relu) and the MaxPooling2D that alone reads it, as one op (ops.ConvolutionPooling): the
                // convolution's output is never a tensor. Neither layer passes a mask on.
                values[nodeOutputSlots[pool][0]] = conv.applyWithMaxPool(values[in[0]], p, training);
                done[pool] = true;
                continue;
            }
            if (node.layer() instanceof Merge m) {
                List<Tensor> args = new ArrayList<>(in.length);
                for (int s : in) args.add(values[s]);
                y = m.apply(args, training);
                mask = mergedMask(in, masks);
            } else if (foldedSlots.containsKey(nodeOutputSlots[k][0])) {
                y = ((FoldableActivation) node.layer()).callWithoutActivation(values[in[0]], training);
            } else if (nodeOutputSlots[k].length > 1) {
                // Several outputs (an RNN's output and final states): the mask goes with the first only, as Keras.
                List<Tensor> ys = node.layer().applyAll(values[in[0]], masks[in[0]], training);
                if (ys.size() != nodeOutputSlots[k].length) {
                    throw new IllegalStateException("FunctionalModel: " + node.layer().name() + " was applied with "
                            + nodeOutputSlots[k].length + " outputs but now returns " + ys.size()
                            + " (was returnState changed after the graph was written?)");
                }
                for (int j = 1; j < ys.size(); j++) values[nodeOutputSlots[k][j]] = ys.get(j);
                y = ys.get(0);
                mask = node.layer().computeMask(values[in[0]], masks[in[0]]);
            } else {
                y = node.layer().apply(values[in[0]], masks[in[0]], training);
                mask = node.layer().computeMask(values[in[0]], masks[in[0]]);
            }
            values[nodeOutputSlots[k][0]] = y;
            masks[nodeOutputSlots[k][0]] = mask;
        }
        List<Tensor> out = new ArrayList<>(outputs.size());
        for (int s : outputSlots) out.add(values[s]);
        return out;
    }

    /**
     * The mask of a merge's output, as Keras for inputs over the same steps: a step is real where it is real in
     * every input that has a mask; null when no input has one, or when the masks cover different steps (a
     * concatenation along time).
     */
    private static Tensor mergedMask(int[] in, Tensor[] masks) {
        Tensor merged = null;
        for (int s : in) {
            if (masks[s] == null) continue;
            if (merged != null && !java.util.Arrays.equals(merged.shape(), masks[s].shape())) return null;
            merged = merged == null ? masks[s] : merged.mul(masks[s]);
        }
        return merged;
    }

    private void checkBatchInputs(List<Tensor> batchInputs) {
        if (batchInputs.size() != inputs.size()) {
            throw new IllegalArgumentException("FunctionalModel: the model takes " + inputs.size() + " input(s) ("
                    + SymbolicTensor.describe(List.copyOf(inputs)) + "), got " + batchInputs.size());
        }
        long batch = -1;
        for (int i = 0; i < inputs.size(); i++) {
            Tensor t = batchInputs.get(i);
            Input in = inputs.get(i);
            t.checkOpen("FunctionalModel input '" + in.name() + "'");
            long[] s = t.shape();
            if (s.length == 0 || !Arrays.equals(Arrays.copyOfRange(s, 1, s.length), in.shape())) {
                throw new ShapeException("FunctionalModel: input '" + in.name() + "' expects shape [batch, "
                        + Arrays.toString(in.shape()).replaceAll("[\\[\\]]", "") + "], got " + t.describe());
            }
            if (batch >= 0 && s[0] != batch) {
                throw new ShapeException("FunctionalModel: inputs differ in batch size: input '" + inputs.get(0).name()
                        + "' has " + batch + ", input '" + in.name() + "' has " + s[0]);
            }
            batch = s[0];
        }
    }

    // ------------------------------------------------------------------ summary and checkpoints

    /** Keras' table for functional models: layer (type), output shape, parameter count, connected to. Builds the model. */
    public String summary() {
        build();
        StringBuilder b = new StringBuilder();
        int width = 98;
        b.append("Model: \"functional\"\n").append("_".repeat(width)).append('\n');
        b.append(String.format("%-30s %-20s %10s   %s%n", "Layer (type)", "Output Shape", "Param #", "Connected to"));
        b.append("=".repeat(width)).append('\n');
        for (Input in : inputs) {
            b.append(String.format("%-30s %-20s %10d   %s%n", in.name() + " (InputLayer)", shapeText(in.shape()), 0, "-"));
        }
        Map<Layer, List<LayerNode>> nodesOf = new IdentityHashMap<>();
        for (LayerNode n : order) nodesOf.computeIfAbsent(n.layer(), k -> new ArrayList<>()).add(n);
        for (Layer l : layers) {
            List<LayerNode> ns = nodesOf.get(l);
            List<String> links = new ArrayList<>();
            for (LayerNode n : ns) for (SymbolicTensor t : n.inputs()) links.add(reference(t, nodesOf));
            b.append(String.format("%-30s %-20s %10d   %s%n", l.name() + " (" + l.getClass().getSimpleName() + ")",
                    shapesText(ns.get(0).outputs()), l.paramCount(), links.get(0)));
            for (int k = 1; k < links.size(); k++) b.append(String.format("%-30s %-20s %10s   %s%n", "", "", "", links.get(k)));
        }
        b.append("=".repeat(width)).append('\n');
        long total = 0;
        long trainable = 0;
        for (Layer l : layers) {
            total += l.paramCount();
            for (var p : l.params()) if (p.trainable()) trainable += p.value().numel();
        }
        b.append(String.format("Total params: %d%nTrainable params: %d%nNon-trainable params: %d%n", total, trainable,
                total - trainable));
        return b.toString();
    }

    /** Keras' "layer[node][tensor]" reference to a symbolic tensor, or the input's name. */
    private static String reference(SymbolicTensor t, Map<Layer, List<LayerNode>> nodesOf) {
        if (t.producer() == null) return t.name() + "[0][0]";
        Layer l = t.producer().layer();
        return l.name() + "[" + nodesOf.get(l).indexOf(t.producer()) + "][" + t.outputIndex() + "]";
    }

    /** One output's shape, or Keras' list of them for a layer with several. */
    private static String shapesText(List<SymbolicTensor> outs) {
        if (outs.size() == 1) return shapeText(outs.get(0).shape());
        List<String> parts = new ArrayList<>();
        for (SymbolicTensor o : outs) parts.add(shapeText(o.shape()));
        return "[" + String.join(", ", parts) + "]";
    }

    private static String shapeText(long[] s) {
        return "(None" + (s.length == 0 ? "" : ", " + Arrays.toString(s).replaceAll("[\\[\\]]", "")) + ")";
    }

    /** Reads a checkpoint of a functional model written by {@link #save}; the caller closes the model. */
    public static FunctionalModel load(java.nio.file.Path file) throws java.io.IOException {
        Model m = Checkpoint.loadModel(file);
        if (m instanceof FunctionalModel f) return f;
        m.close();
        throw new dev.soma.errors.SomaException("checkpoint " + file + ": holds a " + m.getClass().getSimpleName()
                + ", not a functional model; load it with Checkpoint.loadModel");
    }

    @Override
    long[] outputShapeFor(long[] inputShape) {
        if (!Arrays.equals(inputShape, inputs.get(0).shape())) {
            throw new ShapeException("FunctionalModel: input '" + inputs.get(0).name() + "' is declared as "
                    + Arrays.toString(inputs.get(0).shape()) + ", not " + Arrays.toString(inputShape));
        }
        return outputs.get(0).shape();
    }
}
