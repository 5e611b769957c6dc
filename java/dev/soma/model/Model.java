package dev.soma.model;

import dev.soma.autograd.GradMode;
import dev.soma.backend.Backends;
import dev.soma.data.ArrayDataset;
import dev.soma.data.Batch;
import dev.soma.data.BatchPrefetcher;
import dev.soma.data.StagedBatch;
import dev.soma.data.DataLoader;
import dev.soma.data.Dataset;
import dev.soma.memory.FailureCleanup;
import dev.soma.memory.Scope;
import dev.soma.nn.Layer;
import dev.soma.nn.Param;
import dev.soma.optim.Optimizer;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The Keras-like training API shared by {@link Sequential} and other models: compile, fit, evaluate,
 * predict. Each training step runs in its own {@link Scope}, so every tensor of the step is freed when it
 * ends; parameters and optimizer state belong to the model and are freed by {@link #close()}.
 *
 * <p>A model lives on one device ({@link #to(Device)}; the CPU by default): its parameters, the layers' other
 * state (BatchNormalization's moving statistics are non-trainable parameters) and the optimizer's state are
 * there, each batch is copied there from the data loader's host arrays, and a step reads its loss, per-output
 * losses and the outputs its metrics need back to the host in one transfer.
 */
public abstract class Model implements AutoCloseable {
    private Optimizer optimizer;
    private CompiledLoss compiled;
    private volatile boolean stopTraining;
    long seed = 42;
    protected DType dtype = DType.F32;
    private Device device = Device.cpu();
    private dev.soma.backend.ThreadTuner threadTuner;
    /** Epochs trained so far (restored from checkpoints, so a resumed fit knows where it is). */
    int completedEpochs;
    /** Every epoch's logs since training began (restored from checkpoints). */
    History history = new History();
    /**
     * Copies of the weights (one per param, kept outside any scope) that an EarlyStopping restoring the best weights
     * took at epoch {@link #bestWeightsEpoch}; held here so checkpoints carry them and a resumed fit can still restore
     * them. Null when there are none.
     */
    List<Tensor> bestWeights;
    int bestWeightsEpoch = -1;
    /** The DP accountant's state after the last private epoch (saved in checkpoints), or null. */
    dev.soma.privacy.PrivateStep.AccountantState privacyState;
    private NestedModel asLayer;

    /** The layers in forward order. */
    public abstract List<Layer> layers();

    /** Builds every layer for a per-example input shape (no batch dimension). */
    public abstract void build(long... inputShape);

    /**
     * The per-example shape (no batch axis) of the model's one input, or null while it is unknown (a Sequential not
     * built yet). A model with several inputs has no single one: see {@code FunctionalModel}.
     */
    public long[] exampleInputShape() {
        List<Layer> ls = layers();
        long[] in = ls.isEmpty() ? null : ls.get(0).inputShape();
        return in == null ? null : in.clone();
    }

    /** The forward pass; with {@code withoutFinalActivation}, the last layer's activation is left out. */
    protected abstract Tensor forward(Tensor x, boolean training, boolean withoutFinalActivation);

    /**
     * The model's output for a batch (inference mode), on the model's device: an input elsewhere is copied there
     * first (the copy, like every tensor of the forward pass, belongs to the current scope).
     */
    public Tensor call(Tensor x) {
        ensureBuilt(List.of(x));
        // A failure frees the input's copy and every intermediate (outside a scope nothing else would).
        return FailureCleanup.run(() -> forward(onDevice(x), false, false));
    }

    /** The model's outputs for a batch of every input (inference mode); inputs are copied to the model's device. */
    public List<Tensor> call(List<Tensor> inputs) {
        ensureBuilt(inputs);
        return FailureCleanup.run(() -> {
            List<Tensor> xs = new ArrayList<>(inputs.size());
            for (Tensor x : inputs) xs.add(onDevice(x));
            return forwardAll(xs, false, new boolean[outputCount()]);
        });
    }

    // ------------------------------------------------------------------ device

    /** The device the model's parameters live on and its steps run on (the CPU until {@link #to} moves it). */
    public Device device() {
        return device;
    }

    /**
     * Moves the model to {@code target} and returns it: every parameter (trainable or not, so BatchNormalization's
     * moving statistics too) and the compiled optimizer's state, in place (the tensors stay the same objects, so
     * layers and optimizer keep their references). Parameters created later (the model builds on first use) are
     * created there too. From then on {@link #fit}, {@link #evaluate}, {@link #predict} and {@link #call} run on
     * {@code target}. Throws {@link dev.soma.errors.DeviceException} with the reason when the device is not usable.
     */
    public Model to(Device target) {
        Backends.get(target); // a device that is not usable fails here, with the probe's reason
        this.device = target;
        placeOnDevice();
        return this;
    }

    /** Moves every parameter and optimizer state tensor that is not on the model's device there (after a build). */
    protected final void placeOnDevice() {
        List<Tensor> values = new ArrayList<>();
        for (Param p : params()) values.add(p.value());
        for (Tensor v : values) if (!v.device().equals(device)) v.moveTo(device);
        if (optimizer != null) {
            for (Tensor t : optimizer.stateTensors(values).values()) if (!t.device().equals(device)) t.moveTo(device);
        }
        if (bestWeights != null) for (Tensor t : bestWeights) if (!t.device().equals(device)) t.moveTo(device);
    }

    /** Replaces the kept best weights (see {@link #bestWeights}); the model owns and frees {@code copies}. */
    void keepBestWeights(int epoch, List<Tensor> copies) {
        dropBestWeights();
        bestWeights = copies;
        bestWeightsEpoch = epoch;
    }

    void dropBestWeights() {
        if (bestWeights != null) for (Tensor t : bestWeights) t.close();
        bestWeights = null;
        bestWeightsEpoch = -1;
    }

    /** {@code x} when it is on the model's device, otherwise a copy there (in the current scope). */
    private Tensor onDevice(Tensor x) {
        return x.device().equals(device) ? x : x.to(device);
    }

    private List<Tensor> onDevice(List<Tensor> xs) {
        List<Tensor> out = new ArrayList<>(xs.size());
        for (Tensor x : xs) out.add(onDevice(x));
        return out;
    }

    // ------------------------------------------------------------------ several inputs and outputs

    /** How many outputs the model has; models with several override this and the three methods below. */
    protected int outputCount() {
        return 1;
    }

    /** How many inputs the model takes; models with several override this. */
    protected int inputCount() {
        return 1;
    }

    /** Output names for per-output logs ("out_1_loss"); unused with one output. */
    protected List<String> outputNames() {
        return List.of("output");
    }

    /** The layer that produces output {@code i}, whose final activation a loss may fold in; null for none. */
    protected Layer outputLayer(int i) {
        return layers().isEmpty() ? null : layers().get(layers().size() - 1);
    }

    /** The forward pass from every input to every output; the default is the one-input, one-output form. */
    protected List<Tensor> forwardAll(List<Tensor> inputs, boolean training, boolean[] withoutFinalActivation) {
        if (inputs.size() != 1) {
            throw new IllegalArgumentException(getClass().getSimpleName() + ": the model takes 1 input, got " + inputs.size());
        }
        return List.of(forward(inputs.get(0), training, withoutFinalActivation[0]));
    }

    /** Builds the model on first use from a batch of its inputs. */
    protected void ensureBuilt(List<Tensor> inputs) {
        if (layers().isEmpty() || layers().get(0).isBuilt()) return;
        long[] s = inputs.get(0).shape();
        build(java.util.Arrays.copyOfRange(s, 1, s.length));
    }

    /**
     * The forward pass for custom training loops (the GAN trainer): training mode (dropout on, batch statistics),
     * recorded for autograd, building the model on first use. With {@code logits}, a final activation that a loss
     * can fold (see {@link dev.soma.nn.FoldableActivation}) is left out; {@link #finalActivation()} says which.
     */
    public Tensor forwardTraining(Tensor x, boolean logits) {
        ensureBuilt(List.of(x));
        return forward(onDevice(x), true, logits);
    }

    /** The name of the last layer's foldable activation ("sigmoid", "softmax", "linear"...), or null when none. */
    public String finalActivation() {
        Layer last = layers().isEmpty() ? null : layers().get(layers().size() - 1);
        return last instanceof dev.soma.nn.FoldableActivation f ? f.activationName() : null;
    }

    /** The sum of every layer's regularisation penalty (a recorded 0-d tensor), or null when there is none. */
    public Tensor regularizationLoss() {
        Tensor total = null;
        for (Layer l : layers()) {
            Tensor reg = l.regularizationLoss();
            if (reg != null) total = total == null ? reg : total.add(reg);
        }
        return total;
    }

    /** Seeds weight initialisation (before build) and shuffling defaults. */
    public Model seed(long seed) {
        this.seed = seed;
        return this;
    }

    protected SplittableRandom initRandom() {
        return new SplittableRandom(seed);
    }

    // ------------------------------------------------------------------ compile

    public Model compile(Optimizer optimizer, String loss, String... metricNames) {
        return compile(optimizer, Loss.byName(loss), metricNames);
    }

    /** One loss for every output, each metric on every output. */
    public Model compile(Optimizer optimizer, Loss loss, String... metricNames) {
        return compile(optimizer, java.util.Collections.nCopies(outputCount(), loss), null, metricNames);
    }

    /** One loss per output, weighted in the total ({@code lossWeights} null: all 1); each metric on every output. */
    public Model compile(Optimizer optimizer, List<Loss> losses, List<Double> lossWeights, String... metricNames) {
        return compile(optimizer, losses, lossWeights, java.util.Collections.nCopies(outputCount(), List.of(metricNames)));
    }

    /** One loss, weight and list of metric names per output. */
    public Model compile(Optimizer optimizer, List<Loss> losses, List<Double> lossWeights,
                         List<List<String>> metricsPerOutput) {
        this.compiled = new CompiledLoss(losses, lossWeights, metricsPerOutput, outputNames(), this::outputLayer);
        this.optimizer = optimizer;
        placeOnDevice(); // an optimizer that already holds state follows the model
        return this;
    }

    public Optimizer optimizer() {
        return optimizer;
    }

    /** The loss (the first output's, with several outputs); null before compile. */
    public Loss loss() {
        return compiled == null ? null : compiled.loss(0);
    }

    /** One loss per output; empty before compile. */
    public List<Loss> losses() {
        return compiled == null ? List.of() : compiled.losses();
    }

    /** One weight per output; empty before compile. */
    public List<Double> lossWeights() {
        return compiled == null ? List.of() : compiled.weights();
    }

    /** Every metric, output by output (named "out_1_accuracy" with several outputs). */
    public List<Metric> metrics() {
        return compiled == null ? List.of() : compiled.metrics();
    }

    /** The metric names given to compile, per output; empty before compile. */
    List<List<String>> compiledMetricNames() {
        return compiled == null ? List.of() : compiled.metricNames();
    }

    /** Every parameter, layer by layer. */
    public List<Param> params() {
        List<Param> out = new ArrayList<>();
        for (Layer l : layers()) out.addAll(l.params());
        return out;
    }

    /** Every parameter's value, trainable or not, in order. */
    public List<Tensor> parameterTensors() {
        List<Tensor> out = new ArrayList<>();
        for (Param p : params()) out.add(p.value());
        return out;
    }

    public List<Tensor> trainableTensors() {
        List<Tensor> out = new ArrayList<>();
        for (Param p : params()) if (p.trainable()) out.add(p.value());
        return out;
    }

    public long paramCount() {
        long n = 0;
        for (Layer l : layers()) n += l.paramCount();
        return n;
    }

    // ------------------------------------------------------------------ nesting, saving and weights

    /**
     * This model as a layer of another model (Keras calls a model like a layer): the same weights, shared with
     * this model and every other use of the returned layer (always the same object). One input and one output.
     */
    public Layer asLayer() {
        if (asLayer == null) asLayer = new NestedModel(this);
        return asLayer;
    }

    /** The per-example output shape for a per-example input shape (for use as a layer); validates the input. */
    long[] outputShapeFor(long[] inputShape) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " cannot be used as a layer yet: only "
                + "Sequential and FunctionalModel can");
    }

    /**
     * Writes the whole model to one safetensors file (architecture, weights, compile arguments, optimizer state,
     * random-stream state, epochs and history); {@link Checkpoint#loadModel} reads it back.
     */
    public void save(java.nio.file.Path file) throws java.io.IOException {
        Checkpoint.save(this, file);
    }

    /**
     * Writes only the weights to a safetensors file, each named "&lt;layer&gt;/&lt;weight&gt;" with the layer's
     * model-local name ("dense_2/kernel"); {@link #loadWeights} reads them into any model of the same structure.
     */
    public void saveWeights(java.nio.file.Path file) throws java.io.IOException {
        WeightFiles.save(this, file);
    }

    /** Loads weights written by {@link #saveWeights}: every weight of the model must be in the file and vice versa. */
    public void loadWeights(java.nio.file.Path file) throws java.io.IOException {
        WeightFiles.load(this, file, false);
    }

    /**
     * As {@link #loadWeights(java.nio.file.Path)}; with {@code skipMissing}, weights of the model that the file
     * lacks keep their values and weights of the file the model lacks are ignored (shapes and dtypes must still
     * match). Returns the names of the model's weights that were left unchanged.
     */
    public List<String> loadWeights(java.nio.file.Path file, boolean skipMissing) throws java.io.IOException {
        return WeightFiles.load(this, file, skipMissing);
    }

    /** How many epochs this model has been trained (by fit, or in the run a checkpoint was loaded from). */
    public int completedEpochs() {
        return completedEpochs;
    }

    /** Every epoch's logs since training began, including those of the run a checkpoint was loaded from. */
    public History history() {
        return history;
    }

    /** Asks a running {@code fit} to stop after the current epoch (EarlyStopping does this). */
    public void stopTraining() {
        stopTraining = true;
    }

    // ------------------------------------------------------------------ training

    /**
     * One optimisation step on a batch, on the model's device (the batch's host arrays are copied there); returns
     * the loss value. Metrics are updated. The loss, per-output losses and the outputs the metrics read come back to
     * the host in one transfer; the metrics take their targets from the batch's host arrays.
     */
    public double trainStep(Batch batch) {
        return trainStep(batch, null, null);
    }

    /** {@link #trainStep(Batch)} on tensors uploaded ahead when {@code staged} has them (fit's prefetching). */
    private double trainStep(Batch batch, StagedBatch staged, TrainingPerturbation perturbation) {
        requireCompiled("trainStep");
        try (Scope step = Scope.open()) {
            boolean ahead = staged != null && staged.isStaged();
            List<Tensor> xs = ahead ? staged.features() : batch.featureTensors(device);
            List<Tensor> ys = ahead ? staged.targets() : batch.targetTensors(device);
            // fit's adversarial training or noise: the step trains on the perturbed input.
            if (perturbation != null) xs = List.of(perturbation.perturb(this, xs.get(0), ys.get(0)));
            return train(xs, ys, batch.targetArrays(), batch.size(), null, 1);
        }
    }

    /** {@link #trainStep(List, List)} for a model with one input and one output. */
    public double trainStep(Tensor x, Tensor y) {
        return trainStep(List.of(x), List.of(y));
    }

    /**
     * One optimisation step on tensors the caller already holds, as Keras' {@code train_on_batch}: inputs and
     * targets (one per model output; int32 class labels for sparse losses) on the model's {@link #device()} are used
     * in place, with no host copy; tensors elsewhere are copied there for this step. Returns the loss; the metrics
     * are updated, reading back only the loss, the outputs and targets they need, in one transfer. The caller keeps
     * owning {@code inputs} and {@code targets}; everything the step makes is freed before it returns.
     */
    public double trainStep(List<Tensor> inputs, List<Tensor> targets) {
        requireCompiled("trainStep");
        int batch = checkStepTensors("trainStep", inputs, targets);
        try (Scope step = Scope.open()) {
            return train(onDevice(inputs), onDevice(targets), null, batch, null, 1);
        }
    }

    /** The step itself, inside the caller's scope; {@code hostTargets} null: the metrics read {@code ys}. */
    private double train(List<Tensor> xs, List<Tensor> ys, List<Batch.HostArray> hostTargets, int batchSize,
                         dev.soma.distributed.GradientBuckets buckets, double share) {
        if (!device.isCpu()) return trainOnDevice(xs, ys, hostTargets, batchSize, buckets, share);
        // On the CPU the step runs on the thread count its tuner measured fastest (busy cores: fewer threads).
        if (threadTuner == null) threadTuner = new dev.soma.backend.ThreadTuner();
        return threadTuner.run(batchSize, () -> trainOnDevice(xs, ys, hostTargets, batchSize, buckets, share));
    }

    private double trainOnDevice(List<Tensor> xs, List<Tensor> ys, List<Batch.HostArray> hostTargets, int batchSize,
                                 dev.soma.distributed.GradientBuckets buckets, double share) {
        ensureBuilt(xs);
        List<Tensor> outs = forwardAll(xs, true, compiled.folds());
        CompiledLoss.Value value = compiled.compute(outs, ys);
        Tensor lossValue = value.total();
        Tensor reg = regularizationLoss();
        Tensor total = reg == null ? lossValue : lossValue.add(reg);
        List<Tensor> trainable = trainableTensors();
        for (Tensor p : trainable) p.zeroGrad();
        if (buckets == null) total.backward();
        else buckets.backward(total, share); // data-parallel: the global batch's gradient on every rank
        optimizer.step(trainable);
        dev.soma.nn.Constraint.applyAll(params()); // projected weights (e.g. Dale's signs) after every step
        try (GradMode.Guard g = GradMode.disable()) {
            return hostTargets != null ? compiled.record(outs, hostTargets, value, batchSize)
                    : compiled.record(outs, value, ys, batchSize);
        }
    }

    /**
     * One DP-SGD step on the examples {@code sample} of {@code data}: {@link dev.soma.privacy.PrivateStep} leaves the
     * clipped, noised gradient in the parameters' grads; a regularization loss (data-independent, so no privacy cost)
     * adds its gradient unclipped. Returns the sample's mean loss, measured (with the metrics) before the update:
     * from the training forwards on the ghost-norm path (one per physical batch), in inference mode on the general
     * path; 0 for an empty sample.
     */
    private double privateTrainStep(Dataset data, int[] sample, dev.soma.privacy.PrivateStep dp) {
        try (Scope build = Scope.open()) {
            ensureBuilt(data.gather(new int[] {0}).featureTensors(device));
        }
        double[] lossSum = {0};
        int[] recorded = {0}; // examples of the sample whose loss and metrics are recorded, a prefix of it
        // The ghost-norm path runs one training forward per physical batch of the sample: their outputs give the
        // logged loss and metrics, as an ordinary step's do. The general path's forwards are per example, so the
        // sample gets an inference forward of its own first.
        if (!dp.takesGhostPath(device)) recordInference(data, sample, 0, lossSum, recorded);
        List<Tensor> trainable = trainableTensors();
        // A ghost attempt that gives up (at a fit's first step with examples: the model decides it) has run a training
        // forward of its first part. Its effects are undone before the per-example path, so that the step, and what
        // it logs, do not depend on which step the attempt fell on (a resumed fit attempts again): the layers' random
        // streams (dropout) are put back, and the part's loss and metrics, logged from that training forward, are
        // dropped; the whole sample is then logged from an inference forward, as on every later step.
        List<Map<String, Long>> streams = new ArrayList<>();
        if (dp.takesGhostPath(device)) for (Layer l : layers()) streams.add(l.randomState());
        Runnable rewind = () -> {
            for (int i = 0; i < streams.size(); i++) {
                if (!streams.get(i).isEmpty()) layers().get(i).restoreRandomState(streams.get(i));
            }
            if (compiled.recordedExamples() != recorded[0]) { // earlier steps of the epoch logged examples too
                throw new IllegalStateException("fit (DP-SGD): the ghost-norm path gave up after " + compiled.recordedExamples()
                        + " examples of the epoch were logged, " + recorded[0] + " of them by this step");
            }
            compiled.reset();
            lossSum[0] = 0;
            recorded[0] = 0;
        };
        dp.computeGradients(data, sample, trainable, device, (xs, ys) -> {
            List<Tensor> outs = forwardAll(xs, true, compiled.folds());
            CompiledLoss.Value value = compiled.compute(outs, ys);
            if (dp.takesGhostPath(device) && recorded[0] < sample.length) { // a ghost forward of the next part
                int n = Math.toIntExact(xs.get(0).size(0));
                try (GradMode.Guard g = GradMode.disable()) {
                    lossSum[0] += compiled.record(outs, value, ys, n) * n;
                }
                recorded[0] += n;
            }
            return value.total();
        }, rewind);
        // The ghost path gave up (the model has layers it cannot see): the sample is logged as the general path's are.
        recordInference(data, sample, recorded[0], lossSum, recorded);
        try (Scope s = Scope.open()) {
            Tensor reg = regularizationLoss();
            if (reg != null) reg.backward();
            optimizer.step(trainable);
        }
        dev.soma.nn.Constraint.applyAll(params());
        return sample.length == 0 ? 0 : lossSum[0] / sample.length;
    }

    /** Records the loss and metrics of {@code sample[from..]} from an inference forward, for the DP-SGD step's logs. */
    private void recordInference(Dataset data, int[] sample, int from, double[] lossSum, int[] recorded) {
        if (from >= sample.length) return;
        try (GradMode.Guard g = GradMode.disable(); Scope s = Scope.open()) {
            Batch batch = data.gather(java.util.Arrays.copyOfRange(sample, from, sample.length));
            List<Tensor> ys = batch.targetTensors(device);
            List<Tensor> outs = forwardAll(batch.featureTensors(device), false, compiled.folds());
            lossSum[0] += compiled.record(outs, batch.targetArrays(), compiled.compute(outs, ys), batch.size()) * batch.size();
        }
        recorded[0] = sample.length;
    }

    /**
     * The compiled loss of one batch (one input, one output), recorded for autograd so that attacks can take its
     * gradient with respect to {@code x}; {@code x} and {@code y} must be on the model's device (no copy, which would
     * cut the gradient). {@code training} false: inference mode (no dropout, batch norm's running statistics).
     */
    public Tensor compiledLoss(Tensor x, Tensor y, boolean training) {
        requireCompiled("compiledLoss");
        if (outputCount() != 1) {
            throw new UnsupportedOperationException("compiledLoss: only models with one input and one output, this one has "
                    + outputCount() + " outputs " + outputNames());
        }
        checkStepTensors("compiledLoss", List.of(x), List.of(y));
        ensureBuilt(List.of(x));
        List<Tensor> outs = forwardAll(List.of(x), training, compiled.folds());
        return compiled.compute(outs, List.of(y)).total();
    }

    /** {@link #testStep(List, List)} for a model with one input and one output. */
    public double testStep(Tensor x, Tensor y) {
        return testStep(List.of(x), List.of(y));
    }

    /**
     * The loss of a batch in inference mode, as Keras' {@code test_on_batch}: tensors on the model's device are used
     * in place (others are copied there for this step), no gradient is recorded and the weights do not change. The
     * metrics are updated (they accumulate over calls until {@link #resetMetrics()}); {@link #metricResults()} reads
     * them.
     */
    public double testStep(List<Tensor> inputs, List<Tensor> targets) {
        requireCompiled("evaluate");
        int batch = checkStepTensors("testStep", inputs, targets);
        try (GradMode.Guard g = GradMode.disable(); Scope step = Scope.open()) {
            List<Tensor> xs = onDevice(inputs);
            ensureBuilt(xs);
            List<Tensor> outs = forwardAll(xs, false, compiled.folds());
            List<Tensor> ys = onDevice(targets);
            CompiledLoss.Value value = compiled.compute(outs, ys);
            return compiled.record(outs, value, ys, batch);
        }
    }

    /** Starts the metrics (and per-output mean losses) over, as every epoch of {@code fit} does. */
    public void resetMetrics() {
        requireCompiled("evaluate");
        compiled.reset();
    }

    /** Each metric's value over the steps since the last reset ({@code "accuracy" -> 0.93}); empty without metrics. */
    public Map<String, Double> metricResults() {
        requireCompiled("evaluate");
        Map<String, Double> out = new java.util.LinkedHashMap<>();
        for (dev.soma.model.Metric m : compiled.metrics()) out.put(m.name(), m.result());
        return out;
    }

    /** Checks a step's tensors (open, one batch size, one per input and output) and returns the batch size. */
    private int checkStepTensors(String op, List<Tensor> inputs, List<Tensor> targets) {
        if (inputs == null || inputs.isEmpty()) throw new IllegalArgumentException(op + ": no input tensors given");
        if (targets == null) throw new IllegalArgumentException(op + ": the targets are null");
        if (targets.size() != outputCount()) {
            throw new IllegalArgumentException(op + ": the model has " + outputCount() + " output(s) " + outputNames()
                    + " but " + targets.size() + " target tensor(s) were given");
        }
        long batch = -1;
        List<Tensor> all = new ArrayList<>(inputs);
        all.addAll(targets);
        for (int i = 0; i < all.size(); i++) {
            Tensor t = all.get(i);
            String what = i < inputs.size() ? "input " + i : "target " + (i - inputs.size());
            if (t == null) throw new IllegalArgumentException(op + ": " + what + " is null");
            t.checkOpen(op + " " + what);
            if (t.ndim() == 0) throw new dev.soma.errors.ShapeException(op + ": " + what + " " + t.describe() + " has no batch axis");
            if (batch >= 0 && t.size(0) != batch) {
                throw new dev.soma.errors.ShapeException(op + ": " + what + " " + t.describe() + " has batch size "
                        + t.size(0) + ", input 0 has " + batch);
            }
            batch = t.size(0);
        }
        return Math.toIntExact(batch);
    }

    public History fit(Dataset train, FitOptions options) {
        requireCompiled("fit");
        if (options.perturbation != null && (outputCount() != 1 || inputCount() != 1)) {
            throw new UnsupportedOperationException("fit: adversarial training and input noise support models with one "
                    + "input and one output only; this one has " + inputCount() + " input(s) and " + outputCount()
                    + " output(s)" + (outputCount() > 1 ? " " + outputNames() : ""));
        }
        if (options.perturbation != null && options.privacy != null) {
            throw new UnsupportedOperationException("fit: adversarial training or input noise cannot be combined with "
                    + "DP-SGD (FitOptions.privacy) yet");
        }
        Dataset trainData = train;
        Dataset validation = options.validationData;
        if (options.validationSplit > 0) {
            int held = (int) Math.round(train.size() * options.validationSplit);
            if (held <= 0 || held >= train.size()) {
                throw new IllegalArgumentException("fit: validationSplit " + options.validationSplit + " of "
                        + train.size() + " examples leaves no training or no validation data");
            }
            trainData = train.range(0, train.size() - held);
            validation = train.range(train.size() - held, train.size());
        }
        checkPrecision("fit", options.precision);
        if (options.weightAverageDecay >= 0 && options.resumeFrom != null) {
            throw new UnsupportedOperationException("fit: resumeFrom cannot be combined with weightAverage yet: a "
                    + "checkpoint holds the averaged weights, not the live iterate and the average, so the run could "
                    + "not continue as an unbroken one");
        }
        DataLoader loader = new DataLoader(trainData, options.batchSize, options.shuffle, options.seed);
        int initialEpoch = options.initialEpoch;
        if (options.resumeFrom != null) {
            try {
                initialEpoch = Checkpoint.restore(this, options.resumeFrom);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException("fit: cannot resume from " + options.resumeFrom, e);
            }
        }
        // A resumed run (it starts where the model's history ends) continues that history; another starts afresh.
        boolean continues = initialEpoch > 0 && initialEpoch == completedEpochs && history.epochs() == completedEpochs;
        this.history = continues ? history.copy() : new History();
        History history = this.history;
        dev.soma.distributed.Mpi mpi = options.dataParallel ? dev.soma.distributed.Mpi.world() : null;
        int ranks = mpi == null ? 1 : mpi.size();
        if (options.privacy != null && options.syncBatchNorm) {
            throw new UnsupportedOperationException("fit: syncBatchNorm(true) cannot be combined with DP-SGD "
                    + "(FitOptions.privacy): a privately trained model has no batch statistics to synchronise (DP-SGD "
                    + "refuses layers that normalise with them, as Opacus does)");
        }
        // Poisson sampling takes each example with probability batch / N, which must not exceed 1.
        if (options.privacy != null && (long) options.batchSize * ranks > trainData.size()) {
            throw new IllegalArgumentException("fit with DP-SGD (FitOptions.privacy): batchSize " + options.batchSize
                    + (ranks > 1 ? " x " + ranks + " ranks = " + (long) options.batchSize * ranks : "") + " is more than the "
                    + trainData.size() + " training examples" + (options.validationSplit > 0 ? " (after validationSplit)" : "")
                    + ": Poisson sampling takes each example with probability batch / examples, at most 1");
        }
        // DP-SGD: Poisson-sampled steps whose gradients PrivateStep clips and noises (null: ordinary training).
        // A resumed run continues the accountant a checkpoint kept; without one, its epochs are re-accounted.
        // Data-parallel, the batch size is per rank: the ranks share one sample of the global expected size.
        dev.soma.privacy.PrivateStep dp = options.privacy == null ? null : new dev.soma.privacy.PrivateStep(
                options.privacy, trainData.size(), options.batchSize * ranks, options.seed, initialEpoch,
                initialEpoch > 0 ? privacyState : null).physicalBatch(options.privacyPhysicalBatch).dataParallel(mpi);
        if (initialEpoch == 0 || options.privacy == null) privacyState = null;
        dev.soma.distributed.DistributedSampler sampler = mpi == null || dp != null ? null
                : new dev.soma.distributed.DistributedSampler(trainData.size(), options.batchSize, mpi.size(),
                        options.shuffle, options.seed);
        // Only rank 0 prints progress (the logs it prints are the ranks' averages).
        TrainingLog log = new TrainingLog(dev.soma.distributed.Mpi.writesOutputs() ? options.verbose : 0, options.epochs,
                dp != null ? dp.stepsPerEpoch() : sampler != null ? sampler.batchesPerEpoch() : loader.batchesPerEpoch());
        dev.soma.distributed.GradientBuckets buckets = null;
        lastBucketStatistics = null;
        if (mpi != null) {
            try (Scope build = Scope.open()) {
                ensureBuilt(trainData.gather(new int[] {0}).featureTensors(device));
            }
            dev.soma.distributed.ParameterAgreement.require(mpi, parameterTensors(), "fit");
            broadcastParams(mpi, false);
            // (DP-SGD all-reduces its clipped sums itself: its backward passes are per example or ghost ones.)
            if (dp == null) buckets = dev.soma.distributed.GradientBuckets.configured(mpi, trainableTensors());
        }
        if (options.syncBatchNorm && !options.dataParallel) {
            throw new IllegalArgumentException("fit: syncBatchNorm(true) synchronises batch statistics over the ranks of "
                    + "data-parallel training; it needs dataParallel(true)");
        }
        dev.soma.distributed.SyncBatchNorm syncBn = null;
        if (mpi != null && options.syncBatchNorm) {
            try {
                dev.soma.distributed.SyncBatchNorm.requireExamplesOnEveryRank("fit", "step", sampler, mpi.size(),
                        trainData.size(), options.batchSize);
            } catch (IllegalArgumentException e) {
                if (buckets != null) buckets.close();
                throw e;
            }
            syncBn = dev.soma.distributed.SyncBatchNorm.activate(mpi);
        }
        try (dev.soma.backend.MixedPrecision.Scope precision = dev.soma.backend.MixedPrecision.use(options.precision)) {
            fitEpochs(options, trainData, validation, loader, initialEpoch, history, dp, log, mpi, sampler, buckets);
        } finally {
            if (weightAverage != null) weightAverage.close();
            weightAverage = null;
            if (syncBn != null) syncBn.close();
            if (buckets != null) {
                lastBucketStatistics = buckets.statistics();
                buckets.close();
            }
        }
        return history;
    }

    /**
     * Refuses a mixed precision this model cannot train in, before any data moves: bf16 needs a float32 model on
     * the CPU (oneDNN's bf16 kernels; the CUDA backend has none yet) whose CPU has bf16 dot-product instructions.
     */
    void checkPrecision(String op, dev.soma.tensor.Precision precision) {
        if (precision != dev.soma.tensor.Precision.BF16) return;
        if (!device.isCpu()) {
            throw new UnsupportedOperationException(op + ": bf16 mixed precision runs on the CPU only (oneDNN's bf16 "
                    + "kernels); this model is on " + device + ", where Soma has no bf16 kernels yet: train in f32 there");
        }
        if (dtype != DType.F32) {
            throw new IllegalArgumentException(op + ": bf16 mixed precision needs a float32 model (its master weights "
                    + "stay float32); this model's dtype is " + dtype);
        }
        for (Param p : params()) {
            if (p.value().dtype() != DType.F32) {
                throw new IllegalArgumentException(op + ": bf16 mixed precision needs float32 parameters; "
                        + p.name() + " is " + p.value().dtype());
            }
        }
        String why = dev.soma.backend.MixedPrecision.bf16UnsupportedReason();
        if (why != null) throw new UnsupportedOperationException(op + ": bf16 mixed precision is " + why);
    }

    /**
     * What the last fit's gradient buckets measured (steps, backward and wait times); null before, and after a fit
     * that had none (not data-parallel, or DP-SGD, which all-reduces its clipped sums instead).
     */
    public String lastDataParallelStatistics() {
        return lastBucketStatistics;
    }

    private String lastBucketStatistics;

    /** Every parameter (trainable or, with {@code onlyState}, only the non-trainable ones) takes rank 0's values. */
    private void broadcastParams(dev.soma.distributed.Mpi mpi, boolean onlyState) {
        for (Param p : params()) {
            if (onlyState && p.trainable()) continue;
            mpi.broadcast(p.value(), 0);
        }
    }

    /** Sums {@code logs} weighted by {@code seen} over the ranks and divides by the total: the ranks' mean logs. */
    private static Map<String, Double> averageOverRanks(dev.soma.distributed.Mpi mpi, Map<String, Double> logs, long seen) {
        double[] v = new double[logs.size() + 1];
        int i = 0;
        for (double x : logs.values()) v[i++] = seen == 0 ? 0 : x * seen;
        v[i] = seen;
        mpi.allreduceSum(v);
        Map<String, Double> out = new java.util.LinkedHashMap<>();
        i = 0;
        for (String k : logs.keySet()) out.put(k, v[i++] / Math.max(v[v.length - 1], 1));
        return out;
    }

    private void fitEpochs(FitOptions options, Dataset trainData, Dataset validation, DataLoader loader, int initialEpoch,
                           History history, dev.soma.privacy.PrivateStep dp, TrainingLog log,
                           dev.soma.distributed.Mpi mpi, dev.soma.distributed.DistributedSampler sampler,
                           dev.soma.distributed.GradientBuckets buckets) {
        stopTraining = false;
        for (Callback c : options.callbacks) c.onTrainBegin(this);

        for (int epoch = initialEpoch; epoch < options.epochs && !stopTraining; epoch++) {
            if (weightAverage != null) weightAverage.swapOut(); // train on from the live iterate
            for (Callback c : options.callbacks) c.onEpochBegin(this, epoch);
            compiled.reset();
            log.epochBegin(epoch);
            double lossSum = 0;
            long seen = 0;
            int b = 0;
            // Data-parallel, batch logs are averaged over the ranks (a small all-reduce) only when something reads
            // them; the condition must be the same on every rank, so it reads the options, not this rank's verbosity.
            boolean batchLogsRead = mpi == null || options.verbose == 1 || !options.callbacks.isEmpty();
            if (dp != null) {
                for (; b < dp.stepsPerEpoch(); b++) {
                    int[] sample = dp.sampler().sample(epoch, b);
                    if (mpi != null) sample = dev.soma.distributed.DistributedSampler.part(sample, mpi.rank(), mpi.size());
                    double l = privateTrainStep(trainData, sample, dp);
                    averageWeights(options);
                    lossSum += l * sample.length;
                    seen += sample.length;
                    if (batchLogsRead) {
                        Map<String, Double> batchLogs = currentLogs(lossSum / Math.max(seen, 1));
                        if (mpi != null) batchLogs = averageOverRanks(mpi, batchLogs, seen);
                        batchLogs.put("epsilon", dp.epsilon());
                        log.batchEnd(b, batchLogs);
                        for (Callback c : options.callbacks) c.onBatchEnd(this, b, batchLogs);
                    }
                }
            } else if (mpi != null) {
                int[] order = sampler.order(epoch);
                for (; b < sampler.batchesPerEpoch(); b++) {
                    int[] idx = sampler.batch(order, b, mpi.rank());
                    if (options.perturbation != null) options.perturbation.startStep(epoch, b, mpi.rank());
                    double l = dataParallelStep(trainData, idx, sampler.share(b, mpi.rank()), buckets,
                            options.perturbation);
                    averageWeights(options);
                    lossSum += l * idx.length;
                    seen += idx.length;
                    if (batchLogsRead) {
                        Map<String, Double> batchLogs = averageOverRanks(mpi, currentLogs(lossSum / Math.max(seen, 1)), seen);
                        log.batchEnd(b, batchLogs);
                        for (Callback c : options.callbacks) c.onBatchEnd(this, b, batchLogs);
                    }
                }
            } else
            // On a GPU the next batch is uploaded (copy stream) while the current step computes.
            try (BatchPrefetcher it = new BatchPrefetcher(loader.epoch(epoch), device)) {
                while (it.hasNext()) {
                    double l;
                    Batch batch;
                    try (StagedBatch staged = it.next()) {
                        batch = staged.batch();
                        if (options.perturbation != null) options.perturbation.startStep(epoch, b, 0);
                        l = trainStep(batch, staged, options.perturbation);
                    }
                    averageWeights(options);
                    lossSum += l * batch.size();
                    seen += batch.size();
                    Map<String, Double> batchLogs = currentLogs(lossSum / seen);
                    log.batchEnd(b, batchLogs);
                    for (Callback c : options.callbacks) c.onBatchEnd(this, b, batchLogs);
                    b++;
                }
            }
            Map<String, Double> logs = mpi == null ? currentLogs(lossSum / Math.max(seen, 1))
                    : averageOverRanks(mpi, currentLogs(lossSum / Math.max(seen, 1)), seen);
            if (mpi != null) {
                // Layer state that is not trained (BatchNormalization's moving statistics) follows rank 0, so every
                // rank validates and checkpoints the same model.
                broadcastParams(mpi, true);
            }
            if (dp != null) {
                logs.put("epsilon", dp.epsilon());
                privacyState = dp.accountantState(); // before the callbacks, so a checkpoint saved now holds it
            }
            // Validation, the epoch-end callbacks (checkpoints) and, after the last epoch, fit's caller see the average.
            if (weightAverage != null) weightAverage.swapIn();
            if (validation != null) {
                Map<String, Double> val = evaluate(validation, options.batchSize);
                val.forEach((k, v) -> logs.put("val_" + k, v));
            }
            history.record(logs);
            completedEpochs = epoch + 1;
            log.epochEnd(epoch, logs);
            for (Callback c : options.callbacks) c.onEpochEnd(this, epoch, logs);
        }
        for (Callback c : options.callbacks) c.onTrainEnd(this);
    }

    /**
     * One data-parallel step on this rank's examples {@code idx} of a global batch (none: zero gradients), with the
     * gradient averaged over the ranks by {@code buckets}; every rank then takes the same optimizer step.
     */
    private double dataParallelStep(Dataset data, int[] idx, double share, dev.soma.distributed.GradientBuckets buckets,
                                    TrainingPerturbation perturbation) {
        if (idx.length == 0) {
            List<Tensor> trainable = trainableTensors();
            for (Tensor p : trainable) p.zeroGrad();
            try (Scope step = Scope.open()) {
                buckets.backward(null, 0);
                optimizer.step(trainable);
            }
            dev.soma.nn.Constraint.applyAll(params());
            return 0;
        }
        dev.soma.distributed.SyncBatchNorm syncBn = dev.soma.distributed.SyncBatchNorm.active();
        if (syncBn != null) syncBn.share(share);
        Batch batch = data.gather(idx);
        try (Scope step = Scope.open()) {
            List<Tensor> xs = batch.featureTensors(device);
            List<Tensor> ys = batch.targetTensors(device);
            if (perturbation != null) xs = List.of(perturbation.perturb(this, xs.get(0), ys.get(0)));
            return train(xs, ys, batch.targetArrays(), batch.size(), buckets, share);
        }
    }

    /** The running weight average of the fit in progress (FitOptions.weightAverage), made at its first step. */
    private WeightAverage weightAverage;

    private void averageWeights(FitOptions options) {
        if (options.weightAverageDecay < 0) return;
        if (weightAverage == null) weightAverage = new WeightAverage(options.weightAverageDecay, params());
        weightAverage.update();
    }

    /** Keras' positional form: {@code fit(x, y, batchSize, epochs, validationData)}. */
    public History fit(ArrayDataset train, int batchSize, int epochs, Dataset validationData) {
        return fit(train, new FitOptions().batchSize(batchSize).epochs(epochs).validationData(validationData));
    }

    private Map<String, Double> currentLogs(double meanLoss) {
        return compiled.logs(meanLoss);
    }

    /** Loss and metrics over a dataset, in inference mode. */
    public Map<String, Double> evaluate(Dataset data, int batchSize) {
        requireCompiled("evaluate");
        compiled.reset();
        DataLoader loader = new DataLoader(data, batchSize, false, 0);
        double lossSum = 0;
        long seen = 0;
        try (GradMode.Guard g = GradMode.disable()) {
            Iterator<Batch> it = loader.epoch(0);
            while (it.hasNext()) {
                Batch batch = it.next();
                try (Scope s = Scope.open()) {
                    List<Tensor> xs = batch.featureTensors(device);
                    List<Tensor> ys = batch.targetTensors(device);
                    ensureBuilt(xs);
                    List<Tensor> outs = forwardAll(xs, false, compiled.folds());
                    CompiledLoss.Value value = compiled.compute(outs, ys);
                    lossSum += compiled.record(outs, batch.targetArrays(), value, batch.size()) * batch.size();
                    seen += batch.size();
                }
            }
        }
        return compiled.logs(lossSum / Math.max(seen, 1));
    }

    /**
     * The model's outputs for every example, batch by batch, in inference mode. Ownership: the result is a CPU tensor
     * that belongs to the caller and to no scope (it is kept, so it outlives any open {@link Scope}); close it when
     * done, e.g. {@code try (Tensor p = model.predict(data, 64)) {...}}. {@link #predict(Dataset, int, Scope)} puts
     * it in a scope instead.
     */
    public Tensor predict(Dataset data, int batchSize) {
        requireOneOutput();
        return predictAll(data, batchSize).get(0);
    }

    /**
     * {@link #predict(Dataset, int)} whose result belongs to {@code scope}, which must be this thread's innermost
     * open scope: it is freed when the scope closes, like every other tensor made in it.
     */
    public Tensor predict(Dataset data, int batchSize, Scope scope) {
        requireOneOutput();
        return predictAll(data, batchSize, scope).get(0);
    }

    private void requireOneOutput() {
        if (outputCount() != 1) {
            throw new IllegalStateException("predict: the model has " + outputCount() + " outputs " + outputNames()
                    + "; use predictAll");
        }
    }

    /** One tensor per output, each over every example: CPU tensors the caller owns (kept; close each when done). */
    public List<Tensor> predictAll(Dataset data, int batchSize) {
        return predictAll(data, batchSize, null);
    }

    /**
     * One tensor per output, each over every example, owned by {@code scope} (this thread's innermost open scope),
     * or kept for the caller when {@code scope} is null.
     */
    public List<Tensor> predictAll(Dataset data, int batchSize, Scope scope) {
        if (scope != null && Scope.current() != scope) {
            throw new IllegalArgumentException("predict: the scope given must be this thread's innermost open scope "
                    + "(the result is made in it); open it just around the call, or pass none to own the result");
        }
        DataLoader loader = new DataLoader(data, batchSize, false, 0);
        int n = outputCount();
        List<List<float[]>> parts = new ArrayList<>();
        for (int i = 0; i < n; i++) parts.add(new ArrayList<>());
        long[][] outShapes = new long[n][];
        long rows = 0;
        try (GradMode.Guard g = GradMode.disable()) {
            Iterator<Batch> it = loader.epoch(0);
            while (it.hasNext()) {
                Batch batch = it.next();
                try (Scope s = Scope.open()) {
                    List<Tensor> xs = batch.featureTensors(device);
                    ensureBuilt(xs);
                    List<Tensor> outs = forwardAll(xs, false, new boolean[n]);
                    for (int i = 0; i < n; i++) {
                        Tensor out = outs.get(i);
                        Tensor f = out.dtype() == DType.F32 ? out : out.to(DType.F32);
                        parts.get(i).add(f.toFloatArray());
                        outShapes[i] = out.shape();
                    }
                    rows += outShapes[0][0];
                }
            }
        }
        List<Tensor> result = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            Tensor t = joinRows(parts.get(i), outShapes[i], rows);
            result.add(scope == null ? t.keep() : t);
        }
        return result;
    }

    private static Tensor joinRows(List<float[]> parts, long[] outShape, long rows) {
        int per = (int) (dev.soma.ops.Shapes.numel(outShape) / outShape[0]);
        float[] all = new float[(int) (rows * per)];
        int at = 0;
        for (float[] p : parts) {
            System.arraycopy(p, 0, all, at, p.length);
            at += p.length;
        }
        long[] shape = outShape.clone();
        shape[0] = rows;
        return Tensor.of(all, shape); // in the current scope: the caller keeps it or leaves it there
    }

    private void requireCompiled(String what) {
        if (optimizer == null && !what.equals("evaluate")) {
            throw new IllegalStateException(what + ": call compile(optimizer, loss, metrics) first");
        }
        if (compiled == null) throw new IllegalStateException(what + ": call compile(optimizer, loss, metrics) first");
    }

    /** Frees every parameter and the optimizer's state. */
    @Override
    public void close() {
        dropBestWeights();
        for (Layer l : layers()) l.close();
        if (optimizer != null) optimizer.close();
    }
}
