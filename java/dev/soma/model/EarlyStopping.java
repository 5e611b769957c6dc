package dev.soma.model;

import dev.soma.nn.Param;
import dev.soma.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Stops training when a monitored value has not improved by {@code minDelta} for {@code patience} epochs,
 * optionally restoring the best epoch's weights (kept as copies outside any scope, freed at the end).
 */
public final class EarlyStopping implements Callback {
    private final String monitor;
    private final int patience;
    private final double minDelta;
    private final boolean restoreBestWeights;
    private final boolean maximize;
    private double best;
    private int wait;
    private int bestEpoch = -1;
    private int stoppedEpoch = -1;
    private final List<Tensor> bestWeights = new ArrayList<>();

    public EarlyStopping(String monitor, int patience, double minDelta, boolean restoreBestWeights) {
        if (patience < 0) throw new IllegalArgumentException("EarlyStopping: patience must be >= 0, got " + patience);
        this.monitor = monitor;
        this.patience = patience;
        this.minDelta = Math.abs(minDelta);
        this.restoreBestWeights = restoreBestWeights;
        this.maximize = monitor.contains("acc");
    }

    public EarlyStopping(int patience) {
        this("val_loss", patience, 0, false);
    }

    @Override
    public void onTrainBegin(Model model) {
        best = maximize ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY;
        wait = 0;
        bestEpoch = -1;
        stoppedEpoch = -1;
        freeSnapshot();
    }

    @Override
    public void onEpochEnd(Model model, int epoch, Map<String, Double> logs) {
        Double value = logs.get(monitor);
        if (value == null) {
            throw new IllegalArgumentException("EarlyStopping: '" + monitor + "' is not logged; available: " + logs.keySet());
        }
        boolean improved = maximize ? value > best + minDelta : value < best - minDelta;
        if (improved) {
            best = value;
            bestEpoch = epoch;
            wait = 0;
            if (restoreBestWeights) snapshot(model);
        } else if (++wait > patience - 1 && epoch > 0) {
            stoppedEpoch = epoch;
            model.stopTraining();
        }
    }

    @Override
    public void onTrainEnd(Model model) {
        if (restoreBestWeights && stoppedEpoch >= 0 && !bestWeights.isEmpty()) {
            List<Param> params = model.params();
            for (int i = 0; i < params.size(); i++) {
                Tensor p = params.get(i).value();
                p.backend().memory().copy(bestWeights.get(i), p);
            }
        }
        freeSnapshot();
    }

    private void snapshot(Model model) {
        freeSnapshot();
        for (Param p : model.params()) {
            Tensor copy = Tensor.empty(p.value().dtype(), p.value().device(), p.value().shape()).keep();
            copy.backend().memory().copy(p.value(), copy);
            bestWeights.add(copy);
        }
    }

    private void freeSnapshot() {
        for (Tensor t : bestWeights) t.close();
        bestWeights.clear();
    }

    /** The epoch (0-based) at which training was stopped, or -1. */
    public int stoppedEpoch() {
        return stoppedEpoch;
    }

    public int bestEpoch() {
        return bestEpoch;
    }
}
