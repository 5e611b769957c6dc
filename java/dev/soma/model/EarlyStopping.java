package dev.soma.model;

import dev.soma.nn.Param;
import dev.soma.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Stops training when a monitored value has not improved by {@code minDelta} for {@code patience} epochs,
 * optionally restoring the best epoch's weights (kept as copies outside any scope by the model, freed at the end).
 *
 * <p>A resumed fit continues where the saved run was: the best value, its epoch and the wait counter are replayed
 * from the model's history (restored from the checkpoint, as {@link ModelCheckpoint} finds its best value), and the
 * best epoch's weights come with the checkpoint (it stores the model's kept copies). A saved run that this callback
 * stopped at its last epoch stays stopped: the resumed fit trains no further epoch (and goes back to the best
 * weights, as the unbroken run did).
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

    public EarlyStopping(String monitor, int patience, double minDelta, boolean restoreBestWeights) {
        if (patience < 0) throw new IllegalArgumentException("EarlyStopping: patience must be >= 0, got " + patience);
        if (monitor == null) throw new IllegalArgumentException("EarlyStopping: the monitored value's name is null");
        if (!Double.isFinite(minDelta)) { // NaN: no epoch would ever count as an improvement
            throw new IllegalArgumentException("EarlyStopping: minDelta must be finite, got " + minDelta);
        }
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
        // A fresh fit has an empty history; a resumed one replays the saved epochs as they were seen.
        List<Double> past = model.history().get(monitor);
        boolean stoppedThere = false; // the saved run's last epoch ended it: so does this run, before training
        for (int epoch = 0; epoch < past.size(); epoch++) {
            stoppedThere = !recordsBest(past.get(epoch), epoch) && patienceSpent(epoch);
        }
        if (!restoreBestWeights || bestEpoch < 0) {
            model.dropBestWeights();
        } else if (bestEpoch == past.size() - 1) {
            snapshot(model, bestEpoch);   // the best epoch is the last one: its weights are the model's now
        } else if (model.bestWeights == null || model.bestWeightsEpoch != bestEpoch) {
            throw new IllegalStateException("EarlyStopping: the resumed history's best '" + monitor + "' is at epoch "
                    + (bestEpoch + 1) + ", but the model holds no copy of that epoch's weights (the checkpoint has "
                    + (model.bestWeights == null ? "none" : "epoch " + (model.bestWeightsEpoch + 1) + "'s")
                    + "); resume from a checkpoint written while this EarlyStopping ran");
        }
        if (stoppedThere) {
            stoppedEpoch = past.size() - 1;
            model.stopTraining();
        }
    }

    private boolean improves(double value) {
        return maximize ? value > best + minDelta : value < best - minDelta;
    }

    /** An improvement becomes the best (its epoch, the wait back to 0); true when {@code value} was one. */
    private boolean recordsBest(double value, int epoch) {
        if (!improves(value)) return false;
        best = value;
        bestEpoch = epoch;
        wait = 0;
        return true;
    }

    /** Counts an epoch without improvement; true when the patience is then spent (training stops there). */
    private boolean patienceSpent(int epoch) {
        return ++wait > patience - 1 && epoch > 0;
    }

    @Override
    public void onEpochEnd(Model model, int epoch, Map<String, Double> logs) {
        Double value = logs.get(monitor);
        if (value == null) {
            throw new IllegalArgumentException("EarlyStopping: '" + monitor + "' is not logged; available: " + logs.keySet());
        }
        if (recordsBest(value, epoch)) {
            if (restoreBestWeights) snapshot(model, epoch);
        } else if (patienceSpent(epoch)) {
            stoppedEpoch = epoch;
            model.stopTraining();
        }
    }

    @Override
    public void onTrainEnd(Model model) {
        if (restoreBestWeights && stoppedEpoch >= 0 && model.bestWeights != null) {
            List<Param> params = model.params();
            for (int i = 0; i < params.size(); i++) {
                Tensor p = params.get(i).value();
                p.backend().memory().copy(model.bestWeights.get(i), p);
            }
        }
        model.dropBestWeights();
    }

    private static void snapshot(Model model, int epoch) {
        List<Tensor> copies = new ArrayList<>();
        for (Param p : model.params()) {
            Tensor copy = Tensor.empty(p.value().dtype(), p.value().device(), p.value().shape()).keep();
            copy.backend().memory().copy(p.value(), copy);
            copies.add(copy);
        }
        model.keepBestWeights(epoch, copies);
    }

    /** The epoch (0-based) at which training was stopped, or -1. */
    public int stoppedEpoch() {
        return stoppedEpoch;
    }

    public int bestEpoch() {
        return bestEpoch;
    }
}
