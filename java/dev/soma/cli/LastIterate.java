package dev.soma.cli;

import dev.soma.memory.Scope;
import dev.soma.model.Callback;
import dev.soma.model.Model;
import dev.soma.nn.Param;
import dev.soma.nn.Weights;
import dev.soma.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * With --ema, fit returns the averaged weights; this keeps a host copy of the live weights after every step of the
 * last epoch so that train can also report the last iterate's test accuracy (what the average bought).
 */
final class LastIterate implements Callback {
    private final int lastEpoch;
    private int epoch = -1;
    private List<float[]> values;

    LastIterate(int epochs) {
        this.lastEpoch = epochs - 1;
    }

    @Override
    public void onEpochBegin(Model model, int epoch) {
        this.epoch = epoch;
    }

    @Override
    public void onBatchEnd(Model model, int batch, Map<String, Double> logs) {
        if (epoch != lastEpoch) return;
        List<float[]> copy = new ArrayList<>();
        for (Param p : model.params()) copy.add(p.value().toFloatArray());
        values = copy;
    }

    /** Whether a last-epoch step was seen. */
    boolean kept() {
        return values != null;
    }

    /** Puts the kept live weights into {@code model} (the same architecture as the one trained). */
    void restore(Model model) {
        List<Param> params = model.params();
        for (int i = 0; i < params.size(); i++) {
            Tensor target = params.get(i).value();
            try (Scope s = Scope.open()) {
                Weights.assign("last iterate: " + params.get(i).name(), target, Tensor.of(values.get(i), target.shape()));
            }
        }
    }
}
