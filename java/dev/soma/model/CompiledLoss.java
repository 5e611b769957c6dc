package dev.soma.model;

import dev.soma.data.Batch;
import dev.soma.errors.ShapeException;
import dev.soma.nn.FoldableActivation;
import dev.soma.nn.Layer;
import dev.soma.ops.Shapes;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;

/**
 * What {@code compile} sets up, per model output: the loss, its weight, whether the output layer's final
 * softmax/sigmoid is folded into the loss, and the metrics. With one output, logs read "loss", "accuracy";
 * with several they add Keras' per-output names: "out_1_loss", "out_1_accuracy" ("loss" is the weighted sum).
 */
final class CompiledLoss {
    /** The weighted total (recorded for autograd) and each output's unweighted loss. */
    record Value(Tensor total, List<Tensor> perOutput) {}

    private final List<Loss> losses;
    private final List<List<String>> metricNames;
    private final double[] weights;
    private final List<Loss> trainingLosses = new ArrayList<>();
    private final boolean[] fold;
    private final List<String> outputNames;
    private final List<Metric> metrics = new ArrayList<>();
    private final List<Integer> metricOutput = new ArrayList<>();
    private final double[] lossSums;
    private long seen;

    CompiledLoss(List<Loss> losses, List<Double> lossWeights, List<List<String>> metricsPerOutput,
                 List<String> outputNames, IntFunction<Layer> outputLayer) {
        int n = outputNames.size();
        if (losses == null || losses.size() != n) {
            throw new IllegalArgumentException("compile: the model has " + n + " output(s) " + outputNames + " but "
                    + (losses == null ? "no" : losses.size()) + " loss(es) were given");
        }
        if (lossWeights != null && lossWeights.size() != n) {
            throw new IllegalArgumentException("compile: the model has " + n + " output(s) " + outputNames + " but "
                    + lossWeights.size() + " loss weight(s) were given");
        }
        if (metricsPerOutput.size() != n) {
            throw new IllegalArgumentException("compile: the model has " + n + " output(s) " + outputNames + " but "
                    + metricsPerOutput.size() + " metric list(s) were given");
        }
        this.losses = List.copyOf(losses);
        List<List<String>> names = new ArrayList<>();
        for (List<String> m : metricsPerOutput) names.add(List.copyOf(m));
        this.metricNames = List.copyOf(names);
        this.outputNames = List.copyOf(outputNames);
        this.weights = new double[n];
        this.fold = new boolean[n];
        this.lossSums = new double[n];
        for (int i = 0; i < n; i++) {
            Loss loss = losses.get(i);
            if (loss == null) throw new IllegalArgumentException("compile: the loss for output " + outputNames.get(i) + " is null");
            double w = lossWeights == null ? 1.0 : lossWeights.get(i);
            if (!Double.isFinite(w) || w < 0) {
                throw new IllegalArgumentException("compile: loss weight " + w + " for output " + outputNames.get(i)
                        + " must be finite and >= 0");
            }
            weights[i] = w;
            Layer last = outputLayer.apply(i);
            fold[i] = loss.foldsActivation() != null && last instanceof FoldableActivation f
                    && loss.foldsActivation().equals(f.activationName());
            trainingLosses.add(fold[i] ? loss.fromLogits() : loss);
            for (String m : metricsPerOutput.get(i)) {
                Metric metric = Metric.byName(m, loss);
                metrics.add(n == 1 ? metric : new Prefixed(outputNames.get(i) + "_", metric));
                metricOutput.add(i);
            }
        }
    }

    /** The metric names compile was given, per output (for checkpoints). */
    List<List<String>> metricNames() {
        return metricNames;
    }

    Loss loss(int output) {
        return losses.get(output);
    }

    List<Loss> losses() {
        return losses;
    }

    List<Double> weights() {
        return Arrays.stream(weights).boxed().toList();
    }

    List<Metric> metrics() {
        return metrics;
    }

    /** Per output: does the model hand this loss logits instead of probabilities? */
    boolean[] folds() {
        return fold.clone();
    }

    Value compute(List<Tensor> outputs, List<Tensor> targets) {
        checkTargets(outputs, targets);
        List<Tensor> per = new ArrayList<>(outputs.size());
        for (int i = 0; i < outputs.size(); i++) per.add(trainingLosses.get(i).compute(outputs.get(i), targets.get(i)));
        if (per.size() == 1 && weights[0] == 1.0) return new Value(per.get(0), per);
        Tensor total = null;
        for (int i = 0; i < per.size(); i++) {
            Tensor term = weights[i] == 1.0 ? per.get(i) : per.get(i).mul(weights[i]);
            total = total == null ? term : total.add(term);
        }
        return new Value(total, per);
    }

    private void checkTargets(List<Tensor> outputs, List<Tensor> targets) {
        if (targets.size() != outputs.size()) {
            throw new ShapeException("the model has " + outputs.size() + " output(s) " + outputNames + " but the batch has "
                    + targets.size() + " target array(s)");
        }
    }

    /**
     * Reads the step's total loss, each output's loss (with several outputs) and the outputs the metrics need back
     * to the host in one transfer (wherever the model lives), then updates the metrics (on host copies of those
     * outputs, in their dtype, and the batch's host targets) and each output's running mean loss. Returns the total
     * loss. Call without gradients.
     */
    double record(List<Tensor> outputs, List<Batch.HostArray> targets, Value value, int batchSize) {
        return record(outputs, value, null, targets, batchSize);
    }

    /**
     * {@link #record(List, List, Value, int)} with the targets as tensors wherever they live: those on a device
     * join the one transfer (the ones the metrics read), CPU ones are read in place.
     */
    double record(List<Tensor> outputs, Value value, List<Tensor> targets, int batchSize) {
        return record(outputs, value, targets, null, batchSize);
    }

    private double record(List<Tensor> outputs, Value value, List<Tensor> targetTensors, List<Batch.HostArray> targets,
                          int batchSize) {
        int n = outputs.size();
        boolean[] needed = new boolean[n];
        for (int i : metricOutput) needed[i] = true;
        List<Tensor> pieces = new ArrayList<>();
        pieces.add(value.total());
        if (n > 1) pieces.addAll(value.perOutput());
        for (int i = 0; i < n; i++) if (needed[i]) pieces.add(outputs.get(i));
        boolean[] targetRead = new boolean[n];
        if (targetTensors != null) {
            for (int i = 0; i < n; i++) {
                targetRead[i] = needed[i] && !targetTensors.get(i).device().isCpu();
                if (targetRead[i]) pieces.add(targetTensors.get(i));
            }
        }
        double[] host = readAll(pieces);
        int at = 0;
        double total = host[at++];
        if (n > 1) {
            for (int i = 0; i < n; i++) lossSums[i] += host[at++] * batchSize;
        }
        Tensor[] predictions = new Tensor[n];
        for (int i = 0; i < n; i++) {
            if (!needed[i]) continue;
            Tensor out = outputs.get(i);
            int len = Math.toIntExact(out.numel());
            predictions[i] = hostCopy(host, at, len, out);
            at += len;
        }
        Tensor[] hostTargets = new Tensor[n];
        if (targetTensors != null) {
            for (int i = 0; i < n; i++) {
                if (!needed[i]) continue;
                Tensor t = targetTensors.get(i);
                if (!targetRead[i]) {
                    hostTargets[i] = t;
                    continue;
                }
                int len = Math.toIntExact(t.numel());
                hostTargets[i] = hostCopy(host, at, len, t);
                at += len;
            }
        }
        for (int k = 0; k < metrics.size(); k++) {
            int i = metricOutput.get(k);
            if (hostTargets[i] == null) hostTargets[i] = targets.get(i).tensor();
            metrics.get(k).update(predictions[i], hostTargets[i], fold[i]);
        }
        seen += batchSize;
        return total;
    }

    /** The values of every tensor, flattened and concatenated as float64, in one device-to-host copy. */
    static double[] readAll(List<Tensor> pieces) {
        if (pieces.size() == 1 && pieces.get(0).numel() == 1) return new double[] {pieces.get(0).item()};
        Tensor[] flat = new Tensor[pieces.size()];
        for (int i = 0; i < flat.length; i++) {
            Tensor p = pieces.get(i);
            flat[i] = (p.dtype() == DType.F64 ? p : p.to(DType.F64)).reshape(p.numel());
        }
        return (flat.length == 1 ? flat[0] : Shapes.concat(0, flat)).toDoubleArray();
    }

    /** A CPU tensor of {@code like}'s shape and dtype holding {@code host[from, from + len)} (in the current scope). */
    private static Tensor hostCopy(double[] host, int from, int len, Tensor like) {
        long[] shape = like.shape();
        if (shape.length == 0) shape = new long[] {1};
        if (like.dtype() == DType.F64) return Tensor.of(Arrays.copyOfRange(host, from, from + len), shape);
        float[] f = new float[len];
        for (int j = 0; j < len; j++) f[j] = (float) host[from + j];
        Tensor t = Tensor.of(f, shape);
        return like.dtype() == DType.F32 ? t : t.to(like.dtype());
    }

    /** Examples recorded since the last {@link #reset}. */
    long recordedExamples() {
        return seen;
    }

    void reset() {
        for (Metric m : metrics) m.reset();
        Arrays.fill(lossSums, 0);
        seen = 0;
    }

    Map<String, Double> logs(double meanLoss) {
        Map<String, Double> logs = new LinkedHashMap<>();
        logs.put("loss", meanLoss);
        if (outputNames.size() > 1) {
            for (int i = 0; i < lossSums.length; i++) logs.put(outputNames.get(i) + "_loss", lossSums[i] / Math.max(seen, 1));
        }
        for (Metric m : metrics) logs.put(m.name(), m.result());
        return logs;
    }

    /** A metric reported under an output's prefix. */
    private record Prefixed(String prefix, Metric inner) implements Metric {
        public String name() {
            return prefix + inner.name();
        }

        public void update(Tensor predictions, Tensor targets, boolean logits) {
            inner.update(predictions, targets, logits);
        }

        public double result() {
            return inner.result();
        }

        public void reset() {
            inner.reset();
        }
    }
}
